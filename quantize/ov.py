"""OpenVINO builds: the fp32 ONNX graph read by OpenVINO's ONNX frontend, then stored as
fp32 or fp16 IR, or compressed with NNCF (weight-only compress_weights, or full static
quantize with calibration feeds)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeasr.export.exporter import read_onnx_for_openvino
from edgeasr.quantize.calibration import Feeds
from edgeasr.quantize.profiles import GraphRecipe
from edgeasr.runtime.errors import EdgeASRError


def _nncf() -> Any:
    """NNCF with its telemetry off (NNCF's own switch, read at import): like OpenVINO's, its
    sender forks a process that hangs without network access, and builds stay offline."""
    os.environ.setdefault("NNCF_CI", "1")
    import nncf

    return nncf


def _ignored(patterns: list[str]) -> Any:
    """keep_fp patterns (shell-style, as for ONNX Runtime) as an NNCF ignored scope."""
    import fnmatch

    nncf = _nncf()

    return nncf.IgnoredScope(patterns=[fnmatch.translate(p) for p in patterns], validate=False)


def _dataset(feeds: Feeds | None, model: Any, limit: int) -> Any:
    nncf = _nncf()

    if not feeds:
        raise EdgeASRError("this method needs calibration audio")
    names = [p.get_any_name() for p in model.inputs]
    return nncf.Dataset([{k: f[k] for k in names} for f in feeds[:limit]])


def none(model: Any, recipe: GraphRecipe, feeds: Feeds | None) -> tuple[Any, bool]:
    return model, False


def fp16(model: Any, recipe: GraphRecipe, feeds: Feeds | None) -> tuple[Any, bool]:
    """fp16 weights in the IR (the CPU plugin still computes at its inference precision)."""
    return model, True


def nncf_weights(model: Any, recipe: GraphRecipe, feeds: Feeds | None) -> tuple[Any, bool]:
    """Weight-only compression (INT8_ASYM/SYM, INT4_SYM/ASYM with group size and ratio,
    optionally data-aware AWQ and scale estimation on the calibration feeds)."""
    nncf = _nncf()

    p = recipe.params
    mode = getattr(nncf.CompressWeightsMode, p.get("mode", "int8_asym").upper())
    kwargs: dict[str, Any] = {"mode": mode, "ignored_scope": _ignored(p.get("keep_fp", []))}
    if mode.value.startswith("int4"):
        kwargs.update(
            group_size=p.get("group_size", 64), ratio=p.get("ratio", 1.0), all_layers=p.get("all_layers", True)
        )
    if p.get("awq") or p.get("scale_estimation"):
        kwargs.update(
            dataset=_dataset(feeds, model, p.get("calibration_clips", 16) * 4),
            awq=p.get("awq", False),
            scale_estimation=p.get("scale_estimation", False),
        )
    return nncf.compress_weights(model, **kwargs), False


def nncf_static(model: Any, recipe: GraphRecipe, feeds: Feeds | None) -> tuple[Any, bool]:
    """int8 weights and activations (nncf.quantize, transformer model type)."""
    nncf = _nncf()

    p = recipe.params
    limit = p.get("calibration_clips", 16) * 4
    q = nncf.quantize(
        model,
        _dataset(feeds, model, limit),
        preset=getattr(nncf.QuantizationPreset, p.get("preset", "mixed").upper()),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=min(limit, len(feeds or [])),
        fast_bias_correction=p.get("fast_bias_correction", True),
        ignored_scope=_ignored(p.get("keep_fp", [])),
    )
    return q, False


METHODS: dict[str, Callable[[Any, GraphRecipe, Feeds | None], tuple[Any, bool]]] = {
    "none": none,
    "fp16": fp16,
    "nncf_weights": nncf_weights,
    "nncf_static": nncf_static,
}


def apply(recipe: GraphRecipe, src: Path, dst: Path, feeds: Feeds | None) -> Path:
    """Convert the ONNX graph `src` to OpenVINO IR `dst` (.xml + .bin) following `recipe`."""
    import openvino as ov

    model = read_onnx_for_openvino(src)
    model, half = METHODS[recipe.method](model, recipe, feeds)
    ov.save_model(model, str(dst), compress_to_fp16=half)
    return dst
