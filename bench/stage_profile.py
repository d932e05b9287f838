"""Where the milliseconds go: per-stage time of each artifact on the same clips (features,
encoder, prefill, decode steps, and the rest: Python, tokenizer, audio decoding), summed over the
clips and shown as a share of the wall time. Each artifact runs in a fresh process, one warm-up
clip first; the median of --repeats passes is kept per clip.

    python bench/stage_profile.py artifacts/tiny.en-ort-fp32 artifacts/tiny.en-ort-int8-dynamic \
        --manifest data/eval/manifest.jsonl --kinds clean --limit 40 --threads 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

STAGES = ("features_s", "encoder_s", "prefill_s", "decode_s")

WORKER = r"""
import json, sys, time
import numpy as np
from edgeasr.runtime import load_model
from edgeasr.runtime.audio import load_audio
art, paths, repeats, threads = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
m = load_model(art, threads=threads)
audios = [load_audio(p) for p in paths]
m.transcribe(audios[0])  # warm-up
rows = []
for a in audios:
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        r = m.transcribe(a)[0]
        runs.append({**r.timings, "wall_s": time.perf_counter() - t, "audio_s": a.size / 16000})
    rows.append(sorted(runs, key=lambda x: x["wall_s"])[len(runs) // 2])  # the median pass
print(json.dumps(rows))
"""


def main() -> None:
    from edgeasr.runtime.bench import select_clips
    from edgeasr.runtime.system import describe

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("artifacts", nargs="+", type=Path)
    ap.add_argument("--manifest", type=Path, default=Path("data/eval/manifest.jsonl"))
    ap.add_argument("--kinds", default="clean")
    ap.add_argument("--limit", type=int, default=40, help="clips per kind")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    clips = select_clips(args.manifest, args.limit, args.kinds.split(","))
    paths = json.dumps([str(c.audio) for c in clips])
    result = {"machine": describe(), "threads": args.threads, "clips": len(clips), "rows": []}
    print(f"{describe()}; {args.threads} threads; {len(clips)} clips ({args.kinds}); median of {args.repeats}")
    print("| artifact | RTF | features % | encoder % | prefill % | decode % | other % | decode ms/token |")
    print("|---|---|---|---|---|---|---|---|")
    for art in args.artifacts:
        cmd = [sys.executable, "-c", WORKER, str(art), paths, str(args.repeats), str(args.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"| {art.name} | failed: {out.stderr.strip().splitlines()[-1]} |")
            continue
        rows = json.loads(out.stdout.strip().splitlines()[-1])
        wall = sum(r["wall_s"] for r in rows)
        share = {k: 100 * sum(r[k] for r in rows) / wall for k in STAGES}
        other = 100 - sum(share.values())
        per_token = 1000 * sum(r["decode_s"] for r in rows) / max(1, sum(r["decode_steps"] for r in rows))
        rtf = wall / sum(r["audio_s"] for r in rows)
        rec = {"artifact": art.name, "rtf": rtf, **share, "other": other, "decode_ms_per_token": per_token}
        result["rows"].append(rec)
        cells = " | ".join(f"{share[k]:.0f}" for k in STAGES)
        print(f"| {art.name} | {rtf:.3f} | {cells} | {other:.0f} | {per_token:.2f} |", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
