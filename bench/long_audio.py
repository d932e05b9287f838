"""Long audio: WER of the 10-minute long-form file, and peak memory while transcribing a
1-hour file (the long-form file six times over, written to FLAC block by block). Each run is
a separate process, so its peak RSS is its own.

    python bench/long_audio.py --artifact artifacts/tiny.en-ort-int8-dynamic --manifest data/eval/manifest.jsonl
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

RUN = r"""
import json, sys, time
from edgeasr.runtime import load_model
from edgeasr.runtime.metrics import peak_rss_mb
m = load_model(sys.argv[1], threads=int(sys.argv[3]))
t = time.perf_counter()
r = m.transcribe(sys.argv[2], batch_size=int(sys.argv[4]))[0]
print(json.dumps({"seconds": time.perf_counter() - t, "text": r.text, "segments": len(r.segments),
                  "audio_s": r.duration, "peak_rss_mb": peak_rss_mb()}))
"""


def run(artifact: str, audio: Path, threads: int, batch: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", RUN, artifact, str(audio), str(threads), str(batch)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def hour_file(src: Path, dst: Path, copies: int = 6) -> Path:
    """Concatenate `src` `copies` times into `dst`, one block at a time."""
    import soundfile as sf

    with sf.SoundFile(src) as f, sf.SoundFile(dst, "w", f.samplerate, f.channels, format="FLAC") as out:
        for _ in range(copies):
            f.seek(0)
            for block in f.blocks(blocksize=f.samplerate * 10):
                out.write(block)
    return dst


def main() -> None:
    from edgeasr.runtime.dataset import read_manifest
    from edgeasr.runtime.metrics import error_rates, normalize
    from edgeasr.runtime.system import describe

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--artifact", required=True)
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    clip = next(c for c in read_manifest(args.manifest) if c.kind == "long-form")
    long = run(args.artifact, clip.audio, args.threads, args.batch_size)
    wer = error_rates([normalize(clip.text)], [normalize(long["text"])])
    hour = hour_file(clip.audio, Path("/tmp") / f"edgeasr-hour-{int(time.time())}.flac")
    try:
        big = run(args.artifact, hour, args.threads, args.batch_size)
    finally:
        hour.unlink()
    result = {
        "machine": describe(),
        "artifact": args.artifact,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "long_form": {
            "audio_s": long["audio_s"],
            "wer": wer["wer"],
            "words": wer["words"],
            "rtf": long["seconds"] / long["audio_s"],
            "segments": long["segments"],
            "peak_rss_mb": long["peak_rss_mb"],
        },
        "one_hour": {
            "audio_s": big["audio_s"],
            "rtf": big["seconds"] / big["audio_s"],
            "segments": big["segments"],
            "peak_rss_mb": big["peak_rss_mb"],
        },
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
