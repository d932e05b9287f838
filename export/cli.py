"""Build-time subcommands, registered into the runtime's `edgeasr` parser through the
`edgeasr.commands` entry points. This module imports nothing heavy: each command imports
torch/transformers inside its function, so `edgeasr --help` stays fast."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_export(args: argparse.Namespace) -> int:
    """Export a model source to an artifact directory."""
    from edgeasr.export.exporter import export_model

    export_model(args.model, args.format, args.out, force=args.force, opset=args.opset)
    print(f"wrote {args.out}")
    return 0


def register_export(sub: argparse._SubParsersAction) -> None:
    """`edgeasr export --model SRC --format onnx|openvino --out DIR`."""
    p = sub.add_parser("export", help="export a model to an ONNX or OpenVINO artifact (needs [export])")
    p.add_argument(
        "--model",
        required=True,
        help="embedded name (tiny.en, base), a CTranslate2 / transformers directory, or a hub id",
    )
    p.add_argument("--format", choices=["onnx", "openvino"], required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--force", action="store_true", help="replace an existing artifact directory")
    p.set_defaults(func=cmd_export)


def cmd_verify(args: argparse.Namespace) -> int:
    """Compare an artifact with its PyTorch reference; non-zero exit beyond tolerance."""
    from edgeasr.export.verify import verify_artifact

    report = verify_artifact(
        args.model, args.artifact, audio=args.audio, backend=args.backend, language=args.language, context=args.context
    )
    print(report.summary())
    return 0 if report.ok else 1


def register_verify(sub: argparse._SubParsersAction) -> None:
    """`edgeasr verify --model SRC --artifact DIR`."""
    p = sub.add_parser("verify", help="check an artifact against the PyTorch reference (needs [export])")
    p.add_argument("--model", required=True, help="the source the artifact was built from")
    p.add_argument("--artifact", required=True, type=Path)
    p.add_argument("--audio", nargs="*", type=Path, help="clips to compare on (default: built-in test signals)")
    p.add_argument("--backend", choices=["onnxruntime", "openvino"])
    p.add_argument("--language", help="force this language in both (default: detect, or en for English-only)")
    p.add_argument("--context", help="context text passed to both")
    p.set_defaults(func=cmd_verify)
