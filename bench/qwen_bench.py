"""Full-size Qwen3-ASR speed, size and memory per profile (random weights with the released
shapes: accuracy means nothing here, bytes and milliseconds are real).

For each profile: artifact MB, features ms, encoder ms per audio second, prefill ms, decode ms
per token over a forced decode (EOS ignored), peak RSS, and the decoder's bandwidth ceiling:
the bytes a step must read (decoder weights as stored + KV cache) over the read bandwidth this
script measures, with the fraction of it reached. Every artifact runs in a fresh process.

    python bench/qwen_bench.py --model work/models/qwen3-asr-0.6b --work work/qwen3-asr-0.6b \
        --profiles ort-fp32,ort-int8-dynamic,... --json runs/qwen/0.6b.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKER = r"""
import json, sys, time
import numpy as np
from edgeasr.runtime import load_model
from edgeasr.runtime.metrics import peak_rss_mb
from edgeasr.runtime.audio import load_audio
art, clip, tokens, repeats, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
batches = [int(b) for b in sys.argv[6].split(",") if b]
precision = sys.argv[7] or None
t0 = time.perf_counter()
m = load_model(art, threads=threads, precision=precision)
load_s = time.perf_counter() - t0
audio = load_audio(clip)
rt = m.runtime
m.runtime.transcribe_batch([audio], language="en", max_new_tokens=4, ignore_eos=True)  # warm-up
rows = []
for _ in range(repeats):
    r = rt.transcribe_batch([audio], language="en", max_new_tokens=tokens, ignore_eos=True)[0]
    rows.append(r.timings)
med = lambda k: float(np.median([t[k] for t in rows]))
secs = audio.size / 16000
peak_single = peak_rss_mb()  # before the batches, which hold several clips' activations
batch_rows = []
for b in batches:  # the same clip b times: one encoder batch, one batched greedy decode
    runs = [rt.transcribe_batch([audio] * b, language="en", max_new_tokens=tokens, ignore_eos=True)[0].timings
            for _ in range(repeats)]
    batch_rows.append({
        "batch": b,
        "wall_s": float(np.median([t["total_s"] * b for t in runs])),
        "decode_ms_per_step": float(np.median([t["decode_s"] / t["decode_steps"] for t in runs])) * 1000,
        "prefill_ms": float(np.median([t["prefill_s"] for t in runs])) * 1000,
    })
    batch_rows[-1]["audio_s_per_s"] = b * secs / batch_rows[-1]["wall_s"]
    batch_rows[-1]["peak_rss_mb"] = peak_rss_mb()
print(json.dumps({
    "load_s": load_s,
    "features_ms": med("features_s") * 1000,
    "encoder_ms_per_audio_s": med("encoder_s") * 1000 / secs,
    "prefill_ms": med("prefill_s") * 1000,
    "decode_ms_per_token": float(np.median([t["decode_s"] / t["decode_steps"] for t in rows])) * 1000,
    "prompt_tokens": rows[0]["prompt_tokens"],
    "e2e_s": med("total_s"),
    "audio_s": secs,
    "peak_rss_mb": peak_single,
    "precision": {g: str(x.precision) for g, x in rt.graphs.items()},
    "batches": batch_rows,
}))
"""


def timed_run(cmd: list[str]) -> tuple[subprocess.CompletedProcess, float, float | None]:
    """Run a command under GNU time: the finished process, wall seconds and peak RSS in MB (None
    when time printed none)."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "peak_rss_kb=%M", *cmd], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    rss = [float(ln.split("=")[1]) / 1024 for ln in p.stderr.splitlines() if ln.startswith("peak_rss_kb=")]
    return p, seconds, (rss[-1] if rss else None)


def edgeasr(*args: str) -> tuple[float, float]:
    """Run an edgeasr command in a child process; returns (seconds, peak RSS MB)."""
    p, seconds, rss = timed_run([sys.executable, "-m", "edgeasr.runtime.cli", *args])
    if p.returncode != 0 or rss is None:
        raise SystemExit(f"edgeasr {' '.join(args)} failed:\n{p.stderr[-3000:]}")
    return seconds, rss


def cold_loads(arts: dict[str, tuple[str, str]], threads: int) -> dict[str, dict[str, float]]:
    """First-ever load of each OpenVINO artifact (compiles and fills the run's fresh compiled-model
    cache), in a child process: seconds and peak RSS. The engines measured after it then load
    from the cache, as every load after a board's first does."""
    code = (
        "import sys; from edgeasr.runtime import load_model; "
        "load_model(sys.argv[1], threads=int(sys.argv[2]), precision=sys.argv[3] or None)"
    )
    out = {}
    for name, (art, precision) in arts.items():
        p, seconds, rss = timed_run([sys.executable, "-c", code, art, str(threads), precision])
        if p.returncode == 0 and rss is not None:
            out[name] = {"cold_load_s": round(seconds, 2), "cold_load_peak_rss_mb": round(rss)}
            print(f"{name}: first load (compiles) {out[name]}", flush=True)
    return out


def clip(manifest: Path, seconds: float, out: Path) -> Path:
    """`seconds` of real speech from the evaluation set (clean clips joined)."""
    import numpy as np
    import soundfile as sf

    from edgeasr.runtime.audio import load_audio
    from edgeasr.runtime.dataset import read_manifest

    parts, total = [], 0
    for c in read_manifest(manifest):
        if c.kind == "clean":
            parts.append(load_audio(c.audio))
            total += parts[-1].size
        if total >= seconds * 16000:
            break
    sf.write(out, np.concatenate(parts)[: int(seconds * 16000)], 16000)
    return out


def predict_batch(b: int, single: dict, artifact: object, bandwidth: float, tokens: int) -> dict[str, float]:
    """Bandwidth model of a batch of b clips: features, encoder and prefill scale with b (compute
    bound, taken from the single-clip run); each decode step reads the weights once for the whole
    batch plus every row's KV cache at the measured read bandwidth."""
    from edgeasr.runtime.perf import graph_bytes, kv_bytes_per_position

    audio_s = single["audio_s"]
    per_clip = (single["features_ms"] + single["encoder_ms_per_audio_s"] * audio_s + single["prefill_ms"]) / 1000
    context = single["prompt_tokens"] + tokens // 2  # mean cached positions over the decode
    step_bytes = graph_bytes(artifact, "decoder") + b * context * kv_bytes_per_position(artifact)
    wall = b * per_clip + tokens * step_bytes / (bandwidth * 1e9)
    return {"predicted_audio_s_per_s": round(b * audio_s / wall, 3)}


def main() -> None:
    from edgeasr.runtime.artifact import load_artifact
    from edgeasr.runtime.perf import decode_ceiling_ms, graph_bytes, read_bandwidth
    from edgeasr.runtime.system import describe

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True, help="transformers-format Qwen3-ASR directory")
    ap.add_argument("--work", type=Path, required=True, help="where artifacts are built (kept between runs)")
    ap.add_argument(
        "--profiles", required=True, help="comma-separated; PROFILE@bf16 runs an OpenVINO artifact at that precision"
    )
    ap.add_argument("--manifest", type=Path, default=Path("data/eval/manifest.jsonl"))
    ap.add_argument("--calibration", type=Path, default=Path("data/eval/calibration.jsonl"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", default="", help="also time batches of this many clips, e.g. 1,2,4,8")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--build-only", action="store_true", help="export and build the profiles, measure nothing")
    args = ap.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    audio = clip(args.manifest, args.seconds, args.work / f"clip-{args.seconds:g}s.wav")
    base = args.work / "fp32-onnx"
    builds = {}
    if not (base / "manifest.json").is_file():
        s, rss = edgeasr("export", "--model", args.model, "--format", "onnx", "--out", str(base), "--force")
        builds["export"] = {"seconds": round(s, 1), "peak_rss_mb": round(rss)}
        print(f"export: {s:.0f} s, peak RSS {rss:.0f} MB", flush=True)

    def build(prof: str) -> Path:
        art = args.work / prof
        if not (art / "manifest.json").is_file():
            cal = str(args.calibration)
            s, rss = edgeasr(
                "build", "--model", str(base), "--profile", prof, "--out", str(art), "--calibration", cal, "--force"
            )
            builds[prof] = {"seconds": round(s, 1), "peak_rss_mb": round(rss)}
            print(f"build {prof}: {s:.0f} s, peak RSS {rss:.0f} MB", flush=True)
        return art

    if args.build_only:
        for prof in args.profiles.split(","):
            build(prof.partition("@")[0])
        return
    # fresh OpenVINO compiled-model cache: each artifact's first load is timed cold, the worker's warm
    cache = Path(tempfile.mkdtemp(prefix="ov-cache-", dir=args.work))
    os.environ["EDGEASR_OV_CACHE"] = str(cache)
    split = {p: p.partition("@")[::2] for p in args.profiles.split(",")}
    ov = {p: (str(build(n)), prec) for p, (n, prec) in split.items() if "openvino" in load_artifact(build(n)).backends}
    cold = cold_loads(ov, args.threads)
    bandwidth = read_bandwidth(args.threads)
    print(f"read bandwidth: {bandwidth:.1f} GB/s ({args.threads} threads); {describe()}", flush=True)
    rows = []
    for prof in args.profiles.split(","):
        name, _, precision = prof.partition("@")  # ov-int8-weight-only@bf16: OpenVINO precision hint
        art = build(name)
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                WORKER,
                str(art),
                str(audio),
                str(args.tokens),
                str(args.repeats),
                str(args.threads),
                args.batch,
                precision,
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            print(f"{prof}: FAILED\n{out.stderr[-2000:]}", flush=True)
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        a = load_artifact(art)
        context = r["prompt_tokens"] + args.tokens // 2  # mean cached positions over the decode
        ceiling = decode_ceiling_ms(a, context, bandwidth)
        row = {
            "profile": prof,
            "mb": round(a.size_mb, 1),
            "decoder_mb": round(graph_bytes(a, "decoder") / 1e6, 1),
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()},
            "ceiling_ms_per_token": round(ceiling, 2),
            "fraction_of_ceiling": round(ceiling / r["decode_ms_per_token"], 3),
        }
        row.update(cold.get(prof, {}))
        row["batches"] = [b | predict_batch(b["batch"], r, a, bandwidth, args.tokens) for b in r["batches"]]
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(
        f"\n{describe()}; {args.threads} threads; read bandwidth {bandwidth:.1f} GB/s; "
        f"{args.seconds:g} s clip; {args.tokens} forced tokens; median of {args.repeats}"
    )
    print(
        "| profile | MB | decode ms/token | ceiling ms | fraction | encoder ms per audio s | prefill ms | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['profile']} | {r['mb']:.0f} | {r['decode_ms_per_token']:.1f} | {r['ceiling_ms_per_token']:.1f} | "
            f"{r['fraction_of_ceiling']:.2f} | {r['encoder_ms_per_audio_s']:.0f} | {r['prefill_ms']:.0f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    if any(r["batches"] for r in rows):
        print("\nBatch throughput: the same clip B times, encoded together and decoded as one batch")
        print("| profile | B | audio s per wall s | predicted | decode ms/step | prefill ms | peak RSS MB so far |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            for b in r["batches"]:
                print(
                    f"| {r['profile']} | {b['batch']} | {b['audio_s_per_s']:.2f} | "
                    f"{b['predicted_audio_s_per_s']:.2f} | {b['decode_ms_per_step']:.1f} | {b['prefill_ms']:.0f} | "
                    f"{b['peak_rss_mb']:.0f} |"
                )
    shutil.rmtree(cache, ignore_errors=True)
    for r in rows:
        if "cold_load_s" in r:
            first = f"first load {r['cold_load_s']:.1f} s, peak RSS {r['cold_load_peak_rss_mb']} MB"
            print(f"{r['profile']}: {first} (compiles; later loads read the cache)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "machine": describe(),
            "threads": args.threads,
            "bandwidth_gbs": bandwidth,
            "model": args.model,
            "seconds": args.seconds,
            "tokens": args.tokens,
            "builds": builds,
            "rows": rows,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
