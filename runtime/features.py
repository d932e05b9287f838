"""Log-mel features in plain numpy, matching transformers' WhisperFeatureExtractor and
Qwen3ASRFeatureExtractor (both use Whisper's recipe: 25 ms Hann window, 10 ms hop,
Slaney mel scale, log10 with an 80 dB floor, then scaled to roughly [-1, 1])."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms window at 16 kHz
HOP_LENGTH = 160  # 10 ms hop: 100 frames per second


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    f_sp = 200.0 / 3
    mels = hz / f_sp
    min_log_hz, min_log_mel = 1000.0, 1000.0 / f_sp
    logstep = np.log(6.4) / 27.0  # 27 mel steps per factor 6.4 in frequency
    log_region = hz >= min_log_hz
    mels[log_region] = min_log_mel + np.log(hz[log_region] / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    f_sp = 200.0 / 3
    hz = mels * f_sp
    min_log_hz, min_log_mel = 1000.0, 1000.0 / f_sp
    logstep = np.log(6.4) / 27.0
    log_region = mels >= min_log_mel
    hz[log_region] = min_log_hz * np.exp(logstep * (mels[log_region] - min_log_mel))
    return hz


@lru_cache(maxsize=8)
def mel_filters(n_mels: int, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular Slaney-normalised filters, shape (n_fft // 2 + 1, n_mels), as librosa computes them."""
    fft_freqs = np.linspace(0, sample_rate // 2, n_fft // 2 + 1)
    mel_edges = np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([8000.0]))[0], n_mels + 2)
    edges = _mel_to_hz(mel_edges)
    widths = np.diff(edges)
    slopes = edges[None, :] - fft_freqs[:, None]
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    fb = np.maximum(0.0, np.minimum(down, up))
    fb *= 2.0 / (edges[2 : n_mels + 2] - edges[:n_mels])  # Slaney: equal area per filter
    return fb.astype(np.float32)


@lru_cache(maxsize=2)
def _hann(n_fft: int) -> np.ndarray:
    """Periodic Hann window (torch.hann_window's default)."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def log_mel(audio: np.ndarray, n_mels: int, pad_to_samples: int | None = None) -> np.ndarray:
    """Return (n_mels, frames) log-mel features for 16 kHz mono audio.

    `pad_to_samples` zero-pads the waveform first (Whisper pads every clip to 30 s = 480,000
    samples, giving 3,000 frames); frames = samples // HOP_LENGTH.
    """
    x = np.asarray(audio, dtype=np.float32)
    if pad_to_samples is not None and x.size < pad_to_samples:
        x = np.pad(x, (0, pad_to_samples - x.size))
    if x.size == 0:
        return np.zeros((n_mels, 0), dtype=np.float32)
    half = N_FFT // 2
    # torch.stft(center=True) reflects the signal at both ends; a clip shorter than
    # half a window cannot be reflected, so it is zero-padded up to that length first.
    if x.size <= half:
        x = np.pad(x, (0, half + 1 - x.size))
    padded = np.pad(x, (half, half), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH]
    frames = frames[:-1]  # Whisper drops the last STFT frame
    spec = np.fft.rfft(frames * _hann(N_FFT), axis=-1)
    power = spec.real**2 + spec.imag**2
    mel = power.astype(np.float32) @ mel_filters(n_mels)
    log_spec = np.log10(np.maximum(mel, 1e-10)).T
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)  # keep an 80 dB range below the peak
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def whisper_window(audio: np.ndarray, n_mels: int, pad: str = "audio", seconds: int = 30) -> np.ndarray:
    """One Whisper input window (n_mels, seconds * 100) for a clip of at most `seconds`.

    pad="audio": the clip is zero-padded as audio before the STFT (transformers'
    WhisperFeatureExtractor). pad="mel": the log-mel of the clip (plus one hop of silence, so
    its last frame is complete) is cut after the clip's last frame and filled with zeros, as
    openai-whisper's and faster-whisper's transcribe() do; the two differ after the clip ends.
    """
    n = seconds * SAMPLE_RATE
    clip = np.asarray(audio, dtype=np.float32)[:n]
    if pad == "audio":
        return log_mel(clip, n_mels, pad_to_samples=n)
    if pad != "mel":
        raise ValueError(f"pad must be 'audio' or 'mel', not {pad!r}")
    mel = log_mel(np.pad(clip, (0, HOP_LENGTH)), n_mels)
    out = np.zeros((n_mels, n // HOP_LENGTH), dtype=np.float32)
    frames = clip.size // HOP_LENGTH
    out[:, :frames] = mel[:, :frames]
    return out
