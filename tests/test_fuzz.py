"""Property tests: whatever bytes or samples arrive, audio decoding and feature extraction
either give well-formed output or raise the one-line EdgeASRError - nothing else."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeasr.runtime.audio import load_audio
from edgeasr.runtime.errors import EdgeASRError
from edgeasr.runtime.features import log_mel

CASES = 150  # examples per property; `make fuzz` runs atheris much longer
FAST = settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADERS = [b"RIFF\x24\x00\x00\x00WAVEfmt ", b"fLaC", b"OggS", b"ID3\x03", b"\xff\xfb\x90\x00", b""]


@FAST
@given(prefix=st.sampled_from(HEADERS), body=st.binary(max_size=4096))
def test_random_bytes_decode_or_fail_cleanly(prefix, body):
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        f.write(prefix + body)
        f.flush()
        try:
            x = load_audio(f.name)
        except EdgeASRError as exc:
            assert "\n" not in str(exc)
            return
        assert x.dtype == np.float32 and x.ndim == 1 and np.isfinite(x).all()


@FAST
@given(
    n=st.integers(0, 30000),
    rate=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]),
    channels=st.integers(1, 4),
    subtype=st.sampled_from(["PCM_16", "PCM_24", "PCM_32", "FLOAT", "PCM_U8"]),
    seed=st.integers(0, 2**16),
)
def test_valid_audio_loads_to_16k_mono(n, rate, channels, subtype, seed):
    x = np.random.default_rng(seed).uniform(-1, 1, size=(n, channels)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "a.wav"
        sf.write(path, x, rate, subtype=subtype)
        y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1 and np.isfinite(y).all()
    assert abs(y.size - n * 16000 / rate) <= 2
    assert np.abs(y).max(initial=0) <= 2.0  # band-limiting full-scale white noise overshoots; never explodes


@FAST
@given(
    n=st.integers(0, 40000),
    scale=st.sampled_from([0.0, 1e-6, 1e-3, 1.0, 1e3]),
    n_mels=st.sampled_from([80, 128]),
    seed=st.integers(0, 2**16),
)
def test_features_are_finite_with_the_right_shape(n, scale, n_mels, seed):
    x = (np.random.default_rng(seed).standard_normal(n) * scale).astype(np.float32)
    f = log_mel(x, n_mels)
    assert f.shape == (n_mels, n // 160 if n > 200 else (0 if n == 0 else 1)) or f.shape[0] == n_mels
    assert np.isfinite(f).all()
    if n > 400:
        assert f.max() - f.min() <= 2.0 + 1e-5  # the 80 dB floor, scaled by 1/4


def test_atheris_fuzzes_audio_decoding(tmp_path):
    """A short coverage-guided run (`make fuzz` runs longer); crashes fail the test."""
    script = Path(__file__).resolve().parents[1] / "bench" / "fuzz_audio.py"
    p = subprocess.run(
        [sys.executable, str(script), "-runs=3000", f"-artifact_prefix={tmp_path}/"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Done 3000 runs" in p.stderr, p.stderr[-1000:]
