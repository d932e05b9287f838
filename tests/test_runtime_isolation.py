"""The runtime imports and transcribes in a process where torch and transformers cannot be
imported, and never pulls in the build packages."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r"""
import importlib.abc, json, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "optimum", "nncf", "onnx"):
            raise ImportError(f"blocked: {name}")
        return None

sys.meta_path.insert(0, Block())
try:
    import torch  # noqa: F401
    raise SystemExit("torch imported despite the block")
except ImportError:
    pass
from edgeasr.runtime import load_model
model = load_model(sys.argv[1], threads=1)
text = model.transcribe(sys.argv[2])[0].text
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "onnx")
               or m.startswith(("edgeasr.export", "edgeasr.quantize")))
print(json.dumps({"text": text, "heavy": heavy}))
"""


def test_runtime_transcribes_without_torch(tiny_artifacts, speech):
    for fmt, art in tiny_artifacts.items():
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(art), str(speech[0].audio)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["heavy"] == [], f"{fmt}: runtime imported {result['heavy']}"
        assert len(result["text"].split()) >= 2, f"{fmt}: empty transcript"
