"""`edgeasr data`: generate the synthetic evaluation set (registered through the
`edgeasr.commands` entry point; Piper, onnx and espeak are imported only when it runs)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _duration(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def cmd_data(args: argparse.Namespace) -> int:
    """Write DIR/clips/*.wav, DIR/manifest.jsonl, DIR/calibration.jsonl and DIR/params.json."""
    from edgeasr.export.datagen import DataParams, build_dataset

    params = DataParams(count=args.count, seed=args.seed, calibration=args.calibration, espeak=args.espeak)
    report = build_dataset(args.out, params, force=args.force, progress=not args.quiet)
    if report.up_to_date:
        print(f"{args.out} is up to date (same parameters); nothing to do")
        return 0
    print(
        f"wrote {args.out}: {report.clips} clips, {_duration(report.audio_seconds)} of audio "
        f"(+ {report.calibration} calibration clips) in {report.elapsed_s:.1f} s"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """`edgeasr data --out DIR [--count 120] [--seed 0] [--calibration 32] [--espeak 0] [--force]`."""
    p = sub.add_parser("data", help="generate the synthetic evaluation set with Piper/espeak-ng (needs [export])")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--count", type=int, default=120, help="Piper clips from the test split (default 120)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--calibration", type=int, default=32, help="clips for quantizer calibration (a disjoint split)")
    p.add_argument("--espeak", type=int, default=0, help="extra espeak-ng clips (kind 'espeak', other sentences)")
    p.add_argument("--force", action="store_true", help="replace DIR when it was made with other parameters")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_data)
