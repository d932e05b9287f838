"""`edgeasr data`: generate the evaluation set (registered through the `edgeasr.commands`
entry point; Piper, onnx and espeak are imported only when it runs)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _duration(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def cmd_data(args: argparse.Namespace) -> int:
    """Write DIR/clips/*, DIR/manifest.jsonl, DIR/calibration.jsonl and DIR/params.json."""
    from edgeasr.export.datagen import DataParams, build_dataset

    hallucination = args.hallucination
    if hallucination is None:  # part of the harder set: on with --perturb or --long-minutes
        hallucination = bool(args.perturb or args.long_minutes)
    params = DataParams(
        count=args.count,
        seed=args.seed,
        calibration=args.calibration,
        espeak=args.espeak,
        perturb=args.perturb,
        long_minutes=args.long_minutes,
        hallucination=hallucination,
    )
    report = build_dataset(args.out, params, force=args.force, progress=not args.quiet)
    if report.up_to_date:
        print(f"{args.out} is up to date (same parameters); nothing to do")
        return 0
    if len(report.kinds) > 1:
        for kind, n in report.kinds.items():
            print(f"  {kind:<20} {n:4d} clips  {_duration(report.kind_seconds[kind])}")
    print("  time per stage: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.stages.items()))
    print(
        f"wrote {args.out}: {report.clips} clips, {_duration(report.audio_seconds)} of audio "
        f"(+ {report.calibration} calibration clips) in {report.elapsed_s:.1f} s"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """`edgeasr data --out DIR [--count 120] [--seed 0] [--calibration 32] [--espeak 0] [--perturb 0]
    [--long-minutes 0] [--[no-]hallucination] [--force]`."""
    p = sub.add_parser("data", help="generate the synthetic evaluation set with Piper/espeak-ng (needs [export])")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--count", type=int, default=120, help="Piper clips from the test split (default 120)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--calibration", type=int, default=32, help="clips for quantizer calibration (a disjoint split)")
    p.add_argument("--espeak", type=int, default=0, help="extra espeak-ng clips (kind 'espeak', other sentences)")
    p.add_argument(
        "--perturb",
        type=int,
        default=0,
        metavar="N",
        help="copy N of the clean clips into each of 14 harder conditions: noise (white/pink/babble at "
        "20/10/5 dB SNR), speed 0.9/1.1, 8 kHz telephone, reverb, clipping (default 0; 20 in `make data`)",
    )
    p.add_argument(
        "--long-minutes",
        type=float,
        default=0.0,
        metavar="M",
        help="add one long-form FLAC of at least M minutes of continuous reading (default 0: none)",
    )
    p.add_argument(
        "--hallucination",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="add silence and tone clips with empty references (default: on with --perturb or --long-minutes)",
    )
    p.add_argument("--force", action="store_true", help="replace DIR when it was made with other parameters")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_data)
