"""What every family runtime provides to the model wrapper, the CLI and the server."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeasr.runtime.artifact import Artifact
from edgeasr.runtime.backends import Graph, open_graph
from edgeasr.runtime.decoding import KV_LAYOUT
from edgeasr.runtime.errors import EdgeASRError


@dataclass
class Prepared:
    """One clip made ready for decoding: its step model, prompt ids and encoder output."""

    step: object  # a decoding.StepModel
    prompt: list[int]
    encoded: np.ndarray


@dataclass
class Segment:
    """A stretch of the input with its text; times in seconds from the start of the input."""

    start: float
    end: float
    text: str


@dataclass
class Transcript:
    """One input's result, its segments, and where the time went."""

    text: str
    language: str | None = None
    tokens: list[int] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    duration: float = 0.0


class FamilyRuntime:
    """Base class: loads the artifact's graphs with one backend and thread count."""

    # Graphs whose ONNX Runtime session runs without a memory arena, which would otherwise keep
    # their largest activations allocated while the decoder runs (bench/PERF_NOTES.md, change 8).
    no_arena: tuple[str, ...] = ()

    max_seconds: float = 30.0  # longest audio one model call takes

    # Whether the encoder is fed inputs cut to the audio they hold rather than whole windows;
    # families whose graphs allow it set it from the manifest. Calibration sets it False: ONNX
    # Runtime's histogram calibrators stack each input's recorded arrays, so shapes must agree.
    trim_windows: bool = False

    def __init__(self, artifact: Artifact, backend: str, threads: int, precision: str | None) -> None:
        self.artifact = artifact
        self.manifest = artifact.manifest
        layout = self.manifest.get("decoder", {}).get("kv_layout")
        if layout != KV_LAYOUT:
            raise EdgeASRError(
                f"{artifact.path}: its decoder keeps the KV cache as {layout}, this runtime as {KV_LAYOUT}; "
                "export and quantize the model again with this edgeasr"
            )
        self.backend = backend
        self.threads = threads
        self.precision = precision
        # a graph built for another backend than the artifact's (a mixed profile) keeps it
        self.graph_backend = {name: e.get("backend", backend) for name, e in self.manifest["graphs"].items()}
        self.graphs: dict[str, Graph] = {
            name: open_graph(artifact.graph_path(name, b), b, threads, precision, arena=name not in self.no_arena)
            for name, b in self.graph_backend.items()
        }
        # "in_place": the decoder writes new K/V into the cache buffer bound to it (decoding.py)
        self.cache_mode = {
            name: artifact.graph_entry(name, b).get("cache", "returned") for name, b in self.graph_backend.items()
        }

    def use_portable_graphs(self) -> None:
        """Run the portable form of every graph that has a backend variant (calibration for
        another backend, and tests that compare the two forms)."""
        for name, b in self.graph_backend.items():
            if self.artifact.graph_entry(name, b) is not self.manifest["graphs"][name]:
                path = self.artifact.graph_path(name)
                self.graphs[name] = open_graph(path, b, self.threads, self.precision, arena=name not in self.no_arena)
                self.cache_mode[name] = self.manifest["graphs"][name].get("cache", "returned")

    kv_shape: tuple[int, int, int, int]

    def prepare(self, audio: np.ndarray, language: str | None = None, context: str | None = None) -> Prepared:
        """Encode one clip and build its prompt (teacher forcing, verification, fidelity)."""
        raise NotImplementedError

    def transcribe_batch(
        self,
        audios: list[np.ndarray],
        language: str | None = None,
        context: str | None = None,
        max_new_tokens: int | None = None,
        ignore_eos: bool = False,
    ) -> list[Transcript]:
        """Transcribe clips no longer than `max_seconds`, batched through encoder and decoder."""
        raise NotImplementedError
