"""The public API: `load_model(artifact_dir).transcribe(audio)`; used by the CLI, eval,
bench and the server alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeasr.runtime.artifact import Artifact, load_artifact
from edgeasr.runtime.audio import SAMPLE_RATE, load_audio
from edgeasr.runtime.backends import BACKENDS, default_threads
from edgeasr.runtime.errors import EdgeASRError
from edgeasr.runtime.families import family_runtime
from edgeasr.runtime.families.base import FamilyRuntime, Transcript

__all__ = ["Model", "Transcript", "load_model"]

AudioInput = np.ndarray | str | Path


class Model:
    """An artifact loaded with one backend; transcribes files or 16 kHz float32 arrays."""

    def __init__(self, artifact: Artifact, runtime: FamilyRuntime) -> None:
        self.artifact = artifact
        self.runtime = runtime

    @property
    def backend(self) -> str:
        return self.runtime.backend

    @property
    def threads(self) -> int:
        return self.runtime.threads

    def transcribe(
        self,
        audio: AudioInput | list[AudioInput],
        language: str | None = None,
        context: str | None = None,
        batch_size: int = 1,
        max_new_tokens: int | None = None,
        ignore_eos: bool = False,
    ) -> list[Transcript]:
        """Transcribe one or more clips; clips longer than the model's window are cut into
        windows and their texts joined. Returns one Transcript per input."""
        items = audio if isinstance(audio, list) else [audio]
        clips = [load_audio(a) if isinstance(a, (str, Path)) else np.asarray(a, np.float32) for a in items]
        window = int(self.runtime.max_seconds * SAMPLE_RATE)
        pieces: list[tuple[int, np.ndarray]] = []
        for i, clip in enumerate(clips):
            for start in range(0, max(len(clip), 1), window):
                pieces.append((i, clip[start : start + window]))
        results: list[list[Transcript]] = [[] for _ in clips]
        for b in range(0, len(pieces), max(1, batch_size)):
            chunk = pieces[b : b + batch_size]
            audible = [(i, a) for i, a in chunk if a.size and np.abs(a).max() > 0]
            for i, a in chunk:
                if not (a.size and np.abs(a).max() > 0):
                    results[i].append(Transcript(text="", language=language))
            if not audible:
                continue
            outs = self.runtime.transcribe_batch([a for _, a in audible], language, context, max_new_tokens, ignore_eos)
            for (i, _), t in zip(audible, outs):
                results[i].append(t)
        return [_join(parts) for parts in results]


def _join(parts: list[Transcript]) -> Transcript:
    if len(parts) == 1:
        return parts[0]
    timings: dict[str, float] = {}
    for p in parts:
        for k, v in p.timings.items():
            timings[k] = timings.get(k, 0.0) + v
    text = " ".join(p.text for p in parts if p.text)
    return Transcript(
        text=text,
        language=next((p.language for p in parts if p.language), None),
        tokens=[t for p in parts for t in p.tokens],
        timings=timings,
    )


def load_model(
    artifact: str | Path,
    backend: str | None = None,
    threads: int | None = None,
    precision: str | None = None,
    verify: bool = False,
) -> Model:
    """Load an artifact directory. `backend` defaults to the one it was built for; `precision`
    is OpenVINO's inference precision hint (f32, bf16, f16), defaulting to the artifact's."""
    art = load_artifact(artifact, verify_hashes=verify)
    backend = backend or art.backend
    if backend not in BACKENDS:
        raise EdgeASRError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "onnxruntime" and art.backend != "onnxruntime":
        raise EdgeASRError(f"{artifact}: an {art.backend} artifact cannot run on onnxruntime")
    precision = precision or art.manifest.get("runtime", {}).get("inference_precision")
    cls = family_runtime(art.family)
    return Model(art, cls(art, backend, threads or default_threads(), precision if backend == "openvino" else None))
