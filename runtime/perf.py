"""Speed limits of this machine for decoding: memory read bandwidth measured here, and how
many bytes a decoder step must read (its weights as stored, plus the KV cache), so a bench can
say how close a build comes to the bandwidth ceiling."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from edgeasr.runtime.artifact import Artifact


def read_bandwidth(threads: int = 2, megabytes: int = 1024, repeats: int = 5) -> float:
    """Sustained read bandwidth in GB/s: `threads` threads summing disjoint parts of an array
    much larger than the caches (numpy releases the GIL while it sums); best of `repeats`."""
    a = np.ones(megabytes * 1024 * 1024 // 4, dtype=np.float32)
    parts = np.array_split(a, threads)
    best = float("inf")
    for _ in range(repeats):
        workers = [threading.Thread(target=p.sum) for p in parts]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = min(best, time.perf_counter() - t0)
    return a.nbytes / best / 1e9


def graph_bytes(artifact: Artifact, graph: str) -> int:
    """Bytes of the files of the graph the artifact's backend runs (weights dominate): what one
    full pass reads. An fp32 export also holds ONNX Runtime's form of a graph; only one counts."""
    file = artifact.graph_entry(graph, artifact.backend)["file"]
    mine = {file, f"{file}.data", f"{Path(file).with_suffix('.bin')}"}
    return sum(f["bytes"] for name, f in artifact.manifest["files"].items() if name in mine)


def kv_bytes_per_position(artifact: Artifact) -> int:
    """K and V of one cached position across all layers, in the cache's dtype (fp32 unless the
    profile chose fp16): what each step re-reads per token of context."""
    d = artifact.manifest["decoder"]
    dtype = artifact.graph_entry("decoder", artifact.backend).get("kv_dtype", "float32")
    return d["layers"] * 2 * d["heads"] * d["head_dim"] * np.dtype(dtype).itemsize


def decode_ceiling_ms(artifact: Artifact, context: int, bandwidth_gbs: float, embedding_bytes: int = 0) -> float:
    """Fastest possible decoder step (ms) if it only had to stream its bytes at `bandwidth_gbs`:
    the decoder's weights (minus the embedding table, of which a step reads one row) and the
    KV cache of `context` positions."""
    need = graph_bytes(artifact, "decoder") - embedding_bytes + context * kv_bytes_per_position(artifact)
    return need / (bandwidth_gbs * 1e9) * 1000
