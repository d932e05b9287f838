"""Shared fixtures: generated speech and tiny.en artifacts are built once per test session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgeasr.runtime.dataset import Clip, read_manifest

# The session writes up to about 1.5 GB of exported models, artifacts and speech under the temp
# folder (measured: 1.47 GB peak in a fresh-clone `make test`). With less free space the run
# would end in dozens of unrelated-looking errors; say why in one line instead.
MIN_FREE_GB = 2.0


def pytest_sessionstart(session: pytest.Session) -> None:
    import shutil
    import tempfile

    tmp = os.environ.get("PYTEST_DEBUG_TEMPROOT") or tempfile.gettempdir()
    free = shutil.disk_usage(tmp).free / 1e9
    if free < MIN_FREE_GB:
        pytest.exit(f"only {free:.1f} GB free under {tmp}: the test suite needs about {MIN_FREE_GB:g} GB", returncode=2)


@pytest.fixture(scope="session", autouse=True)
def ov_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OpenVINO's compiled-model cache in a per-session folder (child processes inherit it), so
    tests exercise the cache without filling the user's ~/.cache with throwaway artifacts."""
    path = tmp_path_factory.mktemp("ov-cache")
    os.environ["EDGEASR_OV_CACHE"] = str(path)
    return path


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


@pytest.fixture(scope="session")
def whisper_random(tmp_path_factory: pytest.TempPathFactory, tiny_en) -> Path:
    """A tiny random-weight Whisper (2+2 layers, d_model 64) with tiny.en's tokenizer and
    generation settings, as a transformers directory: fast to export and quantize."""
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    from edgeasr.export.ct2 import save_transformers

    base = tiny_en.model.config
    cfg = WhisperConfig(
        vocab_size=base.vocab_size,
        num_mel_bins=80,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=256,
        decoder_ffn_dim=256,
        max_source_positions=1500,
        max_target_positions=448,
        bos_token_id=base.bos_token_id,
        eos_token_id=base.eos_token_id,
        pad_token_id=base.pad_token_id,
        decoder_start_token_id=base.decoder_start_token_id,
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(cfg).eval()
    model.generation_config = tiny_en.model.generation_config
    return save_transformers(model, tiny_en.tokenizer_json, tmp_path_factory.mktemp("whisper-random") / "model")


@pytest.fixture(scope="session")
def fp32_bases(tmp_path_factory: pytest.TempPathFactory, whisper_random, qwen_tiny) -> dict[str, Path]:
    """fp32 ONNX artifacts of the two tiny random models: the base of every profile build."""
    from edgeasr.export.exporter import export_loaded, export_model

    root = tmp_path_factory.mktemp("fp32")
    export_model(str(whisper_random), "onnx", root / "whisper")
    export_loaded(qwen_tiny, "onnx", root / "qwen3_asr")
    return {"whisper": root / "whisper", "qwen3_asr": root / "qwen3_asr"}


@pytest.fixture(scope="session")
def qwen_tiny(tmp_path_factory: pytest.TempPathFactory):
    """The tiny random Qwen3-ASR (real tokenizer, real chunking/windows) as a PyTorch reference."""
    from edgeasr.export.random_model import write
    from edgeasr.export.sources import load_source

    out = tmp_path_factory.mktemp("qwen") / "tiny"
    write(out, "tiny", seed=0)
    return load_source(str(out))
