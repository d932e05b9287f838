"""ONNX Runtime quantizers, one function per profile method: (fp32 graph, recipe, calibration
feeds) -> quantized graph file. Parameters come from the profile, never from defaults hidden
here, so the manifest describes exactly what was done."""

from __future__ import annotations

import fnmatch
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeasr.export.onnx_io import graph_files, load_graph, save_graph
from edgeasr.export.onnx_passes import untie_output_projection
from edgeasr.quantize.calibration import Feeds
from edgeasr.quantize.ort_passes import half_kv_cache, own_conv_biases, share_int8_embedding, share_nbits_embedding
from edgeasr.quantize.profiles import GraphRecipe
from edgeasr.runtime.errors import EdgeASRError


def _excluded(model: Any, patterns: list[str]) -> list[str]:
    """Node names matching any keep_fp pattern (shell-style, e.g. '*/layers.0/*')."""
    return [n.name for n in model.graph.node if any(fnmatch.fnmatch(n.name, p) for p in patterns)]


def _prepared(src: Path, work: Path) -> tuple[Path, list[str]]:
    """The fp32 graph with its output projection untied, so quantizers reach it; returns the
    path and the tied tables (re-shared after quantization, see ort_passes)."""
    model = load_graph(src)
    tables = untie_output_projection(model)
    out = work / "prepared.onnx"
    save_graph(model, out)
    return out, tables


def _reshare(dst: Path, tables: list[str], share: Callable[[Any, str], bool]) -> None:
    """Point each tied table's lookup at the quantized output projection, then re-save."""
    if not tables:
        return
    model = load_graph(dst)
    if any([share(model, t) for t in tables]):
        save_graph(model, dst)


def _large(path: Path) -> bool:
    return sum(p.stat().st_size for p in graph_files(path)) > 1_500_000_000


def none(src: Path, dst: Path, recipe: GraphRecipe, feeds: Feeds | None) -> Path:
    """The graph as exported, copied; a renamed copy (ONNX Runtime's `decoder.onnxruntime.onnx`
    becomes `decoder.onnx`) has its external data file renamed and the graph pointed at it."""
    import onnx

    data = [p for p in graph_files(src) if p != src]
    for p in data:
        shutil.copyfile(p, dst.parent / p.name.replace(src.name, dst.name))
    if not data or src.name == dst.name:
        shutil.copyfile(src, dst)
        return dst
    model = onnx.load(str(src), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = entry.value.replace(src.name, dst.name)
    onnx.save(model, str(dst))
    return dst


def fp16(src: Path, dst: Path, recipe: GraphRecipe, feeds: Feeds | None) -> Path:
    """Weights and compute in float16, inputs/outputs kept float32 (Cast nodes at the edges)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(load_graph(src), keep_io_types=True, disable_shape_infer=_large(src))
    save_graph(model, dst)
    return dst


def dynamic_int8(src: Path, dst: Path, recipe: GraphRecipe, feeds: Feeds | None) -> Path:
    """int8 weights, activations quantized per call (quantize_dynamic)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    p = recipe.params
    work = dst.parent / f".{dst.stem}.work"
    work.mkdir(exist_ok=True)
    try:
        prepared, tables = _prepared(src, work)
        quantize_dynamic(
            prepared,
            dst,
            op_types_to_quantize=p.get("op_types", ["MatMul"]),
            per_channel=p.get("per_channel", True),
            reduce_range=p.get("reduce_range", False),
            weight_type=QuantType.QInt8,
            nodes_to_exclude=_excluded(load_graph(prepared, with_data=False), p.get("keep_fp", [])),
            use_external_data_format=_large(prepared),
            extra_options={"MatMulConstBOnly": True},
        )
        _reshare(dst, tables, share_int8_embedding)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dst


class _Reader:
    """CalibrationDataReader over recorded feeds."""

    def __init__(self, feeds: Feeds, names: list[str]) -> None:
        self._it = iter([{k: f[k] for k in names} for f in feeds])

    def get_next(self) -> dict | None:
        return next(self._it, None)


def _static(src: Path, dst: Path, feeds: Feeds, p: dict[str, Any], op_types: list[str], method: str) -> None:
    """quantize_static in QDQ form: weights int8 (per channel unless told otherwise), activations
    uint8 with ranges calibrated on recorded inputs."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    structure = load_graph(src, with_data=False)
    quantize_static(
        src,
        dst,
        _Reader(feeds[: p.get("calibration_clips", 16) * 4], [i.name for i in structure.graph.input]),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=op_types,
        per_channel=p.get("per_channel", True),
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method={
            "minmax": CalibrationMethod.MinMax,
            "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile,
        }[method],
        nodes_to_exclude=_excluded(structure, p.get("keep_fp", [])),
        use_external_data_format=_large(src),
        calibration_providers=["CPUExecutionProvider"],
        extra_options={"MatMulConstBOnly": True},
    )


def static_int8(src: Path, dst: Path, recipe: GraphRecipe, feeds: Feeds | None) -> Path:
    """int8 weights and activations with ranges calibrated on recorded inputs (QDQ format)."""
    if not feeds:
        raise EdgeASRError("static_int8 needs calibration audio")
    p = recipe.params
    work = dst.parent / f".{dst.stem}.work"
    work.mkdir(exist_ok=True)
    try:
        prepared, _ = _prepared(src, work)
        _static(prepared, dst, feeds, p, p.get("op_types", ["MatMul"]), p.get("calibrate_method", "minmax"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dst


def matmul_nbits(src: Path, dst: Path, recipe: GraphRecipe, feeds: Feeds | None) -> Path:
    """Weight-only 4/8-bit block quantization (MatMulNBits; the embedding table with
    GatherBlockQuantized when quantize_embedding is set; `head_bits` gives the output
    projection, and so the shared embedding, its own width; `static_conv` makes the convolutions
    static int8 first, ranges from calibration: ONNX Runtime's QLinearConv runs a 480-channel 3x3
    convolution 4x faster than its float Conv, which is half of Qwen3-ASR's encoder time)."""
    p = recipe.params
    if p.get("static_conv") and not feeds:
        raise EdgeASRError("static_conv needs calibration audio")
    work = dst.parent / f".{dst.stem}.work"
    try:
        if p.get("static_conv"):
            work.mkdir(exist_ok=True)
            model = load_graph(src)
            if own_conv_biases(model):
                save_graph(model, work / "biases.onnx")
                src = work / "biases.onnx"
            # min-max ranges: the stem's inputs are the bounded log-mel and GELU outputs
            _static(src, work / "conv.onnx", feeds, {**p, "keep_fp": []}, ["Conv"], "minmax")
            src = work / "conv.onnx"
        return _matmul_nbits(load_graph(src), dst, p)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _matmul_nbits(model: Any, dst: Path, p: dict[str, Any]) -> Path:
    """The MatMulNBits passes of `matmul_nbits` over a loaded graph."""
    tables = untie_output_projection(model)
    bits = p.get("bits", 4)
    keep = _excluded(model, p.get("keep_fp", []))
    heads = [
        n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in {f"{t}_transposed" for t in tables}
    ]
    head_bits = p.get("head_bits", bits)
    if heads and head_bits != bits:
        # the output projection first, alone, at its own width (NNCF keeps it 8-bit by default too)
        others = [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name not in heads]
        model = _nbits(model, head_bits, p, others + keep, ("MatMul",))
    # A tied table is re-shared with the quantized projection afterwards; a separate embedding
    # table can only be quantized by the tool in 4 bits.
    gather = p.get("quantize_embedding", True) and not tables and bits == 4
    model = _nbits(model, bits, p, keep, ("MatMul", "Gather") if gather else ("MatMul",))
    if p.get("quantize_embedding", True):
        for table in tables:
            share_nbits_embedding(model, table)
    if p.get("kv_cache") == "fp16":
        half_kv_cache(model)  # graphs without ONNX Runtime's attention node keep an fp32 cache
    save_graph(model, dst)
    return dst


def _nbits(model: Any, bits: int, p: dict[str, Any], exclude: list[str], ops: tuple[str, ...]) -> Any:
    """One MatMulNBitsQuantizer pass over `model` (an onnx.ModelProto); returns the new proto."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    q = MatMulNBitsQuantizer(
        model,
        bits=bits,
        block_size=p.get("block_size", 64),
        is_symmetric=p.get("symmetric", True),
        accuracy_level=p.get("accuracy_level", 4),
        nodes_to_exclude=exclude,
        op_types_to_quantize=ops,
        quant_axes=(("MatMul", 0), ("Gather", 1)),
    )
    q.process()
    return q.model.model


METHODS: dict[str, Callable[[Path, Path, GraphRecipe, Feeds | None], Path]] = {
    "none": none,
    "fp16": fp16,
    "dynamic_int8": dynamic_int8,
    "static_int8": static_int8,
    "matmul_nbits": matmul_nbits,
}


def apply(recipe: GraphRecipe, src: Path, dst: Path, feeds: Feeds | None) -> Path:
    """Quantize the ONNX graph `src` into `dst` (an .onnx path) following `recipe`."""
    return METHODS[recipe.method](src, dst, recipe, feeds)
