"""The audio perturbations behind the harder `edgeasr data` conditions: deterministic, the
lengths and levels they promise, exact SNR, the telephone band, clipping and reverb tails."""

from __future__ import annotations

import numpy as np
import pytest

from edgeasr.export import perturb as pt
from edgeasr.runtime.audio import to_mono_16k

RATE = 16000


def _speechlike(seed: int = 0, seconds: float = 3.0) -> np.ndarray:
    """Noise bursts shaped like syllables (4 Hz envelope with pauses), peak 0.9."""
    r = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) * (t % 1.0 < 0.7)
    x = np.convolve(r.standard_normal(t.size), np.ones(8) / 8, mode="same") * env
    return x * (0.9 / np.abs(x).max())


def _band_energy(x: np.ndarray, rate: int, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    return float(spec[(f >= lo) & (f < hi)].sum())


def _noises(n: int, seed: int) -> dict[str, np.ndarray]:
    talkers = [_speechlike(s, 2.0 + s / 3) for s in range(10, 15)]
    return {
        "white": pt.white_noise(n, np.random.default_rng(seed)),
        "pink": pt.pink_noise(n, np.random.default_rng(seed)),
        "babble": pt.babble_noise(talkers, n, np.random.default_rng(seed)),
    }


def test_every_perturbation_is_deterministic():
    x = _speechlike()
    talkers = [_speechlike(s) for s in (1, 2, 3, 4)]
    makers = {
        "white": lambda r: pt.white_noise(1000, r),
        "pink": lambda r: pt.pink_noise(1000, r),
        "babble": lambda r: pt.babble_noise(talkers, 5000, r),
        "room": lambda r: pt.room_impulse_response(r, 0.5, 2.0),
        "melody": lambda r: pt.melody(r, 2.0),
    }
    for name, make in makers.items():
        a, b = make(np.random.default_rng(7)), make(np.random.default_rng(7))
        assert np.array_equal(a, b), name
        assert not np.array_equal(a, make(np.random.default_rng(8))), name
    for f in (
        lambda: pt.change_speed(x, 1.1),
        lambda: pt.telephone(x),
        lambda: pt.hard_clip(x, 0.15),
        lambda: pt.reverberate(x, pt.room_impulse_response(np.random.default_rng(1))),
    ):
        assert np.array_equal(f(), f())


def test_lengths():
    x = _speechlike()
    n = len(x)
    noise = pt.white_noise(n + 500, np.random.default_rng(0))
    assert len(pt.add_noise(x, noise, 10)) == n
    assert len(pt.hard_clip(x)) == n
    assert len(pt.reverberate(x, pt.room_impulse_response(np.random.default_rng(0)))) == n
    assert all(len(v) == n for v in _noises(n, 0).values())
    assert abs(len(pt.change_speed(x, 0.9)) - n / 0.9) <= 2
    assert abs(len(pt.change_speed(x, 1.1)) - n / 1.1) <= 2
    assert abs(len(pt.telephone(x)) - n / 2) <= 1
    with pytest.raises(ValueError):
        pt.add_noise(x, noise[: n - 1], 10)


@pytest.mark.parametrize("snr", [20.0, 10.0, 5.0])
def test_snr_is_exact_for_every_noise_type(snr):
    x = _speechlike(3)
    for name, noise in _noises(len(x), 5).items():
        y = pt.add_noise(x, noise, snr)
        assert pt.snr_db(x, y - x) == pytest.approx(snr, abs=1e-6), name
        # Writing to int16 scales a too-loud mix as a whole: the SNR survives within 0.1 dB.
        y16 = pt.from_int16(pt.to_int16(y * 3.0))
        g = 3.0 * pt.limit_gain(y * 3.0)
        assert pt.limit_gain(y * 3.0) < 1.0  # the mix was scaled down
        assert pt.snr_db(g * x, y16 - g * x) == pytest.approx(snr, abs=0.1), name


def test_noise_spectra():
    n = RATE * 4
    white, pink = pt.white_noise(n, np.random.default_rng(1)), pt.pink_noise(n, np.random.default_rng(1))
    assert pt.rms(white) == pytest.approx(1.0) and pt.rms(pink) == pytest.approx(1.0)
    # White: equal power per Hz. Pink: equal power per octave.
    lo, hi = _band_energy(white, RATE, 250, 500), _band_energy(white, RATE, 2000, 4000)
    assert 10 * np.log10(hi / lo) == pytest.approx(10 * np.log10(8), abs=0.5)
    lo, hi = _band_energy(pink, RATE, 250, 500), _band_energy(pink, RATE, 2000, 4000)
    assert 10 * np.log10(hi / lo) == pytest.approx(0.0, abs=0.5)


def test_babble_is_normalised_and_loops_short_talkers():
    talkers = [_speechlike(1, 0.5), _speechlike(2, 1.0) * 0.01, _speechlike(3, 3.0), _speechlike(4, 2.0)]
    b = pt.babble_noise(talkers, RATE * 5, np.random.default_rng(0))
    assert len(b) == RATE * 5 and pt.rms(b) == pytest.approx(1.0)
    assert pt.rms(b[-RATE:]) > 0.3  # talkers shorter than the clip are looped, not padded with silence
    with pytest.raises(ValueError):
        pt.babble_noise([], 100, np.random.default_rng(0))


def test_telephone_band():
    x = pt.white_noise(RATE * 2, np.random.default_rng(2)) * 0.1
    y = pt.telephone(x, RATE, 8000)
    total = _band_energy(y, 8000, 0, 4000)
    assert _band_energy(y, 8000, 0, 150) / total < 1e-3  # below the voice band
    assert _band_energy(y, 8000, 3800, 4000) / total < 1e-3  # above it
    assert _band_energy(y, 8000, 400, 3200) / total > 0.85
    # Read back at 16 kHz (as the runtime does) there is no energy above 4 kHz.
    z = to_mono_16k(y.astype(np.float32), 8000)
    assert _band_energy(z, RATE, 4000, 8000) / _band_energy(z, RATE, 0, 8000) < 1e-6


def test_clipping_flattens_the_peaks():
    x = _speechlike(4)
    y = pt.hard_clip(x, 0.15)
    peak = np.abs(x).max()
    assert np.abs(y).max() == pytest.approx(peak)
    flat = np.mean(np.abs(y) >= peak - 1e-12)
    assert np.mean(np.abs(x) >= peak - 1e-12) < 0.001 < 0.05 < flat  # many samples now sit at the limit
    small = np.abs(x) < 0.1 * peak
    assert np.allclose(y[small], x[small] / 0.15)  # below the knee: plain gain


def test_room_impulse_response_and_reverb_tail():
    r = np.random.default_rng(3)
    rir = pt.room_impulse_response(r, rt60=0.5, drr_db=3.0)
    assert len(rir) == RATE // 2 and rir[0] == 1.0  # direct path first
    tail = rir[1:]
    assert 10 * np.log10(1.0 / np.sum(tail**2)) == pytest.approx(3.0)
    early, late = np.sum(tail[: RATE // 20] ** 2), np.sum(tail[-RATE // 20 :] ** 2)
    assert 10 * np.log10(early / late) > 45  # ~60 dB over the RT60
    burst = np.zeros(RATE)
    burst[:1600] = _speechlike(5, 0.1)
    y = pt.reverberate(burst, rir)
    assert len(y) == len(burst) and np.abs(y).max() == pytest.approx(np.abs(burst).max())
    e = [float(np.sum(y[a : a + 800] ** 2)) for a in range(2400, 9600, 800)]  # after the burst ends
    assert e[0] > 0 and all(b < a for a, b in zip(e, e[1:]))  # a tail that decays


def test_melody_and_int16():
    m = pt.melody(np.random.default_rng(0), 3.0)
    assert len(m) == 3 * RATE and np.abs(m).max() == pytest.approx(0.5) and np.isfinite(m).all()
    assert pt.rms(m[: RATE // 2]) > 0.05 and pt.rms(m[-RATE // 2 :]) > 0.01
    assert np.array_equal(pt.to_int16(np.array([0.5, -0.5])), np.array([16384, -16384], np.int16))
    loud = pt.to_int16(np.array([2.0, -1.0, 0.5]))
    assert loud[0] == round(0.99 * 32767)  # scaled down as a whole, never clipped
    assert np.allclose(loud / loud[0], [1.0, -0.5, 0.25], atol=1e-4)
