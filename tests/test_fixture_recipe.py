"""`make fixture-qwen` end to end at toy scale: speech, tokenizer, a few training steps, the
transformers checkpoint, and resuming from the saved training state. The committed model's
quality is checked in test_fixture_qwen.py; this guards the recipe that reproduces it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.filterwarnings("ignore")
def test_recipe_trains_saves_and_resumes(tmp_path: Path) -> None:
    from transformers import AutoProcessor, Qwen3ASRForConditionalGeneration

    out, work = tmp_path / "ck", tmp_path / "work"
    cmd = [sys.executable, "-m", "edgeasr.runtime.cli", "fixture-qwen", "--out", str(out), "--work", str(work)]
    cmd += ["--hours", "0.02", "--no-eval", "--quiet"]
    first = subprocess.run([*cmd, "--steps", "2"], capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Traceback" not in first.stderr + first.stdout  # worker shutdown stays silent
    summary = json.loads((out / "edgeasr_fixture.json").read_text())
    assert summary["training"]["steps_done"] == 2
    assert summary["parameters"]["total"] > 6_000_000

    again = subprocess.run([*cmd, "--steps", "3", "--resume"], capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resumed at step 2" in again.stdout
    assert json.loads((out / "edgeasr_fixture.json").read_text())["training"]["steps_done"] == 3

    model = Qwen3ASRForConditionalGeneration.from_pretrained(out)
    tok = AutoProcessor.from_pretrained(out).tokenizer
    assert model.config.audio_token_id == tok.convert_tokens_to_ids("<|audio_pad|>") < 16
    assert "closed-vocabulary test model" in (out / "CARD.md").read_text()
