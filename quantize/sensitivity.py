"""`edgeasr sensitivity`: rank a model's weight MatMuls by the damage that quantizing each one
alone does (mean KL of next-token distributions against fp32, teacher-forced along the fp32
artifact's greedy tokens), so a profile can keep the worst few in float (`keep_fp`)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from edgeasr.export.onnx_io import graph_files, load_graph, save_graph
from edgeasr.export.onnx_passes import untie_output_projection
from edgeasr.quantize.build import fp32_base
from edgeasr.runtime.artifact import MANIFEST
from edgeasr.runtime.audio import load_audio
from edgeasr.runtime.fidelity import compare
from edgeasr.runtime.model import load_model


def weight_matmuls(graph: Path) -> list[str]:
    """Names of MatMul nodes whose second input is a weight (what weight-only quantization touches)."""
    model = load_graph(graph, with_data=False)
    inits = {i.name for i in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type in ("MatMul", "Gemm") and n.input[1] in inits]


def _quantize_one(src: Path, dst: Path, node: str, bits: int, block_size: int) -> None:
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    model = load_graph(src)
    untie_output_projection(model)  # a tied Gemm output projection becomes a MatMul of the same name
    others = [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name != node]
    q = MatMulNBitsQuantizer(
        model, bits=bits, block_size=block_size, is_symmetric=False, accuracy_level=4, nodes_to_exclude=others
    )
    q.process()
    save_graph(q.model.model, dst)


def sensitivity(
    model: str,
    clips: list[Path],
    graphs: tuple[str, ...] = ("decoder", "encoder"),
    bits: int = 4,
    block_size: int = 64,
    tokens: int = 32,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """KL and top-1 agreement against fp32 when only one MatMul is quantized, worst first."""
    from tqdm import tqdm

    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeasr-sens-") as tmp:
        base = fp32_base(model, Path(tmp))
        manifest = json.loads((base / MANIFEST).read_text())
        ref = load_model(base, backend="onnxruntime")
        audios = [load_audio(c) for c in clips]
        work = Path(tmp) / "candidate"
        jobs = [(g, n) for g in graphs for n in weight_matmuls(base / manifest["graphs"][g]["file"])]
        for graph, node in tqdm(jobs[:limit], desc="sensitivity", unit="layer", disable=None):
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            for p in base.iterdir():
                os.link(p, work / p.name)  # the other files unchanged, without copying
            target = base / manifest["graphs"][graph]["file"]
            for p in graph_files(work / target.name):
                p.unlink()
            _quantize_one(target, work / target.name, node, bits, block_size)
            m = json.loads((work / MANIFEST).read_text())
            m["files"] = {}  # the replaced graph no longer matches the recorded sizes
            (work / MANIFEST).unlink()
            (work / MANIFEST).write_text(json.dumps(m))
            f = compare(ref, load_model(work, backend="onnxruntime"), audios, tokens=tokens)
            rows.append({"graph": graph, "node": node, "kl": f["kl_mean"], "top1": f["top1"]})
    return sorted(rows, key=lambda r: -r["kl"])
