"""The narrowest graph interface both ONNX Runtime and OpenVINO satisfy: load a graph file
with a thread count and a precision hint, then run named numpy inputs to named outputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np

from edgeasr.runtime import ov_cache
from edgeasr.runtime.errors import EdgeASRError

BACKENDS = ("onnxruntime", "openvino")


class Graph(Protocol):
    """A loaded, ready-to-run graph."""

    input_names: list[str]
    output_names: list[str]
    precision: str  # the precision the backend actually computes in

    def run(
        self, feeds: dict[str, np.ndarray], release: bool = False, in_place: dict[str, str] | None = None
    ) -> dict[str, np.ndarray]:
        """Run the graph; returns every output by name. `release`: give the memory this call
        needed beyond the usual back to the system afterwards (a long prefill). `in_place`:
        outputs (name -> input name) written into that input's array, not returned."""
        ...


def default_threads() -> int:
    """Physical parallelism available to this process (respects CPU affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


class OrtGraph:
    """ONNX Runtime CPU session; inputs are passed without copies when contiguous. One caller
    at a time (the kept I/O binding), as for OvGraph's single infer request."""

    def __init__(self, path: Path, threads: int, precision: str | None = None, arena: bool = True) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise EdgeASRError("the onnxruntime backend is not installed: pip install 'edgeasr[onnxruntime]'") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # An arena keeps its high-water mark of activations for the session's lifetime: right for
        # a decoder (many small, repeated allocations per step), wasteful for a graph that runs
        # once per utterance, whose large buffers would sit beside the decoder's while decoding.
        opts.enable_cpu_mem_arena = arena
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises several internal types
            raise EdgeASRError(f"{path}: onnxruntime cannot load the graph ({str(exc).splitlines()[0]})") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.precision = "as stored"  # the CPU provider computes each op in its graph's own type
        # Shrinking returns the arena's chunks that a call grew and no longer uses: after a 60 s
        # clip's prefill (0.6B int8) the decoder's arena otherwise keeps ~400 MB it never needs again
        self.release_opts = ort.RunOptions()
        self.release_opts.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        # run(in_place=...): (where the cache buffers are, the binding, the outputs it returns)
        self._binding: tuple[tuple, object, list[str]] | None = None

    def run(
        self, feeds: dict[str, np.ndarray], release: bool = False, in_place: dict[str, str] | None = None
    ) -> dict[str, np.ndarray]:
        """Run the session on the feeds it declares; outputs named in `in_place` are bound to
        their input's memory (the array must be C-contiguous), the others returned."""
        opts = self.release_opts if release else None
        if not in_place:
            outs = self.session.run(None, {k: feeds[k] for k in self.input_names}, opts)
            return dict(zip(self.output_names, outs))
        inputs = set(in_place.values())
        key = tuple((name, feeds[name].ctypes.data, feeds[name].shape) for name in sorted(inputs))
        if self._binding is None or self._binding[0] != key:  # the buffer moved: bind it again
            io = self.session.io_binding()
            for out, name in in_place.items():
                arr = feeds[name]
                if not arr.flags.c_contiguous:
                    raise EdgeASRError(f"{out}: an in-place output needs a contiguous input array ({name})")
                io.bind_input(name, "cpu", 0, arr.dtype.type, arr.shape, arr.ctypes.data)
                io.bind_output(out, "cpu", 0, arr.dtype.type, arr.shape, arr.ctypes.data)
            returned = [n for n in self.output_names if n not in in_place]
            for name in returned:
                io.bind_output(name, "cpu")
            self._binding = (key, io, returned)  # kept: binding 56 cache views costs ~0.8 ms a step at 0.6B
        _, io, returned = self._binding
        alive = {n: np.ascontiguousarray(feeds[n]) for n in self.input_names if n not in inputs}  # held until run
        for name, arr in alive.items():
            io.bind_input(name, "cpu", 0, arr.dtype.type, arr.shape, arr.ctypes.data)
        self.session.run_with_iobinding(io, opts)
        values = io.get_outputs()
        # copied: the kept binding's output buffers are reused by the next call
        return {name: np.array(values[len(in_place) + i].numpy()) for i, name in enumerate(returned)}


class OvGraph:
    """OpenVINO CPU compiled model with a single infer request reused across calls."""

    def __init__(self, path: Path, threads: int, precision: str | None = None) -> None:
        try:
            import openvino as ov
            import openvino.properties as props
            import openvino.properties.hint as hints
        except ImportError:
            raise EdgeASRError("the openvino backend is not installed: pip install 'edgeasr[openvino]'") from None
        config: dict[str, object] = {
            props.inference_num_threads: threads,
            hints.performance_mode: hints.PerformanceMode.LATENCY,
            hints.num_requests: 1,
        }
        if precision:
            config[hints.inference_precision] = {
                "f32": ov.Type.f32,
                "bf16": ov.Type.bf16,
                "f16": ov.Type.f16,
            }[precision]
        cache = ov_cache.folder_for(path)
        if cache is not None:
            config["CACHE_DIR"] = str(cache)
        try:
            core = ov.Core()
            model = core.read_model(str(path))  # memory-mapped: reading the ports touches no weights
            # Names come from the graph as stored: compilation may rename a port after fusing
            # the node that produced it. Inputs and outputs are then addressed by position.
            self.input_names = [p.get_any_name() for p in model.inputs]
            self.output_names = [p.get_any_name() for p in model.outputs]
            del model
            # compiled from the path, so a cached compilation is found by path, not by hashing weights
            self.compiled = core.compile_model(str(path), "CPU", config)
        except Exception as exc:
            raise EdgeASRError(f"{path}: openvino cannot load the graph ({str(exc).splitlines()[0]})") from None
        self.request = self.compiled.create_infer_request()
        self.precision = str(self.compiled.get_property(hints.inference_precision))

    def run(
        self, feeds: dict[str, np.ndarray], release: bool = False, in_place: dict[str, str] | None = None
    ) -> dict[str, np.ndarray]:
        """Run the request; outputs are copied out because the request reuses its buffers.
        (`release` has no OpenVINO counterpart: the plugin manages its own memory; graphs with
        in-place outputs are ONNX Runtime variants, never loaded here.)"""
        if in_place:
            raise EdgeASRError("openvino runs no graph with in-place outputs")
        res = self.request.infer([feeds[k] for k in self.input_names], share_inputs=True)
        return {name: np.array(res[out]) for name, out in zip(self.output_names, self.compiled.outputs)}


def open_graph(
    path: Path, backend: str, threads: int | None = None, precision: str | None = None, arena: bool = True
) -> Graph:
    """Load one graph file with the named backend; `arena=False` returns ONNX Runtime's
    activation memory to the system after each run (graphs run once per utterance)."""
    threads = threads or default_threads()
    if backend == "onnxruntime":
        return OrtGraph(path, threads, precision, arena)
    if backend == "openvino":
        return OvGraph(path, threads, precision)
    raise EdgeASRError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
