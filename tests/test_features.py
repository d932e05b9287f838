"""Runtime log-mel features against transformers' extractors (tolerance 5e-5)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeasr.runtime.features import log_mel, whisper_window

TOL = 5e-5  # both are float32; the FFTs differ in summation order


def _signal(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    tone = 0.3 * np.sin(2 * np.pi * (200 + 1800 * t / max(t[-1], 1e-3)) * t) if n else np.zeros(0)
    return (tone + 0.05 * rng.standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("n", [100, 1000, 16000 * 3 + 77, 16000 * 30])
def test_whisper_log_mel_matches_transformers(n):
    from transformers import WhisperFeatureExtractor

    audio = _signal(n, n)
    ref = WhisperFeatureExtractor(feature_size=80)(audio, sampling_rate=16000, return_tensors="np").input_features[0]
    ours = log_mel(audio, 80, pad_to_samples=480000)
    assert ours.shape == ref.shape == (80, 3000)
    assert np.abs(ours - ref).max() < TOL


@pytest.mark.parametrize("n", [1000, 16000 * 5 + 3])
def test_128_bin_log_mel_matches_qwen3_asr_extractor(n):
    from transformers.models.qwen3_asr import Qwen3ASRFeatureExtractor

    audio = _signal(n, n)
    out = Qwen3ASRFeatureExtractor()(audio, sampling_rate=16000, return_tensors="np", padding="longest")
    ref = out["input_features"][0]
    ours = log_mel(np.pad(audio, (0, max(0, 8000 - n))), 128)  # the extractor pads to 0.5 s first
    assert np.abs(ref[:, : ours.shape[1]] - ours).max() < TOL


def test_mel_padding_mode_zero_fills_after_the_clip():
    audio = _signal(16000 * 2, 7)
    mel = whisper_window(audio, 80, pad="mel")
    assert mel.shape == (80, 3000)
    assert np.all(mel[:, 200:] == 0.0)
    same = whisper_window(audio, 80, pad="audio")
    assert np.array_equal(same, log_mel(audio, 80, pad_to_samples=480000))


def test_empty_audio_gives_no_frames():
    assert log_mel(np.zeros(0, np.float32), 80).shape == (80, 0)
