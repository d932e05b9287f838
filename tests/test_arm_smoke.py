"""ARM64 smoke test (slow: `make test-slow`): one fp32 artifact, one clip, under qemu as a
Cortex-A76 with bench/arm_check.py, whose text must equal x86's. The first run builds the arm64
root and wheel folder under .cache/arm64 (downloads; a few minutes); the full matrix is `make
arm-check`, run before every release."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_fp32_artifact_gives_the_same_text_on_aarch64(tiny_artifacts, speech, tmp_path):
    spec = importlib.util.spec_from_file_location("arm_check", ROOT / "bench" / "arm_check.py")
    arm_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(arm_check)  # type: ignore[union-attr]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(json.dumps({"audio": str(speech[0].audio), "text": speech[0].text, "kind": "clean"}) + "\n")
    out = tmp_path / "arm.json"
    rc = arm_check.main(
        [str(tiny_artifacts["onnx"]), "--manifest", str(manifest), "--clips", "1", "--cpus", "a76", "--json", str(out)]
    )
    report = json.loads(out.read_text())
    assert rc == 0, report["failures"]
    (row,) = report["rows"]["a76"]
    assert row["identical"] == row["n"] == 1
