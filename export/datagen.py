"""Build the project's synthetic evaluation set: sentences from `sentences.py` spoken by
`speech.py`, written as DIR/clips/*.wav + DIR/manifest.jsonl (+ calibration.jsonl).

The set is written into a temporary folder beside DIR and renamed at the end, so an
interrupted run never leaves a half-written set that looks complete. DIR/params.json records
how it was made: a rerun with the same parameters does nothing, other parameters need force.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeasr.runtime.errors import EdgeASRError

FORMAT_VERSION = 1  # bump when the sentences, voices or audio processing change


@dataclass(frozen=True)
class DataParams:
    """Everything that decides the bytes of a generated set."""

    count: int = 120
    seed: int = 0
    calibration: int = 32
    espeak: int = 0
    version: int = FORMAT_VERSION

    def to_json(self, clips: list[Planned]) -> dict[str, object]:
        """The dict stored in params.json, with a digest of the planned texts so that a change
        to the sentence generator also makes an existing set out of date."""
        digest = hashlib.sha256("\n".join(f"{c.id}\t{c.text}" for c in clips).encode()).hexdigest()
        return {**asdict(self), "texts_sha256": digest}


@dataclass
class Planned:
    """One clip to synthesise."""

    id: str
    text: str
    kind: str
    split: str
    manifest: str  # "manifest" or "calibration"


@dataclass
class DataReport:
    """What `build_dataset` did, for the command's summary line."""

    out: Path
    clips: int
    calibration: int
    audio_seconds: float
    elapsed_s: float
    up_to_date: bool = False


def plan(p: DataParams) -> list[Planned]:
    """The clips of a set: Piper test sentences, then espeak test sentences (different ones:
    the same draw continued), then Piper calibration sentences (a disjoint split)."""
    from edgeasr.export.sentences import generate

    test = generate(p.count + p.espeak, p.seed, "test")
    out = [Planned(f"clean-{i:04d}", t, "clean", "test", "manifest") for i, t in enumerate(test[: p.count])]
    out += [Planned(f"espeak-{i:04d}", t, "espeak", "test", "manifest") for i, t in enumerate(test[p.count :])]
    calib = generate(p.calibration, p.seed, "calibration")
    out += [Planned(f"calib-{i:04d}", t, "clean", "calibration", "calibration") for i, t in enumerate(calib)]
    return out


def _check_existing(out: Path, want: dict[str, object], force: bool) -> bool:
    """True when `out` already holds this exact set; raises unless it may be replaced."""
    if not out.exists():
        return False
    params = out / "params.json"
    try:
        old = json.loads(params.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    if old == want and (out / "manifest.jsonl").is_file():
        return True
    if old is None:
        if out.is_dir() and not any(out.iterdir()):
            return False  # an empty folder is simply filled
        # Never delete a folder this command did not make, even with --force (--out . is a typo away).
        raise EdgeASRError(f"{out} exists and is not a generated data set (no params.json); not replacing it")
    if not force:
        raise EdgeASRError(f"{out} exists and was made with other parameters; use --force to replace it")
    return False


def build_dataset(out: str | Path, params: DataParams, force: bool = False, progress: bool = True) -> DataReport:
    """Synthesise the set described by `params` into `out` (see the module docstring)."""
    from tqdm import tqdm

    from edgeasr.export.speech import Delivery, EspeakSpeaker, PiperSpeaker, write_wav

    p = params
    if min(p.count, p.calibration, p.espeak) < 0 or p.count + p.espeak == 0:
        raise EdgeASRError("--count and --espeak must not be negative and not both 0")
    out = Path(out)
    start = time.perf_counter()
    clips = plan(p)
    params_json = p.to_json(clips)
    if _check_existing(out, params_json, force):
        return DataReport(out, 0, 0, 0.0, time.perf_counter() - start, up_to_date=True)

    piper = PiperSpeaker() if any(c.kind == "clean" for c in clips) else None
    espeak = EspeakSpeaker() if p.espeak else None  # fail before any work if a voice is missing

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "clips").mkdir(parents=True)
    lines: dict[str, list[str]] = {"manifest": [], "calibration": []}
    total = 0.0
    try:
        for c in tqdm(clips, unit="clip", desc="synthesizing", disable=not progress):
            if c.kind == "espeak":
                assert espeak is not None
                v, speed = espeak.pick(p.seed, c.text)
                audio = espeak.synthesize(c.text, p.seed, voice=v, speed=speed)
                voice = f"espeak-{v}"
            else:
                assert piper is not None
                # Calibration clips vary rate and expressiveness to cover a wider range of inputs.
                delivery = Delivery.varied(p.seed, c.text) if c.manifest == "calibration" else None
                audio = piper.synthesize(c.text, p.seed, delivery)
                voice = piper.name
            rel = f"clips/{c.id}.wav"
            seconds = write_wav(tmp / rel, audio)
            if c.manifest == "manifest":
                total += seconds
            row = {"id": c.id, "audio": rel, "text": c.text, "kind": c.kind, "voice": voice}
            row |= {"seconds": round(seconds, 3), "split": c.split, "language": "en"}
            lines[c.manifest].append(json.dumps(row, ensure_ascii=False))
        for name, rows in lines.items():
            if rows:
                (tmp / f"{name}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
        (tmp / "params.json").write_text(json.dumps(params_json, indent=2) + "\n", encoding="utf-8")
        _replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n_cal = len(lines["calibration"])
    return DataReport(out, len(lines["manifest"]), n_cal, total, time.perf_counter() - start)


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished set into place; an older set (force) is moved aside first."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    if old.exists():
        shutil.rmtree(old)
