"""Bad input gets one line on stderr and a non-zero exit, never a traceback or a partial artifact."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgeasr.runtime.cli", *args], capture_output=True, text=True, timeout=600
    )


def assert_one_line_error(p: subprocess.CompletedProcess, needle: str) -> None:
    assert p.returncode != 0
    assert "Traceback" not in p.stderr, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip() and "Warning" not in ln]
    assert len(lines) == 1, p.stderr
    assert needle in lines[0], lines[0]


@pytest.fixture()
def artifact(tmp_path, tiny_artifacts) -> Path:
    dst = tmp_path / "art"
    shutil.copytree(tiny_artifacts["onnx"], dst)
    return dst


def test_missing_audio(artifact, tmp_path):
    assert_one_line_error(run("transcribe", str(tmp_path / "nope.wav"), "--artifact", str(artifact)), "no such file")


def test_directory_as_audio(artifact, tmp_path):
    assert_one_line_error(run("transcribe", str(tmp_path), "--artifact", str(artifact)), "is a directory")


def test_not_audio(artifact, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio\n" * 50)
    assert_one_line_error(run("transcribe", str(bad), "--artifact", str(artifact)), "cannot decode audio")


def test_not_an_artifact(tmp_path, speech):
    assert_one_line_error(run("transcribe", str(speech[0].audio), "--artifact", str(tmp_path)), "manifest.json")


def test_truncated_graph_is_refused(artifact, speech):
    graph = artifact / "decoder.onnx"
    graph.write_bytes(graph.read_bytes()[:1000])
    assert_one_line_error(run("transcribe", str(speech[0].audio), "--artifact", str(artifact)), "decoder.onnx")


def test_tampered_graph_is_refused_with_verify(artifact, speech):
    graph = artifact / "encoder.onnx"
    data = bytearray(graph.read_bytes())
    data[-10] ^= 0xFF  # same size, different content
    graph.write_bytes(bytes(data))
    p = run("transcribe", str(speech[0].audio), "--artifact", str(artifact), "--verify")
    assert_one_line_error(p, "encoder.onnx does not match its sha256")


def test_unknown_model_source(tmp_path):
    p = run("export", "--model", str(tmp_path / "missing"), "--format", "onnx", "--out", str(tmp_path / "o"))
    assert_one_line_error(p, "--model")
    assert not (tmp_path / "o").exists()


def test_export_refuses_to_overwrite(artifact):
    before = json.loads((artifact / "manifest.json").read_text())
    p = run("export", "--model", "tiny.en", "--format", "onnx", "--out", str(artifact))
    assert_one_line_error(p, "already exists")
    assert json.loads((artifact / "manifest.json").read_text()) == before
    assert not list(artifact.parent.glob(".art.tmp-*"))


def test_bad_eval_manifest(artifact, tmp_path):
    m = tmp_path / "m.jsonl"
    m.write_text('{"audio": "a.wav", "text": "hi"}\n{"audio": 3, "text": "x"}\n')
    p = run("eval", "--artifact", str(artifact), "--manifest", str(m))
    assert_one_line_error(p, "m.jsonl:2: field 'audio' must be a str")
