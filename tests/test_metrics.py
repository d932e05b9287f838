"""WER/CER against hand-computed cases, normalisation, and evaluation manifests."""

from __future__ import annotations

import pytest

from edgeasr.runtime.dataset import read_manifest
from edgeasr.runtime.errors import EdgeASRError
from edgeasr.runtime.metrics import error_rates, normalize, word_errors


def test_wer_counts_substitutions_deletions_insertions():
    # ref 3+4 = 7 words; clip 1: one substitution (sat->sit); clip 2: one deletion (big), one insertion (today)
    r = error_rates(["the cat sat", "a big red dog"], ["the cat sit", "a red dog today"])
    assert (r["substitutions"], r["deletions"], r["insertions"]) == (1, 1, 1)
    assert r["wer"] == pytest.approx(3 / 7)
    assert r["words"] == 7


def test_cer_is_character_edit_distance_over_reference_characters():
    # "abcd" -> "abxd": 1 substitution over 4 characters; "hello" -> "helo": 1 deletion over 5
    r = error_rates(["abcd", "hello"], ["abxd", "helo"])
    assert r["cer"] == pytest.approx(2 / 9)


def test_empty_references_are_left_out_of_wer():
    r = error_rates(["", "one two"], ["ghost words", "one two"])
    assert r["wer"] == 0.0 and r["words"] == 2
    assert word_errors("", "ghost words") == 2


def test_normaliser_makes_written_and_spoken_forms_agree():
    assert normalize("Mr. Smith paid $25, didn't he?") == normalize("mister smith paid twenty five dollars did not he")
    assert normalize("The meeting is on the 3rd.") == "the meeting is on the 3rd"
    assert normalize("colour") == normalize("color")


def test_perfect_and_empty_hypotheses():
    assert error_rates(["a b c"], ["a b c"])["wer"] == 0.0
    assert error_rates(["a b c"], [""])["wer"] == 1.0


@pytest.mark.parametrize(
    "line,needle",
    [
        ("not json", "m.jsonl:2: invalid JSON"),
        ('["a", "b"]', "m.jsonl:2: expected a JSON object"),
        ('{"audio": "x.wav"}', "m.jsonl:2: missing field 'text'"),
        ('{"audio": "x.wav", "text": 3}', "m.jsonl:2: field 'text' must be a str"),
        ('{"audio": "x.wav", "text": "t", "kind": true}', "m.jsonl:2: field 'kind' must be a str"),
    ],
)
def test_manifest_errors_name_file_line_and_field(tmp_path, line, needle):
    m = tmp_path / "m.jsonl"
    m.write_text('{"audio": "a.wav", "text": "fine"}\n' + line + "\n")
    with pytest.raises(EdgeASRError) as err:
        read_manifest(m)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_folder_of_audio_and_text(tmp_path):
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "one.wav", np.zeros(1600, np.float32), 16000)
    (tmp_path / "one.txt").write_text("hello there\n")
    clips = read_manifest(tmp_path)
    assert [(c.audio.name, c.text) for c in clips] == [("one.wav", "hello there")]
    sf.write(tmp_path / "two.flac", np.zeros(1600, np.float32), 16000)
    with pytest.raises(EdgeASRError, match="two.flac: no reference file two.txt"):
        read_manifest(tmp_path)
