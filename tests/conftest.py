"""Shared fixtures: generated speech and tiny.en artifacts are built once per test session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeasr.runtime.dataset import Clip, read_manifest


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> list[Clip]:
    """Eight Piper clips of the project's own test sentences (16 kHz wav + reference)."""
    from edgeasr.runtime.cli import main

    out = tmp_path_factory.mktemp("speech") / "set"
    assert main(["data", "--out", str(out), "--count", "8", "--seed", "3", "--calibration", "0"]) == 0
    return read_manifest(out / "manifest.jsonl")


@pytest.fixture(scope="session")
def tiny_en():
    """The embedded default model (real Whisper tiny.en weights) as a PyTorch reference."""
    from edgeasr.export.sources import load_source

    return load_source("tiny.en")


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory: pytest.TempPathFactory, tiny_en) -> dict[str, Path]:
    """tiny.en exported to both formats."""
    from edgeasr.export.exporter import export_loaded

    root = tmp_path_factory.mktemp("artifacts")
    out = {}
    for fmt in ("onnx", "openvino"):
        out[fmt] = root / f"tiny.en-{fmt}"
        export_loaded(tiny_en, fmt, out[fmt])
    return out


def manifest_of(artifact: Path) -> dict:
    return json.loads((artifact / "manifest.json").read_text())
