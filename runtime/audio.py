"""Audio loading: any file libsndfile reads (wav, flac, ogg/vorbis/opus, mp3), any rate and
channel count, 8/16/24/32-bit integer or float, decoded block by block, mixed to mono and
resampled to 16 kHz with soxr's streaming resampler. Long files can be kept as int16
(2 bytes a sample: an hour is 115 MB) instead of float32."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeasr.runtime.errors import EdgeASRError

SAMPLE_RATE = 16000
BLOCK_SECONDS = 10  # decoded at a time: bounds memory whatever the file's length


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


def _open(path: Path):
    import soundfile as sf

    if not path.exists():
        raise EdgeASRError(f"{path}: no such file")
    if path.is_dir():
        raise EdgeASRError(f"{path}: is a directory, not an audio file")
    try:
        return sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EdgeASRError(f"{path}: cannot decode audio ({msg})") from None


def load_audio(path: str | Path, target_rate: int = SAMPLE_RATE, dtype: type = np.float32) -> np.ndarray:
    """Decode a file to mono samples at `target_rate`, streaming: float32 in [-1, 1], or int16
    (full scale 32767) when `dtype` is np.int16. Errors are one line naming the file."""
    import soundfile as sf
    import soxr

    p = Path(path)
    with _open(p) as f:
        rate = f.samplerate
        expected = int(np.ceil(f.frames * target_rate / rate)) + 64 if f.frames > 0 else 0
        out = np.empty(expected, dtype=dtype)
        stream = (
            soxr.ResampleStream(rate, target_rate, 1, dtype="float32", quality="HQ") if rate != target_rate else None
        )
        n = 0
        try:
            while True:
                block = f.read(BLOCK_SECONDS * rate, dtype="float32", always_2d=True)
                last = len(block) < BLOCK_SECONDS * rate
                mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
                if not np.isfinite(mono).all():
                    raise EdgeASRError(f"{p}: audio contains NaN or infinite samples")
                if stream is not None:
                    mono = stream.resample_chunk(mono, last=last)
                if n + mono.size > out.size:  # a header that under-reported its length
                    out = np.concatenate([out[:n], np.empty(max(mono.size, out.size // 2), dtype=dtype)])
                out[n : n + mono.size] = _convert(mono, dtype)
                n += mono.size
                if last:
                    break
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise EdgeASRError(f"{p}: cannot decode audio ({str(exc).splitlines()[0]})") from None
    return out[:n]


def _convert(x: np.ndarray, dtype: type) -> np.ndarray:
    if dtype == np.int16:
        return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    return x


def as_float(x: np.ndarray) -> np.ndarray:
    """float32 view of samples that may be stored as int16."""
    if x.dtype == np.int16:
        return x.astype(np.float32) / 32767.0
    return np.asarray(x, dtype=np.float32)


def duration_seconds(path: str | Path) -> float:
    """Length of an audio file from its header, without decoding it."""
    with _open(Path(path)) as f:
        return f.frames / float(f.samplerate)
