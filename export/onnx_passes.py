"""Small ONNX graph rewrites applied after tracing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def share_tied_embedding(model: Any, base_dir: Path | None = None) -> int:
    """Store a tied embedding once.

    The tracer constant-folds `x @ W.T` into a second, transposed copy of the embedding
    table W (for Whisper tiny.en 80 MB, for Qwen3-ASR-0.6B 622 MB in fp32). Where a MatMul's
    weight is exactly the transpose of a Gather table and its input is 2-D, the MatMul
    becomes Gemm(transB=1) on the table itself and the copy is dropped. Returns bytes saved.
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    tables = {n.input[0] for n in graph.node if n.op_type == "Gather" and n.input[0] in inits}
    inferred = onnx.shape_inference.infer_shapes(model)
    ranks = {
        v.name: len(v.type.tensor_type.shape.dim)
        for v in list(inferred.graph.value_info) + list(inferred.graph.input)
        if v.type.tensor_type.HasField("shape")
    }

    def array(t: Any) -> np.ndarray:
        return numpy_helper.to_array(t, base_dir=str(base_dir) if base_dir else "")

    saved = 0
    for idx, node in enumerate(list(graph.node)):
        if node.op_type != "MatMul" or node.input[1] not in inits or ranks.get(node.input[0]) != 2:
            continue
        weight = inits[node.input[1]]
        for name in tables:
            table = inits[name]
            if list(table.dims) != list(weight.dims)[::-1]:
                continue
            if not np.array_equal(array(table).T, array(weight)):
                continue
            gemm = helper.make_node(
                "Gemm",
                [node.input[0], name],
                list(node.output),
                name=node.name or f"tied_gemm_{idx}",
                transB=1,
            )
            graph.node.remove(node)
            graph.node.insert(idx, gemm)
            saved += int(np.prod(weight.dims)) * 4
            break
    used = {i for n in graph.node for i in n.input}
    for init in list(graph.initializer):
        if init.name not in used:
            graph.initializer.remove(init)
    return saved


def untie_output_projection(model: Any, base_dir: Path | None = None) -> list[str]:
    """Undo `share_tied_embedding` before quantizing: Gemm(x, W, transB=1) on a Gather table
    becomes MatMul(x, Wᵀ) with its own (d_model, vocab) copy, the form ONNX Runtime's
    quantizers recognise, so the output projection is quantized too. Returns the tables untied;
    each copy is named `<table>_transposed`."""
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    tables = {n.input[0] for n in graph.node if n.op_type == "Gather" and n.input[0] in inits}
    changed = []
    for idx, node in enumerate(list(graph.node)):
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        if node.op_type != "Gemm" or len(node.input) != 2 or node.input[1] not in tables or not trans_b:
            continue
        table = numpy_helper.to_array(inits[node.input[1]], base_dir=str(base_dir) if base_dir else "")
        name = node.input[1] + "_transposed"
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(table.T), name))
        matmul = helper.make_node("MatMul", [node.input[0], name], list(node.output), name=node.name)
        graph.node.remove(node)
        graph.node.insert(idx, matmul)
        changed.append(node.input[1])
    return changed
