"""Score faster-whisper on an evaluation manifest with edgeasr's own scoring code, so its
WER/CER/RTF sit beside `edgeasr eval` results (same clips, normaliser, warm-up, threads).

    python bench/faster_whisper_eval.py --model tiny.en --compute-type float32 \
        --manifest data/eval/manifest.jsonl --threads 2 --json runs/fw.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    from peer_worker import ct2_dir, faster_whisper_engine  # bench/ is this script's directory

    from edgeasr.runtime.dataset import read_manifest
    from edgeasr.runtime.evaluate import score_transcriber

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--compute-type", default="float32", help="float32 or int8")
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    # greedy, no timestamps, no conditioning on earlier text: as edgeasr decodes
    run = faster_whisper_engine(f"{ct2_dir(args.model)}:{args.compute_type}", args.threads)

    def transcribe(audio, language):
        return run(audio, language or "en")

    res = {
        "engine": f"faster-whisper {args.compute_type}",
        **score_transcriber(transcribe, read_manifest(args.manifest)),
        "threads": args.threads,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    print(f"{res['engine']}: WER {res['wer'] * 100:.2f}%  CER {res['cer'] * 100:.2f}%  RTF {res['rtf']:.3f}")


if __name__ == "__main__":
    main()
