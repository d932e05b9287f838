"""The synthetic data generator: sentences (deterministic, disjoint splits, normalisable) and
`edgeasr data` (Piper and espeak-ng clips, manifests, reproducible bytes, atomic writes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from edgeasr.export import sentences
from edgeasr.runtime.cli import main
from edgeasr.runtime.dataset import read_manifest
from edgeasr.runtime.errors import EdgeASRError
from edgeasr.runtime.metrics import normalize


def test_generate_is_deterministic_and_prefix_stable():
    a = sentences.generate(60, 7, "train")
    assert a == sentences.generate(60, 7, "train")
    assert sentences.generate(20, 7, "train") == a[:20]
    assert a != sentences.generate(60, 8, "train")
    assert len(set(a)) == len(a)


def test_generate_is_the_same_in_another_process():
    code = "from edgeasr.export.sentences import generate; print('\\n'.join(generate(30, 3, 'test')))"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.splitlines() == sentences.generate(30, 3, "test")


def test_splits_are_disjoint():
    train = sentences.generate(2000, 0, "train")
    others = {s: sentences.generate(200, 0, s) for s in ("test", "dev", "calibration")}
    seen = {normalize(t) for t in train}
    for name, items in others.items():
        norm = {normalize(t) for t in items}
        assert not seen & norm, f"train and {name} share sentences"
        seen |= norm
    assert all(sentences.split_of(t) == "test" for t in others["test"])
    with pytest.raises(ValueError):
        sentences.generate(1, 0, "validation")


def test_vocabulary_covers_every_generated_word():
    vocab = sentences.vocabulary()
    assert len(vocab) >= 300
    words = {w for t in sentences.generate(3000, 1, "train") for w in sentences.tokens(t)}
    assert words <= vocab, sorted(words - vocab)[:20]


def test_references_survive_normalisation():
    texts = sentences.generate(300, 0, "test")
    lengths = [len(t.split()) for t in texts]
    assert min(lengths) >= sentences.MIN_WORDS and max(lengths) <= sentences.MAX_WORDS
    assert sum(n <= 8 for n in lengths) > 30 and sum(n >= 26 for n in lengths) > 10  # 2 s ... 10 s
    for t in texts:
        assert normalize(t), t
    # The written and spoken forms of the number formats used agree after normalising.
    assert normalize("twenty five dollars") == normalize("$25")
    assert normalize("the twenty third") == normalize("the 23rd")
    assert normalize("in nineteen eighty five") == normalize("in 1985")
    assert normalize("at quarter past seven") == normalize("at quarter past 7")


def _wav_info(path: Path) -> tuple[int, int, int, int]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_data_command_piper(tmp_path, capsys):
    args = ["data", "--count", "2", "--calibration", "1", "--seed", "5", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    clips = read_manifest(tmp_path / "a" / "manifest.jsonl")
    assert len(clips) == 2
    for c in clips:
        assert c.kind == "clean" and c.extra["voice"] == "piper-joe" and c.text
        rate, channels, width, frames = _wav_info(c.audio)
        assert (rate, channels, width) == (16000, 1, 2)
        assert frames / rate == pytest.approx(c.extra["seconds"], abs=1e-3)
        assert 1.0 < frames / rate < 15.0
    calib = read_manifest(tmp_path / "a" / "calibration.jsonl")
    assert len(calib) == 1 and calib[0].text not in {c.text for c in clips}
    assert "wrote" in capsys.readouterr().out

    # The same seed gives the same bytes (Piper's noise is seeded per clip).
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert _files(tmp_path / "a") == _files(tmp_path / "b")

    # Same parameters: nothing to do. Other parameters: refused without --force.
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["data", "--count", "1", "--calibration", "0", "--quiet", "--out", str(tmp_path / "a")]) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "a" / "params.json").is_file()  # left untouched
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert main([*args, "--force", "--out", str(tmp_path / "mine")]) == 2  # not a data set: never replaced
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_piper_noise_does_not_depend_on_order():
    from edgeasr.export.speech import PiperSpeaker

    speaker = PiperSpeaker()
    first = speaker.synthesize("See you on Monday.", seed=1)
    speaker.synthesize("Where is the library?", seed=1)
    assert (speaker.synthesize("See you on Monday.", seed=1) == first).all()
    other = speaker.synthesize("See you on Monday.", seed=2)
    assert other.shape != first.shape or (other != first).any()


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    from edgeasr.export import speech

    def boom(path: object, audio: object) -> float:
        raise KeyboardInterrupt

    monkeypatch.setattr(speech, "write_wav", boom)
    assert main(["data", "--count", "1", "--calibration", "0", "--quiet", "--out", str(tmp_path / "x")]) == 130
    assert list(tmp_path.iterdir()) == []


def test_espeak_clips(tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (apt-get install -y espeak-ng): `edgeasr data --espeak` needs it")
    args = ["data", "--count", "0", "--calibration", "0", "--espeak", "2", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    clips = read_manifest(tmp_path / "a" / "manifest.jsonl")
    assert [c.kind for c in clips] == ["espeak", "espeak"]
    assert all(c.extra["voice"].startswith("espeak-") for c in clips)
    assert all(_wav_info(c.audio)[:3] == (16000, 1, 2) for c in clips)
    rows = [json.loads(x) for x in (tmp_path / "a" / "manifest.jsonl").read_text().splitlines()]
    assert all(r["split"] == "test" and r["seconds"] > 0.5 for r in rows)


def test_plan_keeps_piper_espeak_and_calibration_sentences_apart():
    from edgeasr.export.datagen import DataParams, plan

    clips = plan(DataParams(count=30, seed=0, calibration=10, espeak=10))
    by_kind: dict[str, set[str]] = {}
    for c in clips:
        by_kind.setdefault(f"{c.kind}/{c.manifest}", set()).add(normalize(c.text))
    assert [len(v) for v in by_kind.values()] == [30, 10, 10]
    a, b, c = by_kind.values()
    assert not (a & b or a & c or b & c)


def test_espeak_missing_is_a_clear_error(monkeypatch):
    from edgeasr.export import speech

    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with pytest.raises(EdgeASRError, match="espeak-ng is not installed"):
        speech.EspeakSpeaker()
