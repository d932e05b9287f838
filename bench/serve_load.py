"""Bounded load test of `edgeasr serve` on loopback: for each concurrency level, N clients send
a fixed number of requests (clips from the evaluation set, in turn) and the run reports
throughput (audio seconds per wall second), p50/p95 latency and errors. It stops by itself.

    python bench/serve_load.py --artifact artifacts/tiny.en-ort-int8-dynamic --manifest data/eval/manifest.jsonl
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    from edgeasr.runtime.dataset import read_manifest
    from edgeasr.runtime.system import describe

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--artifact", required=True)
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-batch", type=int, default=4)
    ap.add_argument("--max-queue", type=int, default=16)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    clips = [c for c in read_manifest(args.manifest) if c.kind == "clean"][:16]
    payloads = [(c.audio.name, c.audio.read_bytes(), c.extra.get("seconds", 0.0)) for c in clips]
    port = free_port()
    cmd = [sys.executable, "-m", "edgeasr.runtime.cli", "serve", "--artifact", args.artifact, "--port", str(port)]
    cmd += ["--threads", str(args.threads), "--max-batch", str(args.max_batch), "--max-queue", str(args.max_queue)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        httpx.post(url + "/v1/audio/transcriptions", files={"file": payloads[0][:2]}, timeout=120)  # warm-up
        results = []
        for level in [int(x) for x in args.concurrency.split(",")]:

            def one(i: int) -> tuple[int, float, float]:
                name, data, seconds = payloads[i % len(payloads)]
                t0 = time.perf_counter()
                r = httpx.post(url + "/v1/audio/transcriptions", files={"file": (name, data)}, timeout=600)
                return r.status_code, time.perf_counter() - t0, seconds

            t0 = time.perf_counter()
            with ThreadPoolExecutor(level) as pool:
                rows = list(pool.map(one, range(args.requests)))
            wall = time.perf_counter() - t0
            ok = [r for r in rows if r[0] == 200]
            lat = np.array([r[1] for r in ok])
            results.append(
                {
                    "clients": level,
                    "requests": len(rows),
                    "errors": len(rows) - len(ok),
                    "status_codes": sorted({r[0] for r in rows}),
                    "throughput_audio_s_per_s": sum(r[2] for r in ok) / wall,
                    "p50_latency_s": float(np.percentile(lat, 50)) if ok else None,
                    "p95_latency_s": float(np.percentile(lat, 95)) if ok else None,
                    "wall_s": wall,
                }
            )
            print(json.dumps(results[-1]))
    finally:
        server.terminate()
        server.wait(timeout=30)
    out = {
        "machine": describe(),
        "artifact": args.artifact,
        "threads": args.threads,
        "max_batch": args.max_batch,
        "max_queue": args.max_queue,
        "levels": results,
    }
    print("| clients | requests | errors | audio s / wall s | p50 s | p95 s |\n|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['clients']} | {r['requests']} | {r['errors']} | {r['throughput_audio_s_per_s']:.1f} | "
            f"{r['p50_latency_s']:.2f} | {r['p95_latency_s']:.2f} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
