"""Artifacts: a directory whose manifest.json is the single source of truth for the runtime
(graphs, tokenizer, feature settings, special tokens, profile, tool versions, file hashes)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeasr.runtime.errors import EdgeASRError

MANIFEST = "manifest.json"
FORMAT = "edgeasr-artifact"
FORMAT_VERSION = 1


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks so large graphs never sit in memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass
class Artifact:
    """A loaded, checked artifact directory."""

    path: Path
    manifest: dict[str, Any]

    @property
    def family(self) -> str:
        return self.manifest["family"]

    @property
    def backend(self) -> str:
        return self.manifest["backend"]

    @property
    def backends(self) -> set[str]:
        """Every backend its graphs run on (a mixed profile runs one graph on the other)."""
        return {self.backend} | {g["backend"] for g in self.manifest["graphs"].values() if "backend" in g}

    def file(self, name: str) -> Path:
        """Absolute path of a file listed in the manifest."""
        return self.path / name

    def graph_entry(self, graph: str, backend: str | None = None) -> dict[str, Any]:
        """A graph's manifest entry, or its variant for `backend` where the artifact has one
        (an fp32 export keeps ONNX Runtime's own decoder beside the portable one)."""
        entry = self.manifest["graphs"][graph]
        return entry.get("variants", {}).get(backend, entry)

    def graph_path(self, graph: str, backend: str | None = None) -> Path:
        return self.file(self.graph_entry(graph, backend)["file"])

    @property
    def size_mb(self) -> float:
        """Total size of the artifact's files, as the manifest records them (MB = 1e6 bytes)."""
        return sum(f["bytes"] for f in self.manifest["files"].values()) / 1e6


def load_artifact(path: str | Path, verify_hashes: bool = False) -> Artifact:
    """Read manifest.json and check that every listed file exists with its recorded size
    (and sha256 when `verify_hashes`); a tampered or incomplete artifact is refused."""
    root = Path(path)
    mpath = root / MANIFEST
    if not root.is_dir():
        raise EdgeASRError(f"{root}: not an artifact directory")
    if not mpath.is_file():
        raise EdgeASRError(f"{root}: no {MANIFEST}; not an edgeasr artifact (or an incomplete build)")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EdgeASRError(f"{mpath}: invalid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise EdgeASRError(f"{mpath}: not an edgeasr manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise EdgeASRError(
            f"{mpath}: format version {manifest.get('format_version')} is not supported "
            f"(this runtime reads version {FORMAT_VERSION})"
        )
    for name, info in manifest.get("files", {}).items():
        fpath = root / name
        if not fpath.is_file():
            raise EdgeASRError(f"{root}: file {name} listed in the manifest is missing")
        size = fpath.stat().st_size
        if size != info["bytes"]:
            raise EdgeASRError(f"{root}: file {name} has {size} bytes, the manifest says {info['bytes']}")
        if verify_hashes and sha256_file(fpath) != info["sha256"]:
            raise EdgeASRError(f"{root}: file {name} does not match its sha256 in the manifest")
    return Artifact(root, manifest)
