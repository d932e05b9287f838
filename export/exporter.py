"""Export any supported family to ONNX or OpenVINO IR, graph by graph, through one code
path: torch -> ONNX (TorchScript exporter) -> optionally OpenVINO IR via its ONNX frontend."""

from __future__ import annotations

import gc
import shutil
import time
from pathlib import Path
from typing import Any

from edgeasr.export.artifact_writer import staging_dir, tool_versions, write_manifest
from edgeasr.export.families import GraphSpec, export_family
from edgeasr.export.onnx_io import load_graph, save_graph, scratch_dir
from edgeasr.export.onnx_passes import share_tied_embedding
from edgeasr.export.sources import LoadedModel, load_source
from edgeasr.runtime.errors import EdgeASRError

FORMATS = {"onnx": "onnxruntime", "openvino": "openvino"}
# Default verification tolerances of an unquantized fp32 artifact (max |diff| vs PyTorch).
FP32_TOLERANCE = {"encoder_atol": 2e-4, "logits_atol": 1e-3, "greedy_match": True}


def export_onnx(spec: GraphSpec, path: Path, opset: int = 17) -> Path:
    """Trace one graph to ONNX. The tracer writes a graph over 2 GB as one file per tensor in
    a scratch folder; those are merged into one .data file without loading them all."""
    import torch

    scratch = scratch_dir(path)
    try:
        with torch.no_grad():
            torch.onnx.export(
                spec.module,
                spec.example,
                str(scratch / "graph.onnx"),
                input_names=list(spec.inputs),
                output_names=list(spec.outputs),
                dynamic_axes=spec.dynamic_axes(),
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        model = load_graph(scratch / "graph.onnx", with_data=False)
        share_tied_embedding(model, scratch)
        save_graph(model, path, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return path


def to_openvino(onnx_path: Path, xml_path: Path) -> Path:
    """Convert an ONNX graph to OpenVINO IR, keeping fp32 weights (no silent fp16 compression)."""
    import openvino as ov

    ov.save_model(read_onnx_for_openvino(onnx_path), str(xml_path), compress_to_fp16=False)
    return xml_path


def read_onnx_for_openvino(onnx_path: Path):  # noqa: ANN201 - an openvino.Model
    """An ONNX graph as an OpenVINO model: what `openvino.convert_model` does for ONNX (the ONNX
    frontend, then the MOC transformations), without its telemetry, whose sender forks a
    process that blocks on a machine without network access (and a build must not phone home).

    The MOC transformations matter: NNCF's data-aware int4 (AWQ, scale estimation) applied to
    the frontend's raw graph corrupted the Whisper decoder (KL 12.9 against fp32, against
    0.007 after them).
    """
    import openvino as ov
    from openvino._offline_transformations import apply_fused_names_cleanup, apply_moc_transformations

    model = ov.Core().read_model(str(onnx_path))
    apply_moc_transformations(model, cf=False, smart_reshape=True)
    apply_fused_names_cleanup(model)
    return model


def copy_vad(dst: Path) -> dict[str, str] | None:
    """Put Silero VAD's 16 kHz ONNX model (from the silero-vad package, MIT licence) in the
    artifact as vad.onnx, so the runtime cuts long audio at pauses without importing the
    package (which needs torch). Without the package, the runtime falls back to energy."""
    import importlib.util
    from importlib.metadata import version

    spec = importlib.util.find_spec("silero_vad")
    if spec is None or spec.origin is None:
        return None
    src = Path(spec.origin).parent / "data" / "silero_vad_16k_op15.onnx"
    if not src.is_file():
        return None
    shutil.copyfile(src, dst / "vad.onnx")
    return {"file": "vad.onnx", "model": f"silero-vad {version('silero-vad')} ({src.name}, MIT licence)"}


def graph_io(spec: GraphSpec) -> dict[str, Any]:
    return {
        "inputs": {k: list(v) for k, v in spec.inputs.items()},
        "outputs": {k: list(v) for k, v in spec.outputs.items()},
    }


def export_loaded(loaded: LoadedModel, fmt: str, out: Path, force: bool = False, opset: int = 17) -> dict[str, Any]:
    """Export an already loaded model; returns the manifest written."""
    if fmt not in FORMATS:
        raise EdgeASRError(f"unknown format {fmt!r}; choose onnx or openvino")
    fam = export_family(loaded.family)
    fam.prepare(loaded)
    t0 = time.perf_counter()
    with staging_dir(out, force) as tmp:
        graphs: dict[str, Any] = {}
        for spec in fam.graphs(loaded):
            if spec.backend is not None and spec.backend != FORMATS[fmt]:
                continue
            stem = spec.name if spec.backend is None else f"{spec.name}.{spec.backend}"
            onnx_path = export_onnx(spec, tmp / f"{stem}.onnx", opset)
            entry = {"file": onnx_path.name, **graph_io(spec), "precision": "fp32", "cache": spec.cache}
            if spec.backend is not None:  # a variant: beside the portable graph, which builds for other backends
                graphs[spec.name].setdefault("variants", {})[spec.backend] = entry
                continue
            if fmt == "openvino":
                xml = to_openvino(onnx_path, tmp / f"{spec.name}.xml")
                for p in tmp.glob(f"{spec.name}.onnx*"):
                    p.unlink()
                entry["file"] = xml.name
            graphs[spec.name] = entry
            del spec
            gc.collect()
        (tmp / "tokenizer.json").write_text(loaded.tokenizer_json)
        vad = copy_vad(tmp)
        manifest = {
            "family": loaded.family,
            "backend": FORMATS[fmt],
            "source": {"model": loaded.source, "kind": loaded.source_kind, "name": loaded.name},
            "graphs": graphs,
            "tokenizer": "tokenizer.json",
            "vad": vad,
            **fam.manifest_facts(loaded),
            "runtime": {"inference_precision": "f32"},
            "profile": {"name": f"{'ort' if fmt == 'onnx' else 'ov'}-fp32", "precision": "fp32"},
            "verify": dict(FP32_TOLERANCE),
            "export": {"opset": opset, "seconds": None},
            "tools": tool_versions(),
        }
        manifest["export"]["seconds"] = round(time.perf_counter() - t0, 1)
        written = write_manifest(tmp, manifest)
    return written


def export_model(model: str, fmt: str, out: Path, force: bool = False, opset: int = 17) -> dict[str, Any]:
    """`edgeasr export`: load a source and export it."""
    return export_loaded(load_source(model), fmt, Path(out), force, opset)
