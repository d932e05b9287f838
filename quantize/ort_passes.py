"""Graph rewrites around ONNX Runtime quantization.

A tied embedding is one (vocab, d_model) table read two ways: the token lookup (Gather) and
the output projection. Quantizers treat them as two weights, so a quantized decoder would
store the table twice (for Whisper tiny.en that is 40 of the 64 MB of an int8 build). The
passes here make the lookup read the output projection's quantized weights instead: one
table, quantized per vocabulary row, serves both.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _inits(model: Any) -> dict[str, Any]:
    return {i.name: i for i in model.graph.initializer}


def _drop_unused(model: Any) -> None:
    used = {i for n in model.graph.node for i in n.input}
    for init in list(model.graph.initializer):
        if init.name not in used:
            model.graph.initializer.remove(init)


def _lookup(model: Any, table_prefix: str) -> Any:
    """The embedding lookup node: a Gather / GatherBlockQuantized on the table."""
    for n in model.graph.node:
        if n.op_type in ("Gather", "GatherBlockQuantized") and n.input[0].startswith(table_prefix):
            return n
    return None


def share_nbits_embedding(model: Any, table: str) -> bool:
    """Make the lookup a GatherBlockQuantized over the MatMulNBits output projection's blocks.

    MatMulNBits stores Wᵀ quantized along K = d_model per output column, i.e. every row of W
    in blocks, with packed weights (V, blocks, blob), scales (V, blocks) and packed zero points
    (V, ceil(blocks * bits / 8)): exactly GatherBlockQuantized's layout for uint8 data quantized
    along axis 1, once the weights are viewed as (V, blocks * blob).
    """
    from onnx import helper, numpy_helper

    inits = _inits(model)
    proj = next(
        (n for n in model.graph.node if n.op_type == "MatMulNBits" and n.input[1].startswith(f"{table}_transposed")),
        None,
    )
    lookup = _lookup(model, table)
    if proj is None or lookup is None:
        return False
    attrs = {a.name: helper.get_attribute_value(a) for a in proj.attribute}
    if attrs["K"] % attrs["block_size"]:
        return False  # the last block is padded: rows would come back longer than d_model
    packed = numpy_helper.to_array(inits[proj.input[1]])
    data = numpy_helper.from_array(packed.reshape(packed.shape[0], -1), f"{table}_rows_q{attrs['bits']}")
    model.graph.initializer.append(data)  # same bytes as the projection's: stored once (see onnx_io)
    inputs = [data.name, lookup.input[1], proj.input[2]]
    if len(proj.input) > 3 and proj.input[3]:
        inputs.append(proj.input[3])
    gbq = helper.make_node(
        "GatherBlockQuantized",
        inputs,
        list(lookup.output),
        name=lookup.name + "_shared",
        domain="com.microsoft",
        bits=attrs["bits"],
        block_size=attrs["block_size"],
        gather_axis=0,
        quantize_axis=1,
    )
    idx = list(model.graph.node).index(lookup)
    model.graph.node.remove(lookup)
    model.graph.node.insert(idx, gbq)
    _drop_unused(model)
    return True


def share_int8_embedding(model: Any, table: str) -> bool:
    """Make the lookup read the dynamic-int8 output projection (Wᵀ int8, one scale per vocab
    entry, zero points 0): Gather the token's column, cast, transpose, scale."""
    from onnx import TensorProto, helper, numpy_helper

    inits = _inits(model)
    qname, sname, zname = (f"{table}_transposed_{s}" for s in ("quantized", "scale", "zero_point"))
    lookup = _lookup(model, table)
    if lookup is None or qname not in inits or sname not in inits:
        return False
    if zname in inits and np.any(numpy_helper.to_array(inits[zname])):
        return False  # asymmetric weights: not a plain scale
    consumers = [n for n in model.graph.node if lookup.output[0] in n.input]
    dequant = consumers[0] if len(consumers) == 1 and consumers[0].op_type == "DequantizeLinear" else None
    out = dequant.output[0] if dequant is not None else lookup.output[0]
    ids = lookup.input[1]
    p = f"{table}_shared"
    nodes = [
        helper.make_node("Gather", [qname, ids], [f"{p}_cols"], name=f"{p}_gather", axis=1),
        helper.make_node("Cast", [f"{p}_cols"], [f"{p}_colsf"], name=f"{p}_cast", to=TensorProto.FLOAT),
        helper.make_node("Transpose", [f"{p}_colsf"], [f"{p}_rows"], name=f"{p}_transpose", perm=[1, 2, 0]),
        helper.make_node("Gather", [sname, ids], [f"{p}_scale"], name=f"{p}_scale_gather", axis=0),
        helper.make_node("Unsqueeze", [f"{p}_scale", f"{p}_axis"], [f"{p}_scale3"], name=f"{p}_unsqueeze"),
        helper.make_node("Mul", [f"{p}_rows", f"{p}_scale3"], [out], name=f"{p}_mul"),
    ]
    model.graph.initializer.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), f"{p}_axis"))
    idx = list(model.graph.node).index(lookup)
    for old in [lookup] + ([dequant] if dequant is not None else []):
        model.graph.node.remove(old)
    for k, node in enumerate(nodes):
        model.graph.node.insert(idx + k, node)
    _drop_unused(model)
    return True


def own_conv_biases(model: Any) -> int:
    """Give every Conv its own bias initializer. The exporter merges equal constants (a random
    model's zero biases: three convolutions reading one tensor through Identity nodes); static
    quantization then scales that one bias for the first convolution only, and ONNX Runtime
    cannot fuse the others into QLinearConv. Returns how many biases were copied."""
    from onnx import numpy_helper

    inits = _inits(model)
    source = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Identity"}
    readers: dict[str, int] = {}
    convs = [n for n in model.graph.node if n.op_type == "Conv" and len(n.input) > 2 and n.input[2]]
    for n in convs:
        name = source.get(n.input[2], n.input[2])
        readers[name] = readers.get(name, 0) + 1
    copied = 0
    for n in convs:
        name = source.get(n.input[2], n.input[2])
        if name in inits and (readers[name] > 1 or name != n.input[2]):
            own = numpy_helper.from_array(numpy_helper.to_array(inits[name]).copy(), f"{n.name}.bias")
            model.graph.initializer.append(own)
            n.input[2] = own.name
            copied += 1
    return copied


def half_kv_cache(model: Any) -> bool:
    """Run every GroupQueryAttention node on an fp16 KV cache: its cache inputs and outputs
    become fp16 graph inputs and outputs (the runtime's buffer is fp16, half the memory: 0.6B
    Qwen3-ASR, 60 s clip, ~190 MiB -> ~95 MiB), q/k/v and the mask are cast to fp16 before it,
    its output back to fp32 after. Returns whether the graph had such nodes."""
    from onnx import TensorProto, helper

    if not any(n.op_type == "GroupQueryAttention" for n in model.graph.node):
        return False
    cast: dict[str, str] = {}
    cache: set[str] = set()
    nodes = []
    for n in model.graph.node:
        if n.op_type != "GroupQueryAttention":
            nodes.append(n)
            continue
        for i in (0, 1, 2, 10):  # query, key, value, attention_bias
            name = n.input[i] if i < len(n.input) else ""
            if name and name not in cast:
                cast[name] = f"{name}/fp16"
                nodes.append(
                    helper.make_node("Cast", [name], [cast[name]], name=f"{name}/to_fp16", to=TensorProto.FLOAT16)
                )
            if name:
                n.input[i] = cast[name]
        cache.update((n.input[3], n.input[4], n.output[1], n.output[2]))
        out = n.output[0]
        n.output[0] = f"{out}/fp16"
        nodes += [n, helper.make_node("Cast", [n.output[0]], [out], name=f"{out}/to_fp32", to=TensorProto.FLOAT)]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    for vi in [*model.graph.input, *model.graph.output]:
        if vi.name in cache:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT16
    return True
