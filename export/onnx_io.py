"""Writing ONNX graphs of any size with bounded memory: tensors are moved one at a time from
the tracer's scratch files into a single `<graph>.onnx.data` file beside the graph."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

# Graphs whose weights exceed this keep them in an external .data file, which ONNX Runtime
# memory-maps instead of parsing into the protobuf and copying (protobuf also caps a file at
# 2 GB): the 0.6B Qwen3-ASR int8 encoder (204 MB) loads at 270 MB RSS this way against 386 MB
# inline. Smaller graphs stay one self-contained file.
EXTERNAL_DATA_BYTES = 64_000_000


def initializer_bytes(model: Any) -> int:
    """Weight bytes of a graph, whether its tensors are inline or external."""
    from onnx import TensorProto, helper

    total = 0
    for t in model.graph.initializer:
        count = 1
        for d in t.dims:
            count *= d
        total += (
            count * helper.tensor_dtype_to_np_dtype(t.data_type).itemsize if t.data_type != TensorProto.STRING else 0
        )
    return total


def _duplicates(model: Any) -> bool:
    """Whether two large inline tensors hold the same bytes (a shared quantized table)."""
    import hashlib

    seen = set()
    for t in model.graph.initializer:
        if t.HasField("raw_data") and len(t.raw_data) >= 1 << 20:
            digest = hashlib.sha1(t.raw_data).digest()
            if digest in seen:
                return True
            seen.add(digest)
    return False


def save_graph(model: Any, path: Path, base_dir: Path | None = None) -> Path:
    """Save `model` to `path`. Tensors stored externally under `base_dir` are streamed into
    `path`.data one at a time (never all in memory); tensors with identical bytes are stored
    once; small graphs without shared tensors are saved inline as one file."""
    import hashlib

    import onnx
    from onnx.external_data_helper import load_external_data_for_tensor, set_external_data, uses_external_data

    path = Path(path)
    if initializer_bytes(model) <= EXTERNAL_DATA_BYTES and not _duplicates(model):
        if base_dir is not None:
            onnx.external_data_helper.load_external_data_for_model(model, str(base_dir))
        onnx.save_model(model, str(path))
        return path
    data_name = path.name + ".data"
    offset = 0
    written: dict[bytes, tuple[int, int]] = {}
    with open(path.parent / data_name, "wb") as out:
        for t in model.graph.initializer:
            if uses_external_data(t):
                load_external_data_for_tensor(t, str(base_dir))
                t.data_location = onnx.TensorProto.DEFAULT
                del t.external_data[:]
            if not t.HasField("raw_data"):
                t.raw_data = onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(t)).raw_data
                for field in ("float_data", "int32_data", "int64_data", "double_data"):
                    t.ClearField(field)
            raw = t.raw_data
            if len(raw) < 1024:  # tiny tensors stay inline
                continue
            digest = hashlib.sha1(raw).digest()
            if digest not in written:
                pad = (-offset) % 64  # 64-byte alignment lets runtimes memory-map tensors
                out.write(b"\0" * pad)
                offset += pad
                out.write(raw)
                written[digest] = (offset, len(raw))
                offset += len(raw)
            set_external_data(t, data_name, *written[digest])
            t.ClearField("raw_data")
            t.data_location = onnx.TensorProto.EXTERNAL
    onnx.save_model(model, str(path))
    return path


def load_graph(path: Path, with_data: bool = True) -> Any:
    """Load a graph; `with_data=False` keeps external tensors on disk (structure only)."""
    import onnx

    return onnx.load(str(path), load_external_data=with_data)


def graph_files(path: Path) -> list[Path]:
    """The graph file and its external data file, if any."""
    data = path.with_name(path.name + ".data")
    return [path, data] if data.exists() else [path]


def remove_graph(path: Path) -> None:
    for p in graph_files(path):
        p.unlink()


def scratch_dir(path: Path) -> Path:
    d = path.parent / f".{path.name}.scratch"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    return d
