"""Audio perturbations for the harder evaluation conditions of `edgeasr data`.

Each function is small and pure: float64 mono audio in (full scale = 1.0), new audio out,
randomness only from the numpy Generator passed in, so a seeded generator gives the same
samples every time. Only numpy, scipy and soxr (already a runtime dependency) are used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SAMPLE_RATE = 16000


def rms(x: np.ndarray) -> float:
    """Root mean square of a signal (0.0 for an empty one)."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def snr_db(signal: np.ndarray, noise: np.ndarray) -> float:
    """Signal-to-noise ratio in dB of two signals measured over their whole length."""
    return 20.0 * float(np.log10(rms(signal) / rms(noise)))


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise with unit RMS: a flat spectrum, like fan or electronic hiss."""
    x = rng.standard_normal(n)
    return x / rms(x)


def pink_noise(n: int, rng: np.random.Generator, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Pink (1/f power, -3 dB per octave) noise with unit RMS, made by shaping white noise in the
    frequency domain; models broadband background noise weighted to the low end (traffic, HVAC).
    Below 20 Hz the spectrum is held flat so that the DC end does not dominate."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / rate)
    spectrum *= 1.0 / np.sqrt(np.maximum(f, 20.0))
    spectrum[0] = 0.0
    x = np.fft.irfft(spectrum, n)
    return x / rms(x)


def babble_noise(talkers: Sequence[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """Several other speakers talking at once (cafeteria babble), unit RMS: each talker is set
    to unit RMS, looped or cut to `n` samples from a random starting point, and all are summed."""
    if not talkers:
        raise ValueError("babble needs at least one talker")
    mix = np.zeros(n)
    for t in talkers:
        t = np.asarray(t, dtype=np.float64)
        level = rms(t)
        if level == 0.0:
            continue
        looped = np.resize(t / level, n + len(t))  # np.resize repeats the input
        start = int(rng.integers(len(t)))
        mix += looped[start : start + n]
    if rms(mix) == 0.0:
        raise ValueError("babble talkers are all silent")
    return mix / rms(mix)


def add_noise(clean: np.ndarray, noise: np.ndarray, snr: float) -> np.ndarray:
    """`clean` plus `noise` (cut to its length) scaled so that the SNR over the whole clip is
    exactly `snr` dB: the noise gain comes from the RMS of both signals."""
    clean = np.asarray(clean, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)[: len(clean)]
    if len(noise) < len(clean):
        raise ValueError("noise is shorter than the clip")
    gain = rms(clean) / (rms(noise) * 10.0 ** (snr / 20.0))
    return clean + gain * noise


def change_speed(x: np.ndarray, factor: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Play the clip `factor` times faster (tempo and pitch both change, like a tape or a
    sped-up recording): resample as if it had been recorded at rate * factor."""
    import soxr

    return soxr.resample(np.asarray(x, dtype=np.float64), rate * factor, rate, quality="HQ")


def telephone(
    x: np.ndarray, rate: int = SAMPLE_RATE, out_rate: int = 8000, band: tuple[float, float] = (300.0, 3400.0)
) -> np.ndarray:
    """A narrow-band telephone channel: a 6th-order Butterworth band-pass over `band` (the
    classic 300-3400 Hz voice band), then downsampling to `out_rate` (8 kHz)."""
    import soxr
    from scipy.signal import butter, sosfilt

    sos = butter(6, band, btype="bandpass", fs=rate, output="sos")
    y = sosfilt(sos, np.asarray(x, dtype=np.float64))
    return soxr.resample(y, rate, out_rate, quality="HQ")


def room_impulse_response(
    rng: np.random.Generator, rt60: float = 0.5, drr_db: float = 0.0, rate: int = SAMPLE_RATE
) -> np.ndarray:
    """A synthetic room: a unit direct path followed (after 3 ms) by Gaussian noise whose
    envelope falls 60 dB in `rt60` seconds, scaled so that the direct-to-reverberant energy
    ratio is `drr_db`; `rt60` seconds long."""
    n = int(rt60 * rate)
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * np.exp(-3.0 * np.log(10.0) * t / rt60)  # amplitude -60 dB at rt60
    tail[: int(0.003 * rate)] = 0.0
    tail *= 10.0 ** (-drr_db / 20.0) / np.sqrt(np.sum(tail * tail))
    tail[0] = 1.0
    return tail


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with a room impulse response, keeping the length and the peak of the input
    (the tail that runs past the end is cut, as when a recording stops)."""
    from scipy.signal import fftconvolve

    x = np.asarray(x, dtype=np.float64)
    y = fftconvolve(x, rir)[: len(x)]
    peak_in, peak_out = np.max(np.abs(x), initial=0.0), np.max(np.abs(y), initial=0.0)
    return y * (peak_in / peak_out) if peak_out > 0 else y


def hard_clip(x: np.ndarray, fraction: float = 0.15) -> np.ndarray:
    """An overdriven input stage: gain 1/`fraction` and then a hard limit at the original peak,
    so everything above `fraction` of the peak is flattened (a badly set recording level)."""
    x = np.asarray(x, dtype=np.float64)
    peak = float(np.max(np.abs(x), initial=0.0))
    return np.clip(x / fraction, -peak, peak)


def melody(rng: np.random.Generator, seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A music-like signal without speech: notes of a pentatonic scale (0.2-0.6 s each) with six
    harmonics, a short attack and a decay, some notes doubled a fifth up; peak 0.5."""
    scale = np.array([0, 2, 4, 7, 9, 12, 14, 16])  # semitones
    out = np.zeros(int(seconds * rate))
    pos = 0
    while pos < len(out):
        n = min(int(rng.uniform(0.2, 0.6) * rate), len(out) - pos)
        t = np.arange(n) / rate
        base = 220.0 * 2.0 ** (rng.choice(scale) / 12.0)
        freqs = [base, base * 1.5] if rng.random() < 0.3 else [base]
        note = np.zeros(n)
        for f in freqs:
            for k in range(1, 7):
                if k * f < rate / 2:
                    note += np.sin(2 * np.pi * k * f * t + rng.uniform(0, 2 * np.pi)) / k
        envelope = np.minimum(t / 0.01, 1.0) * np.exp(-t / rng.uniform(0.15, 0.4))
        out[pos : pos + n] = note * envelope
        pos += n
    return out * (0.5 / np.max(np.abs(out)))


def limit_gain(x: np.ndarray, limit: float = 0.99) -> float:
    """The gain (<= 1) that brings the peak of `x` down to `limit`: 1.0 when it is already below."""
    peak = float(np.max(np.abs(x), initial=0.0))
    return limit / peak if peak > limit else 1.0


def to_int16(x: np.ndarray, limit: float = 0.99) -> np.ndarray:
    """Float audio -> int16; a signal whose peak is over `limit` is scaled down as a whole by
    `limit_gain` (never clipped), which leaves every level ratio in it, such as an SNR, as it was."""
    x = np.asarray(x, dtype=np.float64)
    return np.round(x * (limit_gain(x, limit) * 32767.0)).astype(np.int16)


def from_int16(pcm: np.ndarray) -> np.ndarray:
    """int16 samples -> float64 in [-1, 1] (the inverse of `to_int16` without limiting)."""
    return np.asarray(pcm, dtype=np.float64) / 32767.0
