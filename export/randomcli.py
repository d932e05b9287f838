"""`edgeasr random-model`: a random-weight checkpoint in transformers format, with the real
tokenizer, for export and parity tests without downloading weights. Registered through the
`edgeasr.commands` entry points; torch/transformers are imported only when the command runs."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

SIZES = ("tiny", "0.6b", "1.7b")  # = edgeasr.export.random_model.SIZES (kept here: no heavy import)


def cmd_random_model(args: argparse.Namespace) -> int:
    """Write the checkpoint, then optionally load it and generate a few tokens."""
    from edgeasr.export import random_model

    t0 = time.perf_counter()
    summary = random_model.write(args.out, args.size, seed=args.seed, dtype=args.dtype, force=args.force)
    summary["seconds"]["total"] = round(time.perf_counter() - t0, 2)
    summary["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if args.check:
        t1 = time.perf_counter()
        smoke = random_model.smoke_test(args.out, seconds=3.0, max_new_tokens=8, seed=args.seed)
        summary["check"] = {
            "prompt_tokens": smoke["prompt_tokens"],
            "audio_tokens": smoke["audio_tokens"],
            "generated": smoke["generated"],
            "seconds": round(time.perf_counter() - t1, 2),
        }
        summary["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        p = summary["parameters"]
        print(
            f"wrote {args.out}: qwen3-asr {args.size} ({summary['dtype']}, seed {args.seed}), "
            f"{p['total'] / 1e6:.1f} M parameters (audio encoder {p['audio_encoder'] / 1e6:.1f} M, "
            f"projector {p['projector'] / 1e6:.2f} M, decoder {p['decoder'] / 1e6:.1f} M), "
            f"{summary['bytes'] / 1e6:.0f} MB, {summary['seconds']['total']:.1f} s, "
            f"peak RSS {summary['peak_rss_mb']} MB"
        )
        if args.check:
            c = summary["check"]
            print(
                f"check: loaded, {c['prompt_tokens']}-token prompt ({c['audio_tokens']} audio), "
                f"generated {c['generated']} in {c['seconds']:.1f} s"
            )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """`edgeasr random-model --family qwen3-asr --size tiny|0.6b|1.7b --out DIR`."""
    p = sub.add_parser(
        "random-model",
        help="write a random-weight model with the real tokenizer, in transformers format (needs [export])",
        description="Random weights (fixed seed) with the released models' shapes and the real tokenizer; "
        "loads with transformers' from_pretrained, offline.",
    )
    p.add_argument("--family", choices=["qwen3-asr"], default="qwen3-asr")
    p.add_argument("--size", choices=SIZES, required=True, help="tiny: small parity-test model")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        help="weight dtype (default: float32 for tiny, bfloat16 for 0.6b/1.7b as released)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing Qwen3-ASR checkpoint in --out")
    p.add_argument("--check", action="store_true", help="then load it and generate 8 tokens for 3 s of noise")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_random_model)


def main(argv: list[str] | None = None) -> int:
    """`python -m edgeasr.export.randomcli random-model ...`: the `edgeasr` command line itself."""
    from edgeasr.runtime.cli import main as edgeasr_main

    return edgeasr_main(argv)


if __name__ == "__main__":
    sys.exit(main())
