"""edgeasr runtime: runs exported speech-recognition artifacts with numpy, tokenizers and
ONNX Runtime or OpenVINO. It never imports torch, transformers or the build packages."""

from __future__ import annotations

from typing import Any

from edgeasr.runtime.errors import EdgeASRError

__version__ = "0.1.0"
__all__ = ["EdgeASRError", "Transcript", "__version__", "load_model"]


def __getattr__(name: str) -> Any:
    """Import the model API on first use, so importing a submodule stays light."""
    if name in ("Transcript", "load_model"):
        from edgeasr.runtime import model

        return getattr(model, name)
    raise AttributeError(name)
