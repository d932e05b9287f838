"""`edgeasr bench`: accuracy and latency of artifacts on one machine, one run record (JSON)
per artifact. Each artifact runs in a fresh process, so its load time and peak memory are
its own; latency is measured over repeats after a warm-up and reported as medians with the
spread, with the threads, CPU and its features recorded."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeasr.runtime.errors import EdgeASRError

SCHEMA = "edgeasr-run/1"


@dataclass
class BenchSpec:
    """Everything one worker needs (passed as JSON)."""

    artifact: str
    manifest: str
    out: str
    target: str | None = None
    threads: int | None = None
    backend: str | None = None
    precision: str | None = None
    repeats: int = 3
    latency_clips: int = 5
    limit_per_kind: int | None = None
    kinds: list[str] | None = None
    skip_kinds: list[str] | None = None
    max_new_tokens: int | None = None
    ignore_eos: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def select_clips(
    manifest: str, limit_per_kind: int | None, kinds: list[str] | None, skip: list[str] | None = None
) -> list[Any]:
    """The first N clips of each kind (deterministic), optionally only some kinds."""
    from edgeasr.runtime.dataset import read_manifest

    taken: dict[str, int] = defaultdict(int)
    out = []
    for clip in read_manifest(manifest):
        if (kinds and clip.kind not in kinds) or (skip and clip.kind in skip):
            continue
        if limit_per_kind is not None and taken[clip.kind] >= limit_per_kind:
            continue
        taken[clip.kind] += 1
        out.append(clip)
    if not out:
        raise EdgeASRError(f"{manifest}: no clips left after the kind selection")
    return out


def _stats(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs, dtype=np.float64)
    if a.size == 0:
        return {"median": float("nan"), "p10": float("nan"), "p90": float("nan"), "n": 0}
    return {
        "median": float(np.median(a)),
        "p10": float(np.percentile(a, 10)),
        "p90": float(np.percentile(a, 90)),
        "n": int(a.size),
    }


def run_worker(spec: BenchSpec) -> dict[str, Any]:
    """Load one artifact, score every selected clip, then time the latency clips."""
    from tqdm import tqdm

    from edgeasr.runtime.audio import load_audio
    from edgeasr.runtime.metrics import error_rates, normalize, peak_rss_mb
    from edgeasr.runtime.model import load_model
    from edgeasr.runtime.system import cpu_info

    clips = select_clips(spec.manifest, spec.limit_per_kind, spec.kinds, spec.skip_kinds)
    t0 = time.perf_counter()
    model = load_model(spec.artifact, spec.backend, spec.threads, spec.precision)
    load_s = time.perf_counter() - t0
    opts = {"max_new_tokens": spec.max_new_tokens, "ignore_eos": spec.ignore_eos}
    audios = {str(c.audio): load_audio(c.audio) for c in clips}
    model.transcribe(audios[str(clips[0].audio)], **opts)  # warm-up

    rows = []
    for clip in tqdm(clips, desc=Path(spec.artifact).name, unit="clip", disable=None, leave=False):
        audio = audios[str(clip.audio)]
        t = time.perf_counter()
        r = model.transcribe(audio, language=clip.language, **opts)[0]
        rows.append(
            {
                "audio": str(clip.audio),
                "kind": clip.kind,
                "reference": clip.text,
                "hypothesis": r.text,
                "seconds": round(len(audio) / 16000, 3),
                "wall_s": round(time.perf_counter() - t, 4),
            }
        )
    lang = clips[0].language or "en"
    refs = [normalize(r["reference"], lang) for r in rows]
    hyps = [normalize(r["hypothesis"], lang) for r in rows]
    per_kind = {}
    for kind in sorted({r["kind"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["kind"] == kind]
        scores = error_rates([refs[i] for i in idx], [hyps[i] for i in idx])
        per_kind[kind] = {
            "wer": scores["wer"],
            "cer": scores["cer"],
            "clips": len(idx),
            "hallucinated_words": sum(len(hyps[i].split()) for i in idx if not refs[i]),
        }
    overall = error_rates(refs, hyps)
    for row, ref, hyp in zip(rows, refs, hyps):
        row["normalized"] = {"reference": ref, "hypothesis": hyp}

    # latency: the first clean clips (or the first clips), each run `repeats` times
    pool = [c for c in clips if c.kind == "clean"] or clips
    lat_clips = pool[: spec.latency_clips]
    rtf, enc, ttft, dec, tps = [], [], [], [], []
    for _ in range(spec.repeats):
        wall = audio_s = 0.0
        for clip in lat_clips:
            audio = audios[str(clip.audio)]
            t = time.perf_counter()
            r = model.transcribe(audio, language=clip.language, **opts)[0]
            dt = time.perf_counter() - t
            secs = len(audio) / 16000
            wall, audio_s = wall + dt, audio_s + secs
            tm = r.timings
            enc.append(tm.get("encoder_s", 0.0) * 1000 / secs)
            ttft.append((tm.get("features_s", 0.0) + tm.get("encoder_s", 0.0) + tm.get("prefill_s", 0.0)) * 1000)
            if tm.get("decode_steps"):
                dec.append(tm["decode_s"] * 1000 / tm["decode_steps"])
                tps.append(tm["decode_steps"] / tm["decode_s"])
        rtf.append(wall / audio_s)
    m = model.artifact.manifest
    return {
        "schema": SCHEMA,
        "artifact": {
            "name": Path(spec.artifact).name,
            "path": str(spec.artifact),
            "family": m["family"],
            "model": m.get("source", {}).get("name"),
            "profile": m.get("profile", {}).get("name"),
            "precision": m.get("profile", {}).get("precision"),
            "graphs": {g: v.get("precision") for g, v in m["graphs"].items()},
            "size_mb": round(model.artifact.size_mb, 2),
        },
        "target": spec.target,
        "backend": model.backend,
        "compute_precision": {g: str(gr.precision) for g, gr in model.runtime.graphs.items()},
        "threads": model.threads,
        "machine": {**cpu_info(), "python": sys.version.split()[0], "runtime": _runtime_versions()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_s": round(load_s, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "accuracy": {
            "wer": overall["wer"],
            "cer": overall["cer"],
            "words": overall["words"],
            "clips": len(rows),
            "audio_seconds": round(sum(r["seconds"] for r in rows), 2),
            "hallucinated_words": sum(len(h.split()) for r, h in zip(refs, hyps) if not r),
            "per_kind": per_kind,
        },
        "latency": {
            "repeats": spec.repeats,
            "clips": [str(c.audio) for c in lat_clips],
            "rtf": _stats(rtf),
            "encoder_ms_per_audio_s": _stats(enc),
            "ttft_ms": _stats(ttft),
            "decode_ms_per_token": _stats(dec),
            "tokens_per_s": _stats(tps),
        },
        "options": {k: v for k, v in asdict(spec).items() if k not in ("out", "artifact", "manifest")},
        "clips": rows,
    }


def _runtime_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("edgeasr", "numpy", "onnxruntime", "openvino", "tokenizers"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def bench(specs: list[BenchSpec], progress: bool = True) -> list[Path]:
    """Run each spec in its own process (fresh memory, honest load time); returns record paths."""
    from tqdm import tqdm

    paths = []
    for spec in tqdm(specs, desc="bench", unit="artifact", disable=None if progress else True):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(asdict(spec), f)
        proc = subprocess.run([sys.executable, "-m", "edgeasr.runtime.bench", f.name], stderr=None)
        Path(f.name).unlink(missing_ok=True)
        if proc.returncode != 0:
            raise EdgeASRError(f"bench of {spec.artifact} failed (exit {proc.returncode})")
        paths.append(Path(spec.out))
    return paths


def main() -> int:
    """Worker entry: `python -m edgeasr.runtime.bench SPEC.json`."""
    spec = BenchSpec(**json.loads(Path(sys.argv[1]).read_text()))
    try:
        record = run_worker(spec)
    except EdgeASRError as exc:
        print(f"edgeasr: error: {exc}", file=sys.stderr)
        return 2
    out = Path(spec.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
