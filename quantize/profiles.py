"""Profiles: named, reproducible recipes (profiles/*.yaml) that turn an fp32 export into an
artifact. A profile names the backend, one quantization method per graph with its
parameters, the runtime settings it was meant for, and the fidelity it must keep."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from edgeasr.runtime.backends import BACKENDS
from edgeasr.runtime.config import Document, Field, read_yaml, validate
from edgeasr.runtime.errors import EdgeASRError

_PATTERNS = Field(list, items=Field(str))
_CLIPS = Field(int)

# method -> (backends it runs on, its parameters)
METHODS: dict[str, tuple[tuple[str, ...], dict[str, Field]]] = {
    "none": (("onnxruntime", "openvino"), {}),
    "fp16": (("onnxruntime", "openvino"), {}),
    "dynamic_int8": (
        ("onnxruntime",),
        {
            "per_channel": Field(bool),
            "reduce_range": Field(bool),
            "op_types": Field(list, items=Field(str, choices=("MatMul", "Gather", "Conv", "Gemm"))),
            "keep_fp": _PATTERNS,
        },
    ),
    "static_int8": (
        ("onnxruntime",),
        {
            "per_channel": Field(bool),
            "calibration_clips": _CLIPS,
            "calibrate_method": Field(str, choices=("minmax", "entropy", "percentile")),
            "op_types": Field(list, items=Field(str, choices=("MatMul", "Conv", "Gemm"))),
            "keep_fp": _PATTERNS,
        },
    ),
    "matmul_nbits": (
        ("onnxruntime",),
        {
            "bits": Field(int, choices=(4, 8)),
            "head_bits": Field(int, choices=(4, 8)),
            "block_size": Field(int, choices=(16, 32, 64, 128, 256)),
            "accuracy_level": Field(int, choices=(0, 1, 2, 3, 4)),
            "symmetric": Field(bool),
            "quantize_embedding": Field(bool),
            "static_conv": Field(bool),
            "kv_cache": Field(str, choices=("fp32", "fp16")),
            "calibration_clips": _CLIPS,
            "keep_fp": _PATTERNS,
        },
    ),
    "nncf_weights": (
        ("openvino",),
        {
            "mode": Field(str, choices=("int8_asym", "int8_sym", "int4_sym", "int4_asym")),
            "group_size": Field(int),
            "ratio": Field(float),
            "all_layers": Field(bool),
            "awq": Field(bool),
            "scale_estimation": Field(bool),
            "calibration_clips": _CLIPS,
            "keep_fp": _PATTERNS,
        },
    ),
    "nncf_static": (
        ("openvino",),
        {
            "preset": Field(str, choices=("performance", "mixed")),
            "calibration_clips": _CLIPS,
            "fast_bias_correction": Field(bool),
            "keep_fp": _PATTERNS,
        },
    ),
}

PROFILE_SPEC = {
    "name": Field(str, required=True),
    "description": Field(str, required=True),
    "backend": Field(str, required=True, choices=BACKENDS),
    "graphs": Field(dict, required=True, values=Field(dict)),
    "runtime": Field(dict, fields={"inference_precision": Field((str, type(None)), choices=("f32", "bf16", "f16"))}),
    "verify": Field(
        dict,
        fields={
            "min_top1": Field(float),
            "min_logits_cosine": Field(float),
            "max_kl": Field(float),
            "min_encoder_cosine": Field(float),
        },
    ),
}


@dataclass
class GraphRecipe:
    """How one graph is built: a method and its parameters, and the backend that runs it when
    it is not the profile's (a profile may pair, e.g., OpenVINO's encoder with ONNX Runtime's
    decoder)."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    backend: str | None = None

    @property
    def precision(self) -> str:
        """A short label for reports (fp32, fp16, int8, int4, int8-static, ...)."""
        p = self.params
        return {
            "none": "fp32",
            "fp16": "fp16",
            "dynamic_int8": "int8-dynamic",
            "static_int8": "int8-static",
            "matmul_nbits": f"int{p.get('bits', 4)}-weights" + ("+int8-conv" if p.get("static_conv") else ""),
            "nncf_weights": f"{str(p.get('mode', 'int8_asym')).split('_')[0]}-weights",
            "nncf_static": "int8-static",
        }[self.method]

    @property
    def needs_calibration(self) -> bool:
        return self.method in ("static_int8", "nncf_static") or bool(
            self.params.get("awq") or self.params.get("scale_estimation") or self.params.get("static_conv")
        )


@dataclass
class Profile:
    """A validated profile file."""

    name: str
    description: str
    backend: str
    graphs: dict[str, GraphRecipe]
    runtime: dict[str, Any] = field(default_factory=dict)
    verify: dict[str, float] = field(default_factory=dict)
    path: Path | None = None

    def recipe(self, graph: str) -> GraphRecipe:
        return self.graphs.get(graph) or self.graphs.get("default") or GraphRecipe("none")

    def graph_backend(self, graph: str) -> str:
        """The backend that runs this graph: its recipe's own, else the profile's."""
        return self.recipe(graph).backend or self.backend

    def to_manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "backend": self.backend,
            "graphs": {
                g: {"method": r.method, **r.params, **({"backend": r.backend} if r.backend else {})}
                for g, r in self.graphs.items()
            },
            "runtime": self.runtime,
            "verify": self.verify,
        }


def profiles_dir() -> Path:
    return Path(str(resources.files("edgeasr.profiles")))


def profile_names() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))


def parse_profile(doc: Document) -> Profile:
    """Validate a parsed YAML document into a Profile."""
    validate(doc, PROFILE_SPEC)
    data = doc.data
    if data["name"] != doc.path.stem:
        raise EdgeASRError(f"{doc.where(('name',))}: field 'name' is {data['name']!r} but the file is {doc.path.name}")
    graphs = {}
    for graph, settings in data["graphs"].items():
        keys = ("graphs", str(graph))
        if "method" not in settings:
            raise EdgeASRError(f"{doc.where(keys)}: missing required field 'graphs.{graph}.method'")
        method = settings["method"]
        if method not in METHODS:
            raise EdgeASRError(
                f"{doc.where((*keys, 'method'))}: field 'graphs.{graph}.method' is {method!r}; "
                f"allowed: {', '.join(METHODS)}"
            )
        backends, spec = METHODS[method]
        own = settings.get("backend")
        if own is not None and own not in BACKENDS:
            raise EdgeASRError(
                f"{doc.where((*keys, 'backend'))}: field 'graphs.{graph}.backend' is {own!r}; "
                f"allowed: {', '.join(BACKENDS)}"
            )
        if (own or data["backend"]) not in backends:
            raise EdgeASRError(
                f"{doc.where((*keys, 'method'))}: method {method!r} runs on {', '.join(backends)}, "
                f"not on backend {own or data['backend']!r}"
            )
        params = {k: v for k, v in settings.items() if k not in ("method", "backend")}
        validate(doc, spec, params, keys)
        graphs[str(graph)] = GraphRecipe(method, params, own if own != data["backend"] else None)
    return Profile(
        name=data["name"],
        description=data["description"],
        backend=data["backend"],
        graphs=graphs,
        runtime=data.get("runtime") or {},
        verify=data.get("verify") or {},
        path=doc.path,
    )


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name (profiles/NAME.yaml) or any profile file by path."""
    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml"):
        p = profiles_dir() / f"{name_or_path}.yaml"
        if not p.is_file():
            raise EdgeASRError(f"unknown profile {name_or_path!r}; shipped: {', '.join(profile_names())}")
    return parse_profile(read_yaml(p))
