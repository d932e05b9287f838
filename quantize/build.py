"""`edgeasr build`: model source + profile -> artifact. The fp32 ONNX export is the common
starting point for every profile (an existing fp32 ONNX artifact can be given instead of a
model, so `make artifacts` exports once and quantizes many times, without torch)."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from edgeasr.export.artifact_writer import staging_dir, tool_versions, write_manifest
from edgeasr.quantize import ort, ov
from edgeasr.quantize.calibration import calibration_clips, clips_hash, record_feeds
from edgeasr.quantize.profiles import Profile, load_profile
from edgeasr.runtime.artifact import MANIFEST, Artifact, load_artifact
from edgeasr.runtime.errors import EdgeASRError

# Fidelity every profile must keep unless it states its own (see `verify` in the YAML).
DEFAULT_VERIFY = {"min_top1": 0.9}


def is_fp32_onnx_artifact(path: Path) -> bool:
    m = path / MANIFEST
    if not m.is_file():
        return False
    manifest = json.loads(m.read_text())
    return manifest.get("backend") == "onnxruntime" and manifest.get("profile", {}).get("precision") == "fp32"


def fp32_base(model: str, work: Path) -> Path:
    """An fp32 ONNX artifact for `model`: the directory itself if it is one, else an export."""
    p = Path(model)
    if p.is_dir() and (p / MANIFEST).is_file():
        if not is_fp32_onnx_artifact(p):
            raise EdgeASRError(f"{p}: only an fp32 ONNX artifact can be the base of a build")
        load_artifact(p)
        return p
    from edgeasr.export.exporter import export_model

    out = work / "fp32"
    export_model(model, "onnx", out)
    return out


def build(
    model: str,
    profile: str | Path | Profile,
    out: Path,
    calibration: Path | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Build one profile's artifact; returns its manifest."""
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgeasr-build-") as tmpdir:
        base = fp32_base(model, Path(tmpdir))
        base_manifest = json.loads((base / MANIFEST).read_text())
        base_art = Artifact(base, base_manifest)  # graph_entry: a graph's form for a backend
        graph_names = list(base_manifest["graphs"])
        needs = {g for g in graph_names if prof.recipe(g).needs_calibration}
        feeds, calib = {}, None
        if needs:
            count = max(prof.recipe(g).params.get("calibration_clips", 16) for g in needs)
            clips = calibration_clips(calibration, count)
            for g in needs:
                entry = base_art.graph_entry(g, prof.graph_backend(g))
                if entry.get("cache") == "in_place" and prof.recipe(g).method == "static_int8":
                    raise EdgeASRError(
                        f"{g}: static int8 needs the graph's activations recorded, which ONNX Runtime's form of "
                        "this decoder (cache written in place) does not allow; quantize it weight-only (matmul_nbits)"
                    )
            # ONNX Runtime's own graph forms for ONNX Runtime graphs, the portable ones otherwise
            portable = {prof.graph_backend(g) != "onnxruntime" for g in needs}
            if len(portable) > 1:
                raise EdgeASRError("calibrating graphs for both backends in one profile is not supported")
            feeds = record_feeds(base, clips, needs, portable=portable.pop())
            calib = {"manifest": str(calibration), "clips": len(clips), "sha256": clips_hash(clips)}
        with staging_dir(Path(out), force) as tmp:
            graphs = {}
            for g in graph_names:
                recipe = prof.recipe(g)
                backend = prof.graph_backend(g)
                entry = {k: v for k, v in base_art.graph_entry(g, backend).items() if k != "variants"}
                src = base / entry["file"]
                if backend == "onnxruntime":
                    dst = ort.apply(recipe, src, tmp / f"{g}.onnx", feeds.get(g))
                else:
                    dst = ov.apply(recipe, src, tmp / f"{g}.xml", feeds.get(g))
                graphs[g] = {**entry, "file": dst.name, "precision": recipe.precision}
                if backend == "onnxruntime" and entry.get("cache") == "in_place" and recipe.params.get("kv_cache"):
                    graphs[g]["kv_dtype"] = {"fp16": "float16", "fp32": "float32"}[recipe.params["kv_cache"]]
                if backend != prof.backend:
                    graphs[g]["backend"] = backend  # the runtime opens it with this backend whatever it is asked
            shutil.copyfile(base / base_manifest["tokenizer"], tmp / base_manifest["tokenizer"])
            if base_manifest.get("vad"):
                shutil.copyfile(base / base_manifest["vad"]["file"], tmp / base_manifest["vad"]["file"])
            drop = {"files", "format", "format_version"}
            manifest = {k: v for k, v in base_manifest.items() if k not in drop}
            manifest.update(
                backend=prof.backend,
                graphs=graphs,
                runtime={"inference_precision": prof.runtime.get("inference_precision", "f32")},
                profile={**prof.to_manifest(), "precision": _overall(graphs)},
                verify={**DEFAULT_VERIFY, **prof.verify} if _overall(graphs) != "fp32" else base_manifest["verify"],
                calibration=calib,
                tools=tool_versions(),
            )
            manifest["export"] = {
                **base_manifest.get("export", {}),
                "build_seconds": round(time.perf_counter() - t0, 1),
            }
            return write_manifest(tmp, manifest)


def _overall(graphs: dict[str, Any]) -> str:
    precisions = {g["precision"] for g in graphs.values()}
    return precisions.pop() if len(precisions) == 1 else "mixed"
