"""The single `edgeasr` command. Runtime subcommands are defined here; build-time ones
(export, verify, build, ...) are registered by the build packages through the
`edgeasr.commands` entry point group and import torch only when they run."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from edgeasr.runtime.errors import EdgeASRError


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--artifact", required=True, type=Path, help="artifact directory (with manifest.json)")
    p.add_argument("--backend", choices=["onnxruntime", "openvino"], help="default: the artifact's own")
    p.add_argument("--threads", type=int, help="CPU threads (default: all available)")
    p.add_argument("--precision", choices=["f32", "bf16", "f16"], help="OpenVINO inference precision hint")
    p.add_argument("--verify", action="store_true", help="check every file's sha256 before loading")
    p.add_argument("--max-seconds", type=float, help="longest audio one model call sees (default: the model's window)")


def _load(args: argparse.Namespace):
    from edgeasr.runtime.model import load_model

    return load_model(
        args.artifact, args.backend, args.threads, args.precision, verify=args.verify, max_seconds=args.max_seconds
    )


def cmd_transcribe(args: argparse.Namespace) -> int:
    """Transcribe each file; a bad file gets one error line and the others still run."""
    from edgeasr.runtime.audio import duration_seconds
    from edgeasr.runtime.formats import render

    good, failed = [], 0
    for path in args.audio:
        try:
            duration_seconds(path)  # header check before the model is loaded
            good.append(path)
        except EdgeASRError as exc:
            print(f"edgeasr: error: {exc}", file=sys.stderr)
            failed += 1
    if not good:
        return 2
    model = _load(args)
    opts = {"language": args.language, "context": args.context, "max_new_tokens": args.max_new_tokens}
    for path in good:
        try:
            r = model.transcribe(path, batch_size=args.batch_size, ignore_eos=args.ignore_eos, **opts)[0]
        except EdgeASRError as exc:
            print(f"edgeasr: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        fmt = "json" if args.json else args.format
        if args.output_dir:
            ext = {"text": "txt", "verbose_json": "json"}.get(fmt, fmt)
            args.output_dir.mkdir(parents=True, exist_ok=True)
            (args.output_dir / f"{path.stem}.{ext}").write_text(render(r, fmt))
        elif fmt == "json":
            print(
                json.dumps(
                    {"audio": str(path), "text": r.text, "language": r.language, "timings": r.timings},
                    ensure_ascii=False,
                )
            )
        elif fmt == "text":
            print(f"{path}: {r.text}" if len(args.audio) > 1 else r.text)
        else:
            if len(args.audio) > 1:
                print(f"==> {path} <==")
            print(render(r, fmt), end="")
    return 2 if failed else 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Score an artifact on a manifest and write the eval JSON."""
    from edgeasr.runtime.dataset import read_manifest
    from edgeasr.runtime.evaluate import evaluate

    clips = read_manifest(args.manifest)
    if args.limit:
        clips = clips[: args.limit]
    model = _load(args)
    out = evaluate(model, clips, language=args.language, progress=not args.quiet)
    if args.json:
        _write_json(args.json, out)
    print(
        f"{model.artifact.path.name}: WER {out['wer'] * 100:.2f}%  CER {out['cer'] * 100:.2f}%  "
        f"RTF {out['rtf']:.3f}  ({len(clips)} clips, {out['audio_seconds']:.0f} s audio, "
        f"{out['backend']}, {out['threads']} threads, peak RSS {out['peak_rss_mb']:.0f} MB)"
    )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Bench every artifact on the manifest; one run record per artifact under --out."""
    from edgeasr.runtime.bench import BenchSpec, bench
    from edgeasr.runtime.config import load_target
    from edgeasr.runtime.dataset import read_manifest
    from edgeasr.runtime.system import describe

    target = load_target(args.target) if args.target else None
    read_manifest(args.manifest)  # fail early on a bad manifest
    threads = args.threads or (target.threads if target else None)
    label = target.name if target else "local"
    print(f"machine: {describe()}; threads: {threads or 'all'}; target: {label}")
    specs = []
    for art in args.artifacts:
        from edgeasr.runtime.artifact import load_artifact
        from edgeasr.runtime.model import refused_here

        a = load_artifact(art)
        if reason := refused_here(a.manifest, args.backend or a.backend):
            print(f"skipped {art}: {reason}")  # the other artifacts still get measured
            continue
        rt = a.manifest.get("runtime", {})
        if args.precision or "inference_precision" not in rt:
            precision = args.precision or (target.openvino_precision if target else None)
        else:  # the profile chose (null: OpenVINO's own default, e.g. bf16/f16), the target does not override it
            precision = rt["inference_precision"]
        specs.append(
            BenchSpec(
                artifact=str(art),
                manifest=str(args.manifest),
                out=str(args.out / label / f"{Path(art).name}.json"),
                target=label,
                threads=threads,
                backend=args.backend,
                precision=precision if (args.backend or a.backend) == "openvino" else None,
                repeats=args.repeats,
                latency_clips=args.latency_clips,
                limit_per_kind=args.limit_per_kind,
                kinds=args.kinds.split(",") if args.kinds else None,
                skip_kinds=args.skip_kinds.split(",") if args.skip_kinds else None,
                max_new_tokens=args.max_new_tokens,
                ignore_eos=args.ignore_eos,
            )
        )
    for path in bench(specs, progress=not args.quiet):
        r = json.loads(path.read_text())
        acc, lat = r["accuracy"], r["latency"]
        print(
            f"{r['artifact']['name']:32s} {r['artifact']['size_mb']:7.1f} MB  WER {acc['wer'] * 100:5.2f}%  "
            f"RTF {lat['rtf']['median']:.3f}  enc {lat['encoder_ms_per_audio_s']['median']:.1f} ms/s  "
            f"dec {lat['decode_ms_per_token']['median']:.1f} ms/tok  RSS {r['peak_rss_mb']:.0f} MB  -> {path}"
        )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Tables, recommendation and plots from stored run records (no model is run)."""
    from edgeasr.runtime.report import write_report

    paths = write_report(args.runs, args.out, wer_budget=args.wer_budget, plots=not args.no_plots)
    for p in paths:
        print(f"wrote {p}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve an artifact over HTTP until interrupted."""
    from edgeasr.runtime.server import Limits, serve

    model = _load(args)
    limits = Limits(args.max_batch, args.max_queue, args.max_upload_mb, args.max_audio_seconds)
    print(
        f"edgeasr: serving {args.artifact} ({model.backend}, {model.threads} threads) on http://{args.host}:{args.port}"
    )
    serve(model, args.host, args.port, limits)
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    """Show or clear OpenVINO's compiled-model cache (pruned on every load; this is for a look).
    Clearing removes only what the cache wrote: EDGEASR_OV_CACHE may name a folder holding more."""
    from edgeasr.runtime import ov_cache

    root = ov_cache.cache_root()
    if root is None:
        print("edgeasr: the OpenVINO cache is off (EDGEASR_OV_CACHE)")
        return 0
    if args.clear:
        removed = ov_cache.prune(root, limit=0)
        print(f"removed {len(removed)} entries from {root}")
        return 0
    rows = ov_cache.summary(root)
    for r in rows:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(r["used"] or 0)))
        print(f"{int(r['bytes']) / 1e6:9.1f} MB  {used}  {r['graph']}")
    total = sum(int(r["bytes"]) for r in rows)
    print(f"{root}: {len(rows)} graphs, {total / 1e6:.1f} MB (limit {ov_cache.limit_bytes() / 1e9:g} GB)")
    return 0


def _write_json(path: Path, data: object) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _runtime_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transcribe", help="transcribe audio files with an artifact")
    p.add_argument("audio", nargs="+", type=Path)
    _model_args(p)
    p.add_argument("--language", help="language code (e.g. en); default: detected")
    p.add_argument("--context", help="text that biases recognition toward names and terms")
    p.add_argument("--batch-size", type=int, default=1, help="chunks of long audio decoded together")
    p.add_argument("--max-new-tokens", type=int, help="stop after this many generated tokens")
    p.add_argument("--ignore-eos", action="store_true", help="keep decoding past end-of-text (benchmarks)")
    p.add_argument("--format", choices=["text", "json", "verbose_json", "srt", "vtt"], default="text")
    p.add_argument("--output-dir", type=Path, help="write <name>.<format> files here instead of printing")
    p.add_argument("--json", action="store_true", help="one JSON object per file, with timings")
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("eval", help="score an artifact on a manifest (WER, CER, RTF, memory)")
    _model_args(p)
    p.add_argument("--manifest", required=True, help="JSONL manifest, folder of audio + .txt, or hf:<dataset id>")
    p.add_argument("--json", type=Path, help="write the full result here")
    p.add_argument("--language")
    p.add_argument("--limit", type=int, help="only the first N clips")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)


def _bench_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="accuracy, latency and memory of artifacts; writes run records")
    p.add_argument("--artifacts", nargs="+", required=True, type=Path)
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--target", help="target name (x86-laptop, rpi4, rpi5) or YAML file: threads and hints")
    p.add_argument("--out", type=Path, default=Path("runs"), help="run records go to OUT/<target>/")
    p.add_argument("--threads", type=int)
    p.add_argument("--backend", choices=["onnxruntime", "openvino"])
    p.add_argument("--precision", choices=["f32", "bf16", "f16"], help="OpenVINO inference precision hint")
    p.add_argument("--repeats", type=int, default=3, help="latency repeats after the warm-up")
    p.add_argument("--latency-clips", type=int, default=5)
    p.add_argument("--limit-per-kind", type=int, help="only the first N clips of each kind")
    p.add_argument("--kinds", help="comma-separated kinds to keep")
    p.add_argument("--skip-kinds", help="comma-separated kinds to leave out (e.g. long-form)")
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--ignore-eos", action="store_true", help="decode exactly --max-new-tokens (random weights)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("report", help="report.md, report.json and plots from run records")
    p.add_argument("--runs", type=Path, default=Path("runs"))
    p.add_argument("--out", type=Path, default=Path("report"))
    p.add_argument("--wer-budget", type=float, default=1.0, help="WER points above fp32 allowed (default 1)")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=cmd_report)


def _serve_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="OpenAI-compatible transcription server (needs [serve])")
    _model_args(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-batch", type=int, default=4, help="requests decoded together")
    p.add_argument("--max-queue", type=int, default=16, help="requests waiting before 429")
    p.add_argument("--max-upload-mb", type=float, default=25.0)
    p.add_argument("--max-audio-seconds", type=float, default=1800.0)
    p.set_defaults(func=cmd_serve)


def _cache_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="OpenVINO's compiled-model cache: what it holds, or --clear")
    p.add_argument("--clear", action="store_true", help="delete the whole cache")
    p.set_defaults(func=cmd_cache)


def build_parser() -> argparse.ArgumentParser:
    """The parser with runtime commands and every installed build-time command."""
    parser = argparse.ArgumentParser(prog="edgeasr", description="Speech recognition on small machines.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _runtime_commands(sub)
    _bench_commands(sub)
    _serve_command(sub)
    _cache_command(sub)
    for ep in sorted(entry_points(group="edgeasr.commands"), key=lambda e: e.name):
        try:
            register: Callable[[argparse._SubParsersAction], None] = ep.load()
        except ImportError:
            continue
        register(sub)
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point: errors the user can fix are one line on stderr and exit status 2; SIGTERM
    unwinds like Ctrl-C, so a build in progress removes its staging directory."""
    signal.signal(signal.SIGTERM, _interrupt)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EdgeASRError as exc:
        print(f"edgeasr: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        extra = {"serve": "serve", "report": "report"}.get(args.command, "export")
        print(
            f"edgeasr {args.command}: needs the module '{exc.name}', which is not installed "
            f"(pip install 'edgeasr[{extra}]')",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("edgeasr: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # disk full, permission denied, ...: the user's to fix, not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"edgeasr: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if _caused_by_interrupt(exc):  # e.g. Ctrl-C inside a C extension's import or call
            print("edgeasr: interrupted", file=sys.stderr)
            return 130
        raise


def _caused_by_interrupt(exc: BaseException | None) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


if __name__ == "__main__":
    sys.exit(main())
