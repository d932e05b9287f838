"""The synthetic data generator: sentences (deterministic, disjoint splits, normalisable),
`edgeasr data` (Piper and espeak-ng clips, perturbed copies, long-form, silence/tone, manifests,
reproducible bytes, atomic writes) and the manifest reader's sources (JSONL, folder, hf:)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import wave
from collections import Counter
from pathlib import Path

import numpy as np
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


def _need_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (apt-get install -y espeak-ng): `edgeasr data --espeak` needs it")


def _read(path: Path) -> tuple[np.ndarray, int]:
    import soundfile

    from edgeasr.export.perturb import from_int16

    pcm, rate = soundfile.read(str(path), dtype="int16")
    return from_int16(pcm), rate


def test_harder_set_has_every_kind(tmp_path, capsys):
    """A tiny full set: perturbed copies, long-form FLAC, silence and tone; checked by numbers."""
    from edgeasr.export.datagen import CONDITIONS
    from edgeasr.export.perturb import rms, snr_db
    from edgeasr.runtime.audio import load_audio

    _need_espeak()
    args = ["data", "--count", "6", "--calibration", "0", "--espeak", "1", "--perturb", "2", "--seed", "4"]
    args += ["--long-minutes", "0.2", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "time per stage" in out and "perturb" in out and "long-form" in out
    clips = read_manifest(tmp_path / "a" / "manifest.jsonl")
    assert Counter(c.kind for c in clips) == {
        "clean": 6,
        "espeak": 1,
        **{k: 2 for k in CONDITIONS},
        "long-form": 1,
        "silence": 2,
        "tone": 2,
    }
    assert len(CONDITIONS) == 14
    by_id = {c.extra["id"]: c for c in clips}
    audio = {}
    for c in clips:  # every clip decodes (16 and 8 kHz WAV, FLAC) and matches its row
        audio[c.extra["id"]], rate = _read(c.audio)
        assert rate == c.extra["sample_rate"]
        assert len(audio[c.extra["id"]]) / rate == pytest.approx(c.extra["seconds"], abs=1e-3)
        assert load_audio(c.audio).size > 0

    perturbed = [c for c in clips if c.kind in CONDITIONS]
    assert len({c.extra["source"] for c in perturbed}) == 2  # the same subset in every condition
    for c in perturbed:
        src = by_id[c.extra["source"]]
        assert src.kind == "clean" and c.text == src.text
        x, y = audio[src.extra["id"]], audio[c.extra["id"]]
        if c.kind.startswith("noise-"):
            g = c.extra["gain"]
            assert len(y) == len(x) and 0 < g <= 1
            assert snr_db(g * x, y - g * x) == pytest.approx(c.extra["snr_db"], abs=0.1), c.extra["id"]
        elif c.kind.startswith("speed-"):
            assert len(y) == pytest.approx(len(x) / c.extra["speed"], abs=2)
        elif c.kind == "telephone":
            assert c.audio.suffix == ".wav" and len(y) == pytest.approx(len(x) / 2, abs=1)
            z = load_audio(c.audio)  # the runtime's resampling path: 8 -> 16 kHz
            spec = np.abs(np.fft.rfft(z)) ** 2
            f = np.fft.rfftfreq(len(z), 1 / 16000)
            assert spec[f > 4000].sum() / spec.sum() < 1e-6
        elif c.kind == "clipping":
            peak = np.abs(y).max()
            assert len(y) == len(x) and np.mean(np.abs(y) >= peak - 1e-4) > 0.02
        elif c.kind == "reverb":
            assert len(y) == len(x) and not x[-1600:].any()  # the clean clip ends in digital silence ...
            assert rms(y[-2400:-1600]) > rms(y[-800:]) > 0  # ... its reverberant copy in a decaying tail

    (long,) = [c for c in clips if c.kind == "long-form"]
    assert long.audio.suffix == ".flac" and long.extra["seconds"] >= 12.0 and long.extra["sentences"] >= 2
    others = {normalize(c.text) for c in clips if c.kind in ("clean", "espeak")}
    plan_texts = sentences.generate(7 + long.extra["sentences"], 4, "test")[7:]
    assert long.text == " ".join(plan_texts) and not others & {normalize(t) for t in plan_texts}

    for c in clips:
        if c.kind in ("silence", "tone"):
            assert c.text == ""
    assert not audio["silence-0000"].any()
    assert 20 * np.log10(rms(audio["silence-0001"])) == pytest.approx(-60.0, abs=0.5)
    assert np.abs(audio["tone-0000"]).max() == pytest.approx(0.5, abs=1e-3) and rms(audio["tone-0000"]) > 0.05

    # Deterministic to the byte; an older format is refused with a clear message.
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    params = json.loads((tmp_path / "a" / "params.json").read_text())
    (tmp_path / "a" / "params.json").write_text(json.dumps(params | {"version": 1}))
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "a")]) == 2
    assert "older generator (format 1" in capsys.readouterr().err


def test_plan_of_the_harder_set():
    from edgeasr.export.datagen import CONDITIONS, DataParams, perturb_subset, plan

    p = DataParams(count=20, seed=1, calibration=2, espeak=3, perturb=4, long_minutes=1.0, hallucination=True)
    clips = plan(p)
    subset = perturb_subset(p)
    assert len(subset) == 4 and subset == perturb_subset(p) and subset != perturb_subset(DataParams(20, 2, perturb=4))
    for kind in CONDITIONS:
        assert [c.source for c in clips if c.kind == kind] == [f"clean-{i:04d}" for i in subset]
    (long,) = [c for c in clips if c.kind == "long-form"]
    assert long.pool and long.text == ""
    used = {c.text for c in clips if c.kind in ("clean", "espeak")}
    assert len(long.pool) * 1.5 >= 60 and not used & set(long.pool)
    assert [c.id for c in clips if c.kind in ("silence", "tone")] == [
        "silence-0000",
        "silence-0001",
        "tone-0000",
        "tone-0001",
    ]
    assert [c.kind for c in plan(DataParams(count=5, calibration=0))] == ["clean"] * 5  # the extras are opt-in


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"count": 3, "perturb": 4}, "more than the 3 clean clips"),
        ({"count": 4, "perturb": 2}, "--count 5 or more"),
        ({"count": 3, "long_minutes": -1.0}, "must not be negative"),
        ({"count": 0, "espeak": 0}, "nothing to generate"),
    ],
)
def test_bad_parameters(tmp_path, params, message):
    from edgeasr.export.datagen import DataParams, build_dataset

    with pytest.raises(EdgeASRError, match=message):
        build_dataset(tmp_path / "x", DataParams(**params))
    assert not (tmp_path / "x").exists()


def test_babble_uses_4_to_6_other_clips():
    from edgeasr.export.datagen import Planned, _babble_talkers

    clean = {f"clean-{i:04d}": np.full(10, float(i)) for i in range(8)}
    for k in range(20):
        c = Planned(f"noise-babble-5db-{k:04d}", "x", "noise-babble-5db", "test", "manifest", f"clean-{k % 8:04d}")
        talkers = _babble_talkers(c, clean, np.random.default_rng(k))
        ids = [int(t[0]) for t in talkers]
        assert 4 <= len(ids) <= 6 and len(set(ids)) == len(ids) and k % 8 not in ids


def test_manifest_and_folder_accept_empty_references(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"audio": "a.wav", "text": "", "kind": "silence"}\n')
    (clip,) = read_manifest(tmp_path / "m.jsonl")
    assert clip.text == "" and clip.kind == "silence"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.flac").write_bytes(b"")
    (tmp_path / "d" / "a.txt").write_text("\n")
    assert read_manifest(tmp_path / "d")[0].text == ""


def test_hf_spec_parsing():
    from edgeasr.runtime.dataset import HFSpec, parse_hf_spec

    assert parse_hf_spec("hf:openslr/librispeech_asr:clean@test") == HFSpec("openslr/librispeech_asr", "clean", "test")
    assert parse_hf_spec("hf:org/set") == HFSpec("org/set", None, "test", None)
    assert parse_hf_spec("hf:org/set@validation[:50]#text=transcription") == HFSpec(
        "org/set", None, "validation[:50]", "transcription"
    )
    assert parse_hf_spec("hf:name:cfg") == HFSpec("name", "cfg", "test")
    for bad in ("hf:", "hf::cfg", "hf:org/set:", "hf:org/set@", "hf:org/set#audio=x", "hf:org/set#text=", "org/set"):
        with pytest.raises(EdgeASRError):
            parse_hf_spec(bad)


def test_hf_source_without_datasets_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed (import raises ImportError)
    with pytest.raises(EdgeASRError, match=r"need the optional 'datasets' package \(pip install datasets\)"):
        read_manifest("hf:openslr/librispeech_asr:clean@test")
    with pytest.raises(EdgeASRError, match="expected hf:<dataset id>"):
        read_manifest("hf:")  # parsed before the import
