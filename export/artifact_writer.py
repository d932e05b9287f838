"""Write artifacts safely: everything goes to a temporary sibling directory that is renamed
into place only when complete, so an interrupted build (error, Ctrl-C, SIGTERM) leaves
nothing that looks like an artifact."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgeasr.runtime.artifact import FORMAT, FORMAT_VERSION, MANIFEST, sha256_file
from edgeasr.runtime.errors import EdgeASRError


class _Interrupts:
    """SIGINT/SIGTERM during a build: raise KeyboardInterrupt at once, and remember it, because
    a C extension that calls back into Python can swallow the exception; the artifact is then
    still not committed."""

    def __init__(self) -> None:
        self.seen = False

    def __call__(self, signum: int, frame: object) -> None:
        self.seen = True
        raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def staging_dir(out: Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes `out` on success and vanishes on failure."""
    out = Path(out)
    if out.exists() and not force:
        raise EdgeASRError(f"{out}: already exists (use --force to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    interrupts = _Interrupts()
    old = {sig: signal.signal(sig, interrupts) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield tmp
        if interrupts.seen:
            raise KeyboardInterrupt("interrupted while building")
        if out.exists():
            trash = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(trash)
            tmp.rename(out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(out)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        shutil.rmtree(tmp, ignore_errors=True)


def write_manifest(root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Record sha256 and size of every file under `root`, then write manifest.json."""
    files = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            rel = p.relative_to(root).as_posix()
            files[rel] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest, "files": files}
    (root / MANIFEST).write_text(json.dumps(full, indent=2) + "\n")
    return full


def tool_versions() -> dict[str, str]:
    """Versions of everything that shaped the artifact's numbers."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("edgeasr", "torch", "transformers", "onnx", "onnxruntime", "openvino", "nncf"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out
