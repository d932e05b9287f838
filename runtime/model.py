"""The public API: `load_model(artifact_dir).transcribe(audio)`; used by the CLI, eval,
bench and the server alike. Inputs longer than the model's window are cut at pauses found by
voice activity detection and transcribed in batches; input with no speech gives no text."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgeasr.runtime.artifact import Artifact, load_artifact
from edgeasr.runtime.audio import SAMPLE_RATE, as_float, duration_seconds, load_audio
from edgeasr.runtime.backends import BACKENDS, default_threads
from edgeasr.runtime.errors import EdgeASRError
from edgeasr.runtime.families import family_runtime
from edgeasr.runtime.families.base import FamilyRuntime, Segment, Transcript
from edgeasr.runtime.segment import Span, plan_chunks, speech_regions
from edgeasr.runtime.system import is_arm64
from edgeasr.runtime.vad import EnergyVAD, SileroVAD, load_vad

__all__ = ["Model", "Transcript", "load_model"]

AudioInput = np.ndarray | str | Path
LONG_SECONDS = 600  # files longer than this are decoded to int16, not float32 (half the memory)


class Model:
    """An artifact loaded with one backend; transcribes files or 16 kHz float32 arrays."""

    def __init__(self, artifact: Artifact, runtime: FamilyRuntime, max_seconds: float | None = None) -> None:
        self.artifact = artifact
        self.runtime = runtime
        self.max_seconds = min(max_seconds or runtime.max_seconds, runtime.max_seconds)
        self._vad: SileroVAD | EnergyVAD | None = None

    @property
    def backend(self) -> str:
        return self.runtime.backend

    @property
    def threads(self) -> int:
        return self.runtime.threads

    @property
    def vad(self) -> SileroVAD | EnergyVAD:
        if self._vad is None:
            self._vad = load_vad(self.artifact.path, self.backend)
        return self._vad

    def spans(self, audio: np.ndarray) -> list[Span]:
        """Where to cut `audio`: one span for a clip that fits the window (none if it holds no
        speech), chunks cut at pauses for a longer one."""
        n = audio.size
        if n == 0 or not np.any(audio):
            return []
        probs = self.vad.probabilities(audio)
        if n <= self.max_seconds * SAMPLE_RATE:
            return [Span(0, n)] if speech_regions(probs) or probs.size == 0 else []
        return plan_chunks(probs, n, self.max_seconds)

    def transcribe(
        self,
        audio: AudioInput | list[AudioInput],
        language: str | None = None,
        context: str | None = None,
        batch_size: int = 1,
        max_new_tokens: int | None = None,
        ignore_eos: bool = False,
    ) -> list[Transcript]:
        """Transcribe one or more inputs; returns one Transcript (with timed segments) per input."""
        items = audio if isinstance(audio, list) else [audio]
        clips = [_read(a) for a in items]
        pieces: list[tuple[int, Span]] = [(i, s) for i, clip in enumerate(clips) for s in self.spans(clip)]
        results: list[list[tuple[Span, Transcript]]] = [[] for _ in clips]
        for b in range(0, len(pieces), max(1, batch_size)):
            chunk = pieces[b : b + batch_size]
            arrays = [as_float(clips[i][s.start : s.end]) for i, s in chunk]
            outs = self.runtime.transcribe_batch(arrays, language, context, max_new_tokens, ignore_eos)
            for (i, s), t in zip(chunk, outs):
                results[i].append((s, t))
        return [_join(parts, clip.size / SAMPLE_RATE, language) for parts, clip in zip(results, clips)]


def _read(a: AudioInput) -> np.ndarray:
    if isinstance(a, (str, Path)):
        dtype = np.int16 if duration_seconds(a) > LONG_SECONDS else np.float32
        return load_audio(a, dtype=dtype)
    return np.asarray(a) if np.asarray(a).dtype == np.int16 else np.asarray(a, dtype=np.float32)


def _join(parts: list[tuple[Span, Transcript]], duration: float, language: str | None) -> Transcript:
    """One Transcript from the chunks of an input, in order."""
    timings: dict[str, float] = {}
    for _, p in parts:
        for k, v in p.timings.items():
            timings[k] = timings.get(k, 0.0) + v
    return Transcript(
        text=" ".join(p.text for _, p in parts if p.text),
        language=next((p.language for _, p in parts if p.language), language),
        tokens=[t for _, p in parts for t in p.tokens],
        timings=timings,
        segments=[Segment(s.start / SAMPLE_RATE, s.end / SAMPLE_RATE, p.text) for s, p in parts],
        duration=duration,
    )


ARM_OVERRIDE = "EDGEASR_ALLOW_ARM_UNVERIFIED"


def arm_unsupported(manifest: dict, backend: str) -> str | None:
    """Why an artifact must not run on aarch64, or None. OpenVINO's ARM CPU plugin turned NNCF
    static int8 graphs (FakeQuantize on activations) into garbage transcripts under `make
    arm-check`, on emulated Cortex-A72 and A76 alike (OpenVINO 2026.4.1), while the same artifact
    is accurate on x86 and every weight-only artifact matches x86 on ARM. Refusing beats
    transcribing wrongly; the ARM check keeps running it with the override to see when it is fixed."""
    graphs = manifest.get("profile", {}).get("graphs", {})
    static = sorted(g for g, r in graphs.items() if isinstance(r, dict) and r.get("method") == "nncf_static")
    if backend == "openvino" and static:
        return f"NNCF static int8 ({', '.join(static)}) gives wrong transcripts with OpenVINO on ARM"
    return None


def refused_here(manifest: dict, backend: str) -> str | None:
    """Why load_model refuses this artifact on this machine (see arm_unsupported), or None."""
    if not is_arm64() or os.environ.get(ARM_OVERRIDE) == "1":
        return None
    return arm_unsupported(manifest, backend)


def load_model(
    artifact: str | Path,
    backend: str | None = None,
    threads: int | None = None,
    precision: str | None = None,
    verify: bool = False,
    max_seconds: float | None = None,
) -> Model:
    """Load an artifact directory. `backend` defaults to the one it was built for; `precision`
    is OpenVINO's inference precision hint (f32, bf16, f16), defaulting to the artifact's;
    `max_seconds` caps the audio one model call sees (default: the model's window)."""
    art = load_artifact(artifact, verify_hashes=verify)
    backend = backend or art.backend
    if backend not in BACKENDS:
        raise EdgeASRError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "onnxruntime" and art.backend != "onnxruntime":
        raise EdgeASRError(f"{artifact}: an {art.backend} artifact cannot run on onnxruntime")
    reason = refused_here(art.manifest, backend)
    if reason:
        hint = f"use a weight-only or ONNX Runtime artifact ({ARM_OVERRIDE}=1 runs it anyway)"
        raise EdgeASRError(f"{artifact}: {reason}; {hint}")
    precision = precision or art.manifest.get("runtime", {}).get("inference_precision")
    cls = family_runtime(art.family)
    on_openvino = backend == "openvino" or "openvino" in art.backends  # a mixed profile's graph may be
    runtime = cls(art, backend, threads or default_threads(), precision if on_openvino else None)
    return Model(art, runtime, max_seconds)
