"""Export adapters, one module per model family, registered in one dict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeasr.runtime.errors import EdgeASRError

# family name -> module path (imported on demand: each imports torch)
REGISTRY = {"whisper": "edgeasr.export.families.whisper", "qwen3_asr": "edgeasr.export.families.qwen3_asr"}


@dataclass
class GraphSpec:
    """One graph to export: a torch module, example inputs, and I/O declared as data.

    Axes are tuples of names (dynamic) or ints (static), one per dimension.
    """

    name: str
    module: Any
    example: tuple[Any, ...]
    inputs: dict[str, tuple[str | int, ...]]
    outputs: dict[str, tuple[str | int, ...]]
    # A form of the graph for one backend only (e.g. with ONNX Runtime's own attention op),
    # stored beside the portable one as that backend's variant.
    backend: str | None = None
    cache: str = "returned"  # "in_place": the graph writes new K/V into the cache buffer it is bound to

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        spec = {**self.inputs, **self.outputs}
        return {n: {i: a for i, a in enumerate(axes) if isinstance(a, str)} for n, axes in spec.items()}


def export_family(name: str) -> Any:
    """The export adapter module of a family."""
    import importlib

    if name not in REGISTRY:
        raise EdgeASRError(f"no exporter for model family {name!r} (known: {', '.join(REGISTRY)})")
    return importlib.import_module(REGISTRY[name])
