"""`edgeasr fixture-qwen`: train the small Qwen3-ASR-architecture test model on generated speech
(see edgeasr.export.fixture_qwen). Registered through the `edgeasr.commands` entry points;
torch/transformers are imported only when the command runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_fixture_qwen(args: argparse.Namespace) -> int:
    from edgeasr.export.fixture_qwen import run

    s = run(
        args.out,
        hours=args.hours,
        minutes=args.minutes,
        seed=args.seed,
        resume=args.resume,
        work=args.work,
        steps=args.steps,
        workers=args.workers,
        evaluate=not args.no_eval,
        progress=not args.quiet,
        device=args.device,
        overrides=dict(args.set),
    )
    p, tr = s["parameters"], s["training"]
    print(
        f"wrote {args.out}: {p['total'] / 1e6:.2f} M parameters, {s['bytes'] / 1e6:.1f} MB, trained "
        f"{tr['steps_done']} steps in {tr['train_minutes']} min on {s['train']['hours']:.2f} h of speech; "
        f"dev WER {s['dev_wer_fp16']:.2%}"
    )
    if "test" in s:
        t = s["test"]
        print(
            f"test WER through ONNX: Piper {t['piper_wer']:.2%} ({t['piper_clips']} clips), "
            f"espeak-ng {t['espeak_wer']:.2%} ({t['espeak_clips']} clips); "
            f"verify {'OK' if t['verify_ok'] else 'FAILED'}"
        )
        if not t["verify_ok"]:
            return 1
    print("time per stage (s): " + ", ".join(f"{k} {v}" for k, v in s["stages_s"].items()))
    return 0


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    return name.strip(), value.strip()


def register(sub: argparse._SubParsersAction) -> None:
    """`edgeasr fixture-qwen --out DIR [--hours H] [--minutes M] [--seed S] [--resume]`."""
    p = sub.add_parser(
        "fixture-qwen",
        help="train the small Qwen3-ASR-architecture test model on generated speech (needs [export])",
        description="Generate speech from the project's sentences (Piper + espeak-ng), train a ~7 M parameter "
        "Qwen3ASRForConditionalGeneration with a 1,024-entry BPE, write a transformers checkpoint to DIR, then "
        "export it to ONNX and score both test sets through the artifact. A closed-vocabulary test model.",
    )
    p.add_argument("--out", required=True, type=Path, help="checkpoint directory (e.g. fixtures/qwen3-asr-small)")
    p.add_argument("--hours", type=float, default=6.0, help="hours of training speech to generate (default 6)")
    p.add_argument("--minutes", type=float, default=118.0, help="training budget in wall minutes (default 118)")
    p.add_argument("--steps", type=int, help="train exactly this many steps instead (schedule over steps)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from WORK/train-state.pt")
    p.add_argument("--work", type=Path, help="cache and training state (default: DIR/work, git-ignored)")
    p.add_argument("--workers", type=int, default=2, help="speech synthesis processes (default 2)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda: where the training steps run")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        type=_setting,
        metavar="NAME=VALUE",
        help="override a training setting, e.g. --set lr=0.003 --set batch_frames=24000 (recorded in the card)",
    )
    p.add_argument("--no-eval", action="store_true", help="skip the ONNX export and the test-set WER")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_fixture_qwen)


def main(argv: list[str] | None = None) -> int:
    """`python -m edgeasr.export.fixturecli fixture-qwen ...`: the `edgeasr` command line itself."""
    from edgeasr.runtime.cli import main as edgeasr_main

    return edgeasr_main(argv)


if __name__ == "__main__":
    sys.exit(main())
