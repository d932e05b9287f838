"""edgeasr against the engines a user would pick instead, in one run on one machine: the same
clips (decoded once, identical samples for everyone), the same thread count, greedy decoding,
engines alternating clip by clip (the order rotates), each engine in its own process.

Engines: every edgeasr artifact given; faster-whisper fp32 and int8 on the CTranslate2
directory edgeasr's importer reads; transformers PyTorch fp32 and dynamic int8
(torch.ao.quantization.quantize_dynamic); OpenVINO GenAI WhisperPipeline on optimum-intel
exports (run with the peers virtualenv's python).

    python bench/peers.py --manifest data/eval/manifest.jsonl --artifacts artifacts/tiny.en-* \
        --genai work/peers/tiny.en-ov-fp32 work/peers/tiny.en-ov-int8 --peers-python .venv-peers/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

WORKER = str(Path(__file__).with_name("peer_worker.py"))


class Worker:
    def __init__(self, name: str, kind: str, spec: str, threads: int, python: str, size_mb: float) -> None:
        self.name, self.size_mb = name, size_mb
        self.proc = subprocess.Popen(
            [python, WORKER, kind, spec, str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.load_s = self._read()["load_s"]
        self.texts: list[str] = []
        self.seconds: list[float] = []

    def _read(self) -> dict:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise SystemExit(f"{self.name}: worker died (exit {self.proc.wait()})")
        return json.loads(line)

    def run(self, npy: str) -> tuple[str, float]:
        self.proc.stdin.write(json.dumps({"audio": npy}) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        r = self._read()
        return r["text"], r["seconds"]

    def close(self) -> float:
        self.proc.stdin.write(json.dumps({"quit": True}) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        rss = self._read()["peak_rss_mb"]
        self.proc.wait(timeout=60)
        return rss


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


# optimum-cli cannot convert the tokenizer of a directory written by transformers 5 (its
# tokenizer class is unknown to 4.57), so GenAI would lack its detokenizer: convert it here.
CONVERT_TOKENIZER = """
import sys
import openvino as ov
from openvino_tokenizers import convert_tokenizer
from transformers import WhisperTokenizerFast
tok, detok = convert_tokenizer(WhisperTokenizerFast.from_pretrained(sys.argv[1]), with_detokenizer=True)
ov.save_model(tok, sys.argv[1] + "/openvino_tokenizer.xml")
ov.save_model(detok, sys.argv[1] + "/openvino_detokenizer.xml")
"""


def prepare_genai(source: str, root: Path, peers_python: str, weights: list[str]) -> list[str]:
    """optimum-intel exports of SOURCE (fp32 / int8 weights) for OpenVINO GenAI, made once under
    ROOT: edgeasr writes the model as a transformers directory, the peers virtualenv's
    optimum-cli exports it (each into a temporary folder renamed when complete)."""
    import shutil

    from edgeasr.export.ct2 import save_transformers
    from edgeasr.export.sources import load_source

    name = source.replace("/", "_")
    hf = root / f"{name}-hf"
    if not (hf / "config.json").is_file():
        loaded = load_source(source)
        save_transformers(loaded.model, loaded.tokenizer_json, hf)
    cli = str(Path(peers_python).with_name("optimum-cli"))
    if not Path(cli).is_file():
        raise SystemExit(f"{cli} not found: make the peers virtualenv first (make bench-peers does)")
    out = []
    for w in weights:
        dest = root / f"{name}-genai-{w}"
        if not (dest / "openvino_encoder_model.xml").is_file():
            tmp = root / f".{dest.name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            cmd = [cli, "export", "openvino", "--model", str(hf), "--task", "automatic-speech-recognition-with-past"]
            subprocess.run([*cmd, "--weight-format", w, str(tmp)], check=True)
            if not (tmp / "openvino_detokenizer.xml").is_file():  # optimum could not convert the tokenizer
                subprocess.run([peers_python, "-c", CONVERT_TOKENIZER, str(tmp)], check=True)
            shutil.rmtree(dest, ignore_errors=True)
            tmp.rename(dest)
        out.append(str(dest))
    return out


def main() -> None:
    from edgeasr.runtime.audio import load_audio
    from edgeasr.runtime.bench import select_clips
    from edgeasr.runtime.metrics import error_rates, normalize
    from edgeasr.runtime.system import describe

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--kinds", default="clean,espeak")
    ap.add_argument("--limit-per-kind", type=int)
    ap.add_argument("--artifacts", nargs="*", default=[])
    ap.add_argument("--ct2", default="tiny.en", help="CTranslate2 directory, or tiny.en for the embedded one")
    ap.add_argument("--transformers", default="tiny.en", help="source for the PyTorch engines ('' to skip)")
    ap.add_argument("--genai", nargs="*", default=[], help="optimum-intel OpenVINO export directories")
    ap.add_argument("--genai-from", help="make optimum-intel exports (fp32, int8) of this source and add them")
    ap.add_argument("--genai-root", type=Path, default=Path("work/peers"), help="where --genai-from writes")
    ap.add_argument("--peers-python", default=".venv-peers/bin/python")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()

    if args.genai_from:
        args.genai += prepare_genai(args.genai_from, args.genai_root, args.peers_python, ["fp32", "int8"])
    from peer_worker import ct2_dir  # bench/ is this script's directory

    ct2 = ct2_dir(args.ct2)
    clips = select_clips(args.manifest, args.limit_per_kind, args.kinds.split(","))
    tmp = tempfile.TemporaryDirectory(prefix="edgeasr-peers-")
    npys, seconds = [], []
    for i, c in enumerate(clips):  # decode once: every engine gets the same samples
        a = load_audio(c.audio)
        npys.append(f"{tmp.name}/{i}.npy")
        np.save(npys[-1], a)
        seconds.append(a.size / 16000)

    me = sys.executable
    specs = [
        (f"faster-whisper {c}", "faster-whisper", f"{ct2}:{c}", me, dir_mb(Path(ct2))) for c in ("float32", "int8")
    ]
    if args.transformers:
        specs += [
            (f"transformers {m}", "transformers", f"{args.transformers}:{m}", me, float("nan"))
            for m in ("fp32", "int8")
        ]
    specs += [
        (f"openvino-genai {Path(d).name}", "openvino-genai", d, args.peers_python, dir_mb(Path(d))) for d in args.genai
    ]
    specs += [(f"edgeasr {Path(a).name}", "edgeasr", a, me, dir_mb(Path(a))) for a in args.artifacts]
    workers = []
    for name, kind, spec, python, mb in specs:
        print(f"loading {name}", file=sys.stderr, flush=True)
        workers.append(Worker(name, kind, spec, args.threads, python, mb))
    for w in workers:  # warm-up, not timed
        w.run(npys[0])
    from tqdm import tqdm

    for i, npy in enumerate(tqdm(npys, desc="peers", unit="clip", disable=None)):
        for w in workers[i % len(workers) :] + workers[: i % len(workers)]:  # rotate the order
            text, dt = w.run(npy)
            w.texts.append(text)
            w.seconds.append(dt)
    refs = [normalize(c.text) for c in clips]
    rows = []
    for w in workers:
        rss = w.close()
        s = error_rates(refs, [normalize(t) for t in w.texts])
        rows.append(
            {
                "engine": w.name,
                "wer": s["wer"] * 100,
                "cer": s["cer"] * 100,
                "rtf": sum(w.seconds) / sum(seconds),
                "peak_rss_mb": rss,
                "size_mb": w.size_mb,
                "load_s": w.load_s,
            }
        )
    ref = next(r for r in rows if r["engine"] == "faster-whisper int8")
    fp32 = next(r for r in rows if r["engine"] == "faster-whisper float32")
    for r in rows:
        r["rtf_vs_fw_int8"] = r["rtf"] / ref["rtf"]
        r["wer_vs_fw_fp32"] = r["wer"] - fp32["wer"]
    header = (
        f"{describe()}; {args.threads} threads; {len(clips)} clips ({args.kinds}), {sum(seconds) / 60:.1f} min; "
        "greedy; engines alternate clip by clip; RTF = seconds per audio second (decoded audio in memory)."
    )
    lines = [
        header,
        "",
        "| engine | WER % | Δ vs fw fp32 | CER % | RTF | × fw int8 | peak RSS MB | size MB | load s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: r["rtf"]):
        lines.append(
            f"| {r['engine']} | {r['wer']:.2f} | {r['wer_vs_fw_fp32']:+.2f} | {r['cer']:.2f} | {r['rtf']:.3f} | "
            f"{r['rtf_vs_fw_int8']:.2f} | {r['peak_rss_mb']:.0f} | {r['size_mb']:.0f} | {r['load_s']:.2f} |"
        )
    print("\n".join(lines))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join(lines) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "machine": describe(),
                    "threads": args.threads,
                    "clips": len(clips),
                    "rows": rows,
                    "texts": {w.name: w.texts for w in workers},
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
