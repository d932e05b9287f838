"""Long audio, every input format, bad input and interrupted builds: nothing crashes, nothing
is lost at chunk seams, nothing half-written is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edgeasr.runtime import EdgeASRError, load_model
from edgeasr.runtime.audio import load_audio
from edgeasr.runtime.metrics import error_rates, normalize
from edgeasr.runtime.segment import Span, plan_chunks, speech_regions


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgeasr.runtime.cli", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def model(tiny_artifacts):
    return load_model(tiny_artifacts["onnx"], threads=2)


# -- segmentation -----------------------------------------------------------------------


def _probs(pattern: list[tuple[float, float]]) -> np.ndarray:
    """Frame probabilities from (seconds, value) runs."""
    return np.concatenate([np.full(round(s / 0.032), v, dtype=np.float32) for s, v in pattern])


def test_chunks_are_cut_in_pauses_and_cover_all_speech():
    probs = _probs([(0.5, 0.0)] + [(9.0, 0.9), (0.8, 0.05)] * 8 + [(1.0, 0.0)])
    total = len(probs) * 512
    spans = plan_chunks(probs, total, max_seconds=30)
    assert all(s.seconds <= 30 for s in spans)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))  # no overlap, in order
    for s, e in speech_regions(probs):  # every speech frame is inside exactly one chunk
        assert sum(1 for sp in spans if sp.start <= s * 512 and e * 512 <= sp.end) == 1
    for sp in spans[1:]:  # every cut falls in a pause
        assert probs[sp.start // 512] < 0.5


def test_speech_without_pauses_is_still_cut_to_the_window():
    probs = _probs([(95.0, 0.9)])
    spans = plan_chunks(probs, len(probs) * 512, max_seconds=30)
    assert len(spans) >= 4 and all(s.seconds <= 30 for s in spans)
    assert spans[0].start == 0 and spans[-1].end == len(probs) * 512


def test_silence_has_no_chunks():
    assert plan_chunks(np.zeros(1000, np.float32), 512000, 30) == []
    assert speech_regions(_probs([(0.1, 0.9), (2.0, 0.0)])) == []  # a click is not speech


def test_long_audio_transcribed_without_lost_or_doubled_words(model, speech, tmp_path):
    """~50 s of speech with pauses: cut into windows at pauses, joined in order."""
    gap = np.zeros(int(0.6 * 16000), np.float32)
    parts, refs = [], []
    for clip in speech:
        parts += [load_audio(clip.audio), gap]
        refs.append(clip.text)
    audio = np.concatenate(parts)
    assert audio.size / 16000 > 35
    path = tmp_path / "long.flac"
    sf.write(path, audio, 16000)
    r = model.transcribe(path)[0]
    assert len(r.segments) >= 2 and all(s.end - s.start <= 30.0 for s in r.segments)
    assert all(a.end <= b.start for a, b in zip(r.segments, r.segments[1:]))
    wer = error_rates([normalize(" ".join(refs))], [normalize(r.text)])
    assert wer["wer"] < 0.1, (r.text, wer)
    assert wer["insertions"] <= 2 and wer["deletions"] <= 2  # nothing doubled or dropped at seams


def test_output_formats(model, speech):
    from edgeasr.runtime.formats import render

    r = model.transcribe(speech[1].audio)[0]
    srt, vtt = render(r, "srt"), render(r, "vtt")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:") and r.text in srt
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> ") and r.text in vtt
    import json

    v = json.loads(render(r, "verbose_json"))
    assert v["text"] == r.text and v["segments"][0]["end"] == pytest.approx(v["duration"], abs=0.05)


# -- input formats ----------------------------------------------------------------------

FORMATS = [
    ("wav", "PCM_U8", 8000, 1),
    ("wav", "PCM_16", 16000, 1),
    ("wav", "PCM_24", 44100, 2),
    ("wav", "PCM_32", 48000, 1),
    ("wav", "FLOAT", 22050, 2),
    ("wav", "DOUBLE", 16000, 6),
    ("flac", "PCM_16", 48000, 2),
    ("ogg", "VORBIS", 44100, 1),
    ("ogg", "OPUS", 48000, 1),
    ("mp3", "MPEG_LAYER_III", 44100, 2),
]


@pytest.mark.parametrize("ext,subtype,rate,channels", FORMATS)
def test_every_format_rate_and_channel_count(model, speech, tmp_path, ext, subtype, rate, channels):
    import soxr

    clean = load_audio(speech[2].audio)
    x = soxr.resample(clean, 16000, rate)
    x = np.repeat(x[:, None], channels, axis=1) * 0.7
    path = tmp_path / f"clip.{ext}"
    sf.write(path, x, rate, subtype=subtype)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size - clean.size) <= 0.08 * 16000  # codecs may pad a little
    ref = model.transcribe(clean)[0].text
    got = model.transcribe(path)[0].text
    assert error_rates([normalize(ref)], [normalize(got)])["wer"] <= (0.25 if rate == 8000 else 0.15), (ref, got)


def test_int16_decoding_matches_float(speech):
    a = load_audio(speech[0].audio)
    b = load_audio(speech[0].audio, dtype=np.int16)
    assert b.dtype == np.int16 and np.abs(a - b / 32767.0).max() < 1e-4


# -- bad input ----------------------------------------------------------------------------


def _one_line(p: subprocess.CompletedProcess, needle: str) -> None:
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], p.stderr


def test_empty_and_silent_files_give_empty_transcripts(tiny_artifacts, tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    sf.write(tmp_path / "zeros.wav", np.zeros(16000 * 3, np.float32), 16000)
    sf.write(
        tmp_path / "hum.wav", (1e-4 * np.random.default_rng(0).standard_normal(16000 * 3)).astype(np.float32), 16000
    )
    for name in ("empty.wav", "zeros.wav", "hum.wav"):
        p = cli("transcribe", str(tmp_path / name), "--artifact", str(tiny_artifacts["onnx"]))
        assert p.returncode == 0 and p.stdout.strip() == "", (name, p.stdout, p.stderr)


def test_nan_samples_are_an_error(tiny_artifacts, tmp_path):
    x = np.zeros(16000, np.float32)
    x[100] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    _one_line(cli("transcribe", str(tmp_path / "nan.wav"), "--artifact", str(tiny_artifacts["onnx"])), "NaN")


def test_truncated_header_and_truncated_data(tiny_artifacts, speech, tmp_path):
    data = Path(speech[0].audio).read_bytes()
    (tmp_path / "head.wav").write_bytes(data[:30])
    _one_line(cli("transcribe", str(tmp_path / "head.wav"), "--artifact", str(tiny_artifacts["onnx"])), "cannot decode")
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])  # header promises more than is there
    p = cli("transcribe", str(tmp_path / "cut.wav"), "--artifact", str(tiny_artifacts["onnx"]))
    assert p.returncode == 0 and "Traceback" not in p.stderr and p.stdout.strip()


def test_one_bad_file_does_not_stop_the_others(tiny_artifacts, speech, tmp_path):
    (tmp_path / "bad.mp3").write_text("not audio at all")
    p = cli("transcribe", str(speech[0].audio), str(tmp_path / "bad.mp3"), "--artifact", str(tiny_artifacts["onnx"]))
    assert p.returncode == 2 and "bad.mp3: cannot decode audio" in p.stderr and "Traceback" not in p.stderr
    assert str(speech[0].audio) in p.stdout


def test_in_memory_bad_audio(model):
    with pytest.raises(EdgeASRError, match="NaN"):
        from edgeasr.runtime.audio import to_mono_16k

        to_mono_16k(np.array([0.0, np.inf], np.float32), 16000)
    assert model.transcribe(np.zeros(0, np.float32))[0].text == ""


# -- interrupted builds -------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_build_leaves_nothing(tiny_artifacts, speech, tmp_path, sig):
    out = tmp_path / "art"
    calib = speech[0].audio.parent.parent / "manifest.jsonl"
    cmd = [sys.executable, "-m", "edgeasr.runtime.cli", "build", "--model", str(tiny_artifacts["onnx"])]
    cmd += ["--profile", "ov-int8-static", "--out", str(out), "--calibration", str(calib)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.startswith(".art.tmp-") for p in tmp_path.iterdir()):
        time.sleep(0.05)  # wait until the build is writing its staging directory
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())


def test_span_seconds():
    assert Span(0, 48000).seconds == 3.0
