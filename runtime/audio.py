"""Audio loading: any file libsndfile reads (wav, flac, ogg, mp3), any rate and channel
count, returned as mono float32 at the model's sample rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeasr.runtime.errors import EdgeASRError

SAMPLE_RATE = 16000


def to_mono_16k(samples: np.ndarray, rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Average channels and resample with soxr (high quality), so the model sees 16 kHz mono."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float32)
    if x.ndim != 1:
        raise EdgeASRError(f"audio must be 1-D or 2-D (frames, channels), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise EdgeASRError("audio contains NaN or infinite samples")
    if rate != target_rate and x.size:
        import soxr

        x = soxr.resample(x, rate, target_rate, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(x)


def load_audio(path: str | Path, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a file and return mono float32 samples at `target_rate`; errors are one line."""
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise EdgeASRError(f"{p}: no such file")
    if p.is_dir():
        raise EdgeASRError(f"{p}: is a directory, not an audio file")
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EdgeASRError(f"{p}: cannot decode audio ({msg})") from None
    try:
        return to_mono_16k(data, rate, target_rate)
    except EdgeASRError as exc:
        raise EdgeASRError(f"{p}: {exc}") from None


def duration_seconds(path: str | Path) -> float:
    """Length of an audio file from its header, without decoding it."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise EdgeASRError(f"{path}: cannot read audio header ({exc})") from None
    return info.frames / float(info.samplerate)
