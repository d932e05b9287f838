"""Qwen3-ASR engines side by side, in one run on one machine: transformers PyTorch (fp32, bf16,
dynamic int8), optimum-intel OpenVINO exports (fp32, int8, int4 weights) and edgeasr artifacts,
on the same clips of real speech, the same thread count and a forced greedy decode of a fixed
number of tokens (EOS ignored, so random weights give a fixed length).

Each engine runs in its own process (bench/qwen_peer_worker.py), so its load time and peak RSS
are its own; engines alternate request by request (the order rotates each repeat), after one
warm-up per clip; every number is the median over the repeats. Fidelity: teacher-forced logits
of every engine along one fixed 64-token sequence (the clip's transcript), compared with the same
family's fp32 engine (top-1 agreement, mean KL) and with PyTorch fp32.

optimum-intel 2.2.0 exports Qwen3-ASR only from the `qwen-asr` package's checkpoint layout under
transformers 4.57.6 (peers virtualenv), so the transformers 5 checkpoint given with --model is
first rewritten into that layout (same tensors, renamed; bench/qwen_layout.py).

    python bench/qwen_peers.py --model work/models/qwen3-asr-0.6b --work work/qwen3-asr-0.6b \
        --artifacts work/qwen3-asr-0.6b/ort-fp32 work/qwen3-asr-0.6b/ort-int8-weight-only \
        --seconds 10,60 --tokens 32 --threads 2 --peers-python .venv-peers/bin/python \
        --json runs/qwen/peers-0.6b.json --markdown report/qwen/peers-0.6b.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from qwen_bench import clip, cold_loads, timed_run
from qwen_layout import qwen_asr_layout
from qwen_peers_table import markdown

WORKER = str(Path(__file__).with_name("qwen_peer_worker.py"))
TORCH_MODES = ("fp32", "bf16", "int8")
OV_FORMATS = ("fp32", "int8", "int4")
BASELINE = "torch-int8"


def weight_class(engine: str) -> str:
    """The precision class an engine's weights are stored in, for the same-precision ratio."""
    for cls in ("int4", "int8", "bf16", "fp16"):
        if cls in engine:
            return cls
    return "fp32"


FIDELITY_TOKENS = 64


def optimum_export(
    layout: Path, work: Path, fmt: str, peers_python: str, group: int = 128
) -> tuple[Path, dict[str, float]]:
    """optimum-cli export openvino of the converted checkpoint, cached under --work; written to a
    temporary directory and renamed only when the export succeeded. int4 groups of `group`
    weights (optimum's default 128 needs input widths divisible by 128; tiny models need less)."""
    out = work / (f"optimum-ov-{fmt}" + (f"-g{group}" if fmt == "int4" and group != 128 else ""))
    if (out / "openvino_decoder_model.xml").is_file():
        return out, {}
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    cli = str(Path(peers_python).parent / "optimum-cli")
    cmd = [cli, "export", "openvino", "--model", str(layout), "--task", "automatic-speech-recognition-with-past"]
    # int4: a group that does not fit a node (the rotary embedding's MatMul on the 0.6B has one input
    # channel) leaves that node uncompressed instead of failing the export
    int4 = ["--group-size", str(group), "--group-size-fallback", "ignore"] if fmt == "int4" else []
    cmd += ["--weight-format", fmt, *int4, str(tmp)]
    p, seconds, rss = timed_run(cmd)
    if p.returncode != 0 or rss is None or not (tmp / "openvino_decoder_model.xml").is_file():
        print(p.stderr[-4000:], file=sys.stderr)
        raise RuntimeError(f"optimum export {fmt} failed (exit {p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    stats = {"seconds": round(seconds, 1), "peak_rss_mb": round(rss)}
    print(f"optimum export {fmt}: {stats}", flush=True)
    return out, stats


class Worker:
    """An engine process: one JSON request line in, one JSON answer line out."""

    def __init__(self, name: str, kind: str, spec: str, threads: int, python: str, hint: str = "") -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [python, WORKER, kind, spec, str(threads), hint], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.info = self.ask(None)

    def ask(self, req: dict[str, Any] | None) -> dict[str, Any]:
        if req is not None:
            self.proc.stdin.write(json.dumps(req) + "\n")  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"{self.name}: worker died (exit {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> float:
        rss = self.ask({"quit": True})["peak_rss_mb"]
        self.proc.wait(timeout=120)
        return rss


def fidelity_tokens(manifest: Path, tokenizer: Path, n: int) -> list[int]:
    """The first `n` tokens of the clean clips' transcripts: a fixed sequence every engine is fed."""
    from tokenizers import Tokenizer

    from edgeasr.runtime.dataset import read_manifest

    tok = Tokenizer.from_file(str(tokenizer))
    ids: list[int] = []
    for c in read_manifest(manifest):
        if c.kind == "clean":
            ids += tok.encode(" " + c.text, add_special_tokens=False).ids
        if len(ids) >= n:
            break
    return ids[:n]


def median(rows: list[dict[str, float]], key: str) -> float:
    return float(np.median([r[key] for r in rows]))


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parent))  # bench/ is not a package

    from edgeasr.runtime.artifact import load_artifact
    from edgeasr.runtime.audio import load_audio
    from edgeasr.runtime.fidelity import logit_agreement
    from edgeasr.runtime.perf import decode_ceiling_ms, read_bandwidth
    from edgeasr.runtime.system import describe

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="transformers 5 Qwen3-ASR checkpoint directory")
    ap.add_argument("--work", type=Path, required=True, help="where conversions and exports are cached")
    ap.add_argument(
        "--artifacts",
        nargs="*",
        default=[],
        help="edgeasr artifact directories; DIR@bf16 runs an OpenVINO artifact at that precision hint",
    )
    ap.add_argument("--engines", default="torch-fp32,torch-bf16,torch-int8,optimum-fp32,optimum-int8,optimum-int4")
    ap.add_argument("--manifest", type=Path, default=Path("data/eval/manifest.jsonl"))
    ap.add_argument("--seconds", default="10", help="clip lengths, comma-separated")
    ap.add_argument("--tokens", type=int, default=32, help="forced decode length (EOS ignored)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peers-python", default=".venv-peers/bin/python")
    ap.add_argument("--int4-group-size", type=int, default=128, help="optimum int4 export group size")
    ap.add_argument("--ov-hint", default="", help="INFERENCE_PRECISION_HINT for optimum engines (default: OpenVINO's)")
    ap.add_argument("--sequential", action="store_true", help="one engine process at a time (less memory)")
    ap.add_argument("--no-fidelity", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    seconds = [float(s) for s in args.seconds.split(",")]
    clips = {}
    for s in seconds:
        wav = clip(args.manifest, s, args.work / f"clip-{s:g}s.wav")
        np.save(args.work / f"clip-{s:g}s.npy", load_audio(wav))
        clips[s] = str(args.work / f"clip-{s:g}s.npy")

    exports: dict[str, Any] = {}
    failures: dict[str, str] = {}
    engines: list[tuple[str, str, str, str]] = []  # name, kind, spec, python
    wanted = [e for e in args.engines.split(",") if e]
    layout = None
    for name in wanted:
        if name.startswith("torch-") and name.removeprefix("torch-") in TORCH_MODES:
            engines.append((name, name, str(args.model), sys.executable))
        elif name.startswith("optimum-") and name.removeprefix("optimum-") in OV_FORMATS:
            if layout is None:
                layout = qwen_asr_layout(args.model, args.work, args.peers_python)
            fmt = name.removeprefix("optimum-")
            try:
                path, stats = optimum_export(layout, args.work, fmt, args.peers_python, args.int4_group_size)
            except RuntimeError as e:
                print(e, flush=True)
                failures[name] = str(e)
                continue
            exports[name] = stats
            engines.append((name, "optimum", str(path), args.peers_python))
        else:
            raise SystemExit(f"unknown engine {name!r}")
    profiles = {}
    hints = {name: args.ov_hint for name, *_ in engines}  # optimum engines share --ov-hint
    for spec in args.artifacts:
        art, _, precision = spec.partition("@")
        prof = load_artifact(art).manifest.get("profile", {}).get("name", Path(art).name)
        name = f"edgeasr-{prof}" + (f"@{precision}" if precision else "")
        profiles[name] = art
        hints[name] = precision
        engines.append((name, "edgeasr", str(art), sys.executable))

    bandwidth = read_bandwidth(args.threads)
    machine = describe()
    print(f"read bandwidth: {bandwidth:.1f} GB/s ({args.threads} threads); {machine}", flush=True)
    seq = fidelity_tokens(args.manifest, args.model / "tokenizer.json", FIDELITY_TOKENS)
    fid_clip = clips[min(seconds)]
    logits_dir = args.work / "peer-logits"
    logits_dir.mkdir(exist_ok=True)

    results: dict[str, dict[str, Any]] = {}

    def measure(group: list[tuple[str, str, str, str]]) -> None:
        workers = []
        for name, kind, spec, python in group:
            try:
                workers.append(Worker(name, kind, spec, args.threads, python, hints[name]))
                print(f"{name}: loaded in {workers[-1].info['load_s']:.1f} s", flush=True)
            except RuntimeError as e:
                print(f"{name}: FAILED to load ({e})", flush=True)
                failures[name] = f"load: {e}"
        live = list(workers)
        runs: dict[str, dict[float, list[dict[str, float]]]] = {w.name: {s: [] for s in seconds} for w in workers}

        def ask(w: Worker, req: dict[str, Any]) -> dict[str, Any] | None:
            try:
                return w.ask(req)
            except RuntimeError as e:
                print(f"{w.name}: FAILED ({e})", flush=True)
                failures[w.name] = f"{'fidelity' if 'forced' in req else 'run'}: {e}"
                live.remove(w)
                return None

        for s in seconds:  # warm-up: one short decode per clip length
            for w in list(live):
                ask(w, {"audio": clips[s], "tokens": min(4, args.tokens)})
        for r in range(args.repeats):
            for s in seconds:
                order = live[r % max(len(live), 1) :] + live[: r % max(len(live), 1)]
                for w in order:
                    if w in live and (a := ask(w, {"audio": clips[s], "tokens": args.tokens})) is not None:
                        runs[w.name][s].append(a)
        for w in live:  # peak RSS while transcribing, before the (longer) teacher-forced pass
            results.setdefault(w.name, {})["peak_rss_mb"] = max(
                (a["rss_mb"] for r in runs[w.name].values() for a in r), default=0.0
            )
        for w in list(live):
            if args.no_fidelity:
                break
            out = logits_dir / f"{w.name}.npy"
            if (a := ask(w, {"audio": fid_clip, "forced": seq, "out": str(out)})) is not None:
                results.setdefault(w.name, {})["fidelity_prompt_tokens"] = a["prompt_tokens"]
        for w in live:
            res = results.setdefault(w.name, {})
            res.update(info=w.info, runs=runs[w.name], peak_rss_mb_with_fidelity=w.close())

    # a fresh OpenVINO compiled-model cache for this run, so the first load of each artifact is cold
    cache = Path(tempfile.mkdtemp(prefix="ov-cache-", dir=args.work))
    os.environ["EDGEASR_OV_CACHE"] = str(cache)
    try:
        ov_arts = {n: (a, "") for n, a in profiles.items() if "openvino" in load_artifact(a).backends}
        cold = cold_loads(ov_arts, args.threads)
        if args.sequential:
            for e in engines:
                measure([e])
        else:
            measure(engines)
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    rows = []
    for name, _, spec, _ in engines:
        res = results.get(name)
        if not res or "runs" not in res:
            continue
        info = res["info"]
        for s in seconds:
            rs = res["runs"][s]
            if not rs:
                continue
            prompt = rs[0]["prompt_tokens"]
            context = prompt + args.tokens // 2  # mean cached positions over the decode
            if name.startswith("edgeasr-"):
                ceiling = decode_ceiling_ms(load_artifact(spec), context, bandwidth)
            else:
                need = info["decoder_bytes"] + context * info["kv_bytes_per_position"]
                ceiling = need / (bandwidth * 1e9) * 1000
            dec = median(rs, "decode_ms_per_token")
            rows.append(
                {
                    "engine": name,
                    "seconds": s,
                    "mb": round(info["weights_mb"], 1),
                    "decoder_mb": round(info["decoder_bytes"] / 1e6, 1),
                    "load_s": round(info["load_s"], 2),
                    "features_ms": round(median(rs, "features_ms"), 2),
                    "encoder_ms_per_audio_s": round(median(rs, "encoder_ms") / s, 2),
                    "prefill_ms": round(median(rs, "prefill_ms"), 2),
                    "decode_ms_per_token": round(dec, 3),
                    "ceiling_ms_per_token": round(ceiling, 3),
                    "fraction_of_ceiling": round(ceiling / dec, 3),
                    "prompt_tokens": prompt,
                    "peak_rss_mb": round(res["peak_rss_mb"]),
                    "e2e_s": round(median(rs, "e2e_s"), 3),
                    "runtime": info["runtime"],
                    "repeats": len(rs),
                }
            )
    for row in rows:
        row.update(cold.get(row["engine"], {}))
        peers = [
            b
            for b in rows
            if not b["engine"].startswith("edgeasr-")
            and b["seconds"] == row["seconds"]
            and weight_class(b["engine"]) == weight_class(row["engine"])
        ]
        if peers and row["engine"].startswith("edgeasr-"):
            best = min(peers, key=lambda b: b["e2e_s"])
            row["fastest_peer_same_precision"] = best["engine"]
            row["e2e_vs_fastest_peer"] = round(row["e2e_s"] / best["e2e_s"], 2)
        base = next((b for b in rows if b["engine"] == BASELINE and b["seconds"] == row["seconds"]), None)
        if base:
            row["speedup_e2e_vs_torch_int8"] = round(base["e2e_s"] / row["e2e_s"], 2)
            row["speedup_decode_vs_torch_int8"] = round(base["decode_ms_per_token"] / row["decode_ms_per_token"], 2)
            row["mb_vs_torch_int8"] = round(row["mb"] / base["mb"], 2)
            row["rss_vs_torch_int8"] = round(row["peak_rss_mb"] / base["peak_rss_mb"], 2)

    fidelity = []
    fp32_edgeasr = next((n for n in profiles if n == "edgeasr-ort-fp32"), None)
    for name, *_ in engines:
        f = logits_dir / f"{name}.npy"
        if args.no_fidelity or not f.is_file() or "fidelity_prompt_tokens" not in results.get(name, {}):
            continue
        ref = {"torch": "torch-fp32", "optimum": "optimum-fp32", "edgeasr": fp32_edgeasr}[name.split("-")[0]]
        row: dict[str, Any] = {"engine": name, "prompt_tokens": results[name]["fidelity_prompt_tokens"]}
        for label, other in (("family", ref), ("torch_fp32", "torch-fp32")):
            g = logits_dir / f"{other}.npy"
            if other and other != name and g.is_file() and "fidelity_prompt_tokens" in results.get(other, {}):
                agree = logit_agreement(np.load(g), np.load(f))
                row[label] = {"reference": other, "top1": round(agree["top1"], 4), "kl_mean": agree["kl_mean"]}
        fidelity.append(row)

    header = (
        f"{machine}; {args.threads} threads; read bandwidth {bandwidth:.1f} GB/s; clips {args.seconds} s; "
        f"{args.tokens} forced tokens; warm-up then median of {args.repeats}; engines "
        + ("one at a time" if args.sequential else "alternating")
        + f"; OpenVINO precision hint {args.ov_hint or 'default'}"
    )
    text = markdown(args.model.name, header, rows, fidelity, failures, len(seq), min(seconds))
    print("\n" + text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "machine": machine,
            "threads": args.threads,
            "bandwidth_gbs": bandwidth,
            "model": str(args.model),
            "seconds": seconds,
            "tokens": args.tokens,
            "repeats": args.repeats,
            "alternating": not args.sequential,
            "fidelity_tokens": seq,
            "exports": exports,
            "rows": rows,
            "fidelity": fidelity,
            "failures": failures,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
