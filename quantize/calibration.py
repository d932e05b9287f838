"""Calibration data: real graph inputs recorded while the fp32 artifact transcribes the
calibration clips (never the clips a profile is scored on)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from edgeasr.runtime.audio import load_audio
from edgeasr.runtime.dataset import read_manifest
from edgeasr.runtime.errors import EdgeASRError
from edgeasr.runtime.model import load_model

Feeds = list[dict[str, np.ndarray]]


def calibration_clips(manifest: Path | None, count: int) -> list[Path]:
    """The first `count` clips of the calibration manifest."""
    if manifest is None or not Path(manifest).is_file():
        raise EdgeASRError(
            f"this profile needs calibration audio: pass --calibration FILE.jsonl (e.g. the calibration.jsonl "
            f"that `edgeasr data` writes); not found: {manifest}"
        )
    return [c.audio for c in read_manifest(manifest)[:count]]


def clips_hash(clips: list[Path]) -> str:
    """sha256 over the calibration audio files, recorded in the artifact's manifest."""
    h = hashlib.sha256()
    for p in clips:
        h.update(hashlib.sha256(Path(p).read_bytes()).digest())
    return h.hexdigest()


def record_feeds(
    artifact: Path, clips: list[Path], graphs: set[str], max_items: int = 64, portable: bool = False
) -> dict[str, Feeds]:
    """Run the fp32 artifact on the clips and keep what each graph was fed; long decoder
    traces are thinned evenly to `max_items`, keeping the prefill calls. `portable`: record
    the portable graphs' feeds (a build for another backend than ONNX Runtime)."""
    model = load_model(artifact, backend="onnxruntime")
    model.runtime.trim_windows = False  # whole windows: one shape per input (FamilyRuntime.trim_windows)
    if portable:
        model.runtime.use_portable_graphs()
    recorded: dict[str, Feeds] = {g: [] for g in graphs}
    for name in graphs:
        graph = model.runtime.graphs[name]
        original = graph.run

        def run(feeds: dict[str, np.ndarray], release: bool = False, in_place=None, _name=name, _orig=original) -> dict:  # noqa: ANN001
            recorded[_name].append({k: np.array(v, copy=True) for k, v in feeds.items()})
            return _orig(feeds, release, in_place)

        graph.run = run  # type: ignore[method-assign]
    for clip in clips:
        model.transcribe(load_audio(clip), max_new_tokens=48)
    for name, items in recorded.items():
        if len(items) > max_items:
            keep = np.linspace(0, len(items) - 1, max_items).round().astype(int)
            recorded[name] = [items[i] for i in sorted(set(keep))]
    return recorded
