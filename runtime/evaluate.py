"""`edgeasr eval`: transcribe a manifest with one artifact and score it. The JSON it writes
is the contract later tools (bench, report, CI checks) read."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgeasr.runtime.audio import load_audio
from edgeasr.runtime.dataset import Clip
from edgeasr.runtime.metrics import error_rates, normalize, peak_rss_mb
from edgeasr.runtime.model import Model


def evaluate(model: Model, clips: list[Clip], language: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Transcribe every clip with an artifact and score it (see `score_transcriber`)."""

    def transcribe(audio: np.ndarray, lang: str | None) -> str:
        return model.transcribe(audio, language=lang)[0].text

    result = score_transcriber(transcribe, clips, language, progress)
    return {
        "artifact": str(model.artifact.path),
        "family": model.artifact.family,
        "profile": model.artifact.manifest.get("profile", {}).get("name"),
        **result,
        "artifact_mb": round(model.artifact.size_mb, 2),
        "backend": model.backend,
        "threads": model.threads,
    }


def score_transcriber(
    transcribe: Callable[[np.ndarray, str | None], str],
    clips: list[Clip],
    language: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run any transcriber over the clips (after one untimed warm-up clip) and score WER/CER
    and RTF, so edgeasr artifacts and peer engines are measured by the same code.

    RTF is wall seconds of transcription (audio decoding included) over audio seconds.
    """
    from tqdm import tqdm

    lang = language or clips[0].language or "en"
    transcribe(load_audio(clips[0].audio), language or clips[0].language)  # warm-up, not timed
    rows = []
    audio_s = wall_s = 0.0
    for clip in tqdm(clips, desc="eval", unit="clip", disable=None if progress else True):
        t0 = time.perf_counter()
        audio = load_audio(clip.audio)
        text = transcribe(audio, language or clip.language)
        dt = time.perf_counter() - t0
        seconds = len(audio) / 16000
        audio_s += seconds
        wall_s += dt
        rows.append(
            {
                "audio": str(clip.audio),
                "kind": clip.kind,
                "reference": clip.text,
                "hypothesis": text,
                "seconds": round(seconds, 3),
                "wall_seconds": round(dt, 4),
            }
        )
    refs = [normalize(r["reference"], lang) for r in rows]
    hyps = [normalize(r["hypothesis"], lang) for r in rows]
    scores = error_rates(refs, hyps)
    return {
        "wer": scores["wer"],
        "cer": scores["cer"],
        "hallucinated_words": sum(len(h.split()) for r, h in zip(refs, hyps) if not r),
        "rtf": wall_s / audio_s if audio_s else float("nan"),
        "audio_seconds": round(audio_s, 3),
        "wall_seconds": round(wall_s, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "machine": {"cpu": cpu_model(), "machine": platform.machine(), "python": platform.python_version()},
        "clips": rows,
    }


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (or the platform string elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
