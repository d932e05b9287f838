"""`edgeasr build` (and `edgeasr profiles`), registered through the `edgeasr.commands` entry
points; heavy imports happen inside the commands."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_build(args: argparse.Namespace) -> int:
    from edgeasr.quantize.build import build

    m = build(args.model, args.profile, args.out, calibration=args.calibration, force=args.force)
    mb = sum(f["bytes"] for f in m["files"].values()) / 1e6
    graphs = ", ".join(f"{g} {v['precision']}" for g, v in m["graphs"].items())
    print(f"wrote {args.out}: {m['profile']['name']} ({graphs}), {mb:.1f} MB")
    return 0


def register_build(sub: argparse._SubParsersAction) -> None:
    """`edgeasr build --model SRC --profile NAME --out DIR`."""
    p = sub.add_parser("build", help="build a quantized artifact from a profile (needs [export])")
    p.add_argument("--model", required=True, help="model source, or an fp32 ONNX artifact to start from")
    p.add_argument("--profile", required=True, help="profile name (see `edgeasr profiles`) or a YAML file")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--calibration", type=Path, help="JSONL manifest of calibration clips (for static/AWQ profiles)")
    p.add_argument("--force", action="store_true", help="replace an existing artifact directory")
    p.set_defaults(func=cmd_build)


def cmd_profiles(args: argparse.Namespace) -> int:
    from edgeasr.quantize.profiles import load_profile, profile_names

    for name in profile_names():
        prof = load_profile(name)
        graphs = ", ".join(f"{g}: {r.precision}" for g, r in prof.graphs.items())
        print(f"{name:22s} {prof.backend:12s} {graphs}")
    return 0


def register_profiles(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profiles", help="list the shipped quantization profiles")
    p.set_defaults(func=cmd_profiles)


def cmd_sensitivity(args: argparse.Namespace) -> int:
    import json

    from edgeasr.quantize.calibration import calibration_clips
    from edgeasr.quantize.sensitivity import sensitivity

    clips = calibration_clips(args.calibration, args.clips)
    rows = sensitivity(args.model, clips, tuple(args.graphs.split(",")), args.bits, args.block_size, args.tokens)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"{'graph':8s} {'MatMul':48s} {'KL vs fp32':>11s} {'top-1':>6s}   (int{args.bits}, one layer at a time)")
    for r in rows[: args.top]:
        print(f"{r['graph']:8s} {r['node'][:48]:48s} {r['kl']:11.2e} {r['top1']:6.3f}")
    worst = [r["node"] for r in rows[: args.keep]]
    print(f"to keep the {args.keep} most sensitive in float, add to a graph's recipe: keep_fp: {json.dumps(worst)}")
    return 0


def register_sensitivity(sub: argparse._SubParsersAction) -> None:
    """`edgeasr sensitivity --model SRC`."""
    p = sub.add_parser("sensitivity", help="rank layers by the error quantizing each alone adds (needs [export])")
    p.add_argument("--model", required=True, help="model source, or an fp32 ONNX artifact")
    p.add_argument("--calibration", type=Path, required=True, help="JSONL manifest of clips to measure on")
    p.add_argument("--clips", type=int, default=3)
    p.add_argument("--graphs", default="decoder,encoder")
    p.add_argument("--bits", type=int, choices=[4, 8], default=4)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--tokens", type=int, default=32, help="teacher-forced tokens per clip")
    p.add_argument("--top", type=int, default=15, help="rows to print")
    p.add_argument("--keep", type=int, default=3, help="how many to suggest for keep_fp")
    p.add_argument("--json", type=Path, help="write every row here")
    p.set_defaults(func=cmd_sensitivity)
