"""Build the project's evaluation set: sentences from `sentences.py` spoken by `speech.py`,
written as DIR/clips/* + DIR/manifest.jsonl (+ calibration.jsonl). Kinds in the manifest:

- `clean` (Piper) and `espeak` (espeak-ng, other sentences);
- harder copies of a fixed subset of the clean clips (`--perturb N`, the same N clips in every
  condition, so conditions compare on the same sentences): `noise-{white,pink,babble}-{20,10,5}db`,
  `speed-0.9`, `speed-1.1`, `telephone` (stored at 8 kHz), `reverb`, `clipping` (`perturb.py`);
- `long-form`: one FLAC of at least `--long-minutes` of Piper reading further test sentences
  (not used by any other clip) with 0.3-1.2 s pauses; the reference is the sentences joined;
- hallucination checks with an empty reference: `silence` (digital zero, and -60 dBFS noise)
  and `tone` (a synthetic melody). Metrics score any words on those as hallucinated.

Every clip is deterministic for a seed. The set is written into a temporary folder beside DIR
and renamed at the end, so an interrupted run never leaves a half-written set that looks
complete. DIR/params.json records how it was made: a rerun with the same parameters does
nothing, other parameters (or an older format) need force.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import wave
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeasr.runtime.errors import EdgeASRError

if TYPE_CHECKING:
    from tqdm import tqdm

    from edgeasr.export.speech import PiperSpeaker

FORMAT_VERSION = 2  # bump when the sentences, voices, conditions or audio processing change
SAMPLE_RATE = 16000
NOISES = ("white", "pink", "babble")
SNRS_DB = (20, 10, 5)
SPEEDS = (0.9, 1.1)
CONDITIONS = (
    *(f"noise-{n}-{s}db" for n in NOISES for s in SNRS_DB),
    *(f"speed-{f}" for f in SPEEDS),
    "telephone",
    "reverb",
    "clipping",
)
TELEPHONE_RATE = 8000
BABBLE_TALKERS = (4, 6)  # other clean clips mixed into one babble noise
LONG_PAUSE_S = (0.3, 1.2)
HALLUCINATION = (("silence-0000", "silence", 6.0), ("silence-0001", "silence", 6.0))
HALLUCINATION += (("tone-0000", "tone", 5.0), ("tone-0001", "tone", 8.0))
LOW_NOISE_DBFS = -60.0


@dataclass(frozen=True)
class DataParams:
    """Everything that decides the bytes of a generated set."""

    count: int = 120
    seed: int = 0
    calibration: int = 32
    espeak: int = 0
    perturb: int = 0
    long_minutes: float = 0.0
    hallucination: bool = False
    version: int = FORMAT_VERSION

    def to_json(self, clips: list[Planned]) -> dict[str, object]:
        """The dict stored in params.json, with a digest of the planned texts so that a change
        to the sentence generator also makes an existing set out of date."""
        text = "\n".join(f"{c.id}\t{c.source}\t{c.text}\t{'|'.join(c.pool)}" for c in clips)
        return {**asdict(self), "texts_sha256": hashlib.sha256(text.encode()).hexdigest()}


@dataclass
class Planned:
    """One clip to make."""

    id: str
    text: str
    kind: str
    split: str
    manifest: str  # "manifest" or "calibration"
    source: str = ""  # the clean clip a perturbed copy is made from
    pool: tuple[str, ...] = ()  # long-form: the sentences to read, in order, as many as needed


@dataclass
class DataReport:
    """What `build_dataset` did, for the command's summary."""

    out: Path
    clips: int
    calibration: int
    audio_seconds: float
    elapsed_s: float
    up_to_date: bool = False
    kinds: dict[str, int] = field(default_factory=dict)
    kind_seconds: dict[str, float] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)


def perturb_subset(p: DataParams) -> list[int]:
    """Indices of the clean clips that get perturbed copies: `p.perturb` of them, from the seed."""
    from edgeasr.export.speech import _rng

    return sorted(int(i) for i in _rng(p.seed, "perturb-subset").choice(p.count, p.perturb, replace=False))


def plan(p: DataParams) -> list[Planned]:
    """The clips of a set: Piper test sentences, espeak test sentences (the same draw continued),
    perturbed copies, the long-form reading (the draw continued again), silence/tone, then Piper
    calibration sentences (a disjoint split)."""
    from edgeasr.export.sentences import generate

    pool_size = math.ceil(p.long_minutes * 60 / 1.5) + 10 if p.long_minutes > 0 else 0
    test = generate(p.count + p.espeak + pool_size, p.seed, "test")
    out = [Planned(f"clean-{i:04d}", t, "clean", "test", "manifest") for i, t in enumerate(test[: p.count])]
    espeak = test[p.count : p.count + p.espeak]
    out += [Planned(f"espeak-{i:04d}", t, "espeak", "test", "manifest") for i, t in enumerate(espeak)]
    subset = perturb_subset(p) if p.perturb else []
    for kind in CONDITIONS if subset else ():
        out += [Planned(f"{kind}-{i:04d}", test[i], kind, "test", "manifest", f"clean-{i:04d}") for i in subset]
    if pool_size:
        pool = tuple(test[p.count + p.espeak :])
        out.append(Planned("long-form-0000", "", "long-form", "test", "manifest", pool=pool))
    for cid, kind, _ in HALLUCINATION if p.hallucination else ():
        out.append(Planned(cid, "", kind, "none", "manifest"))
    calib = generate(p.calibration, p.seed, "calibration")
    out += [Planned(f"calib-{i:04d}", t, "clean", "calibration", "calibration") for i, t in enumerate(calib)]
    return out


def _validate(p: DataParams) -> None:
    if min(p.count, p.calibration, p.espeak, p.perturb, p.long_minutes) < 0:
        raise EdgeASRError("--count, --calibration, --espeak, --perturb and --long-minutes must not be negative")
    if p.count + p.espeak + p.long_minutes == 0 and not p.hallucination:
        raise EdgeASRError("nothing to generate: --count, --espeak and --long-minutes are all 0")
    if p.perturb > p.count:
        raise EdgeASRError(f"--perturb {p.perturb} is more than the {p.count} clean clips (--count)")
    if p.perturb and p.count < BABBLE_TALKERS[0] + 1:
        raise EdgeASRError(f"--perturb needs --count {BABBLE_TALKERS[0] + 1} or more (babble mixes other clips)")


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
        version = old.get("version") if isinstance(old, dict) else None
        why = f"an older generator (format {version}, now {FORMAT_VERSION})" if version != FORMAT_VERSION else ""
        raise EdgeASRError(f"{out} exists and was made {why or 'with other parameters'}; use --force to replace it")
    return False


class _Writer:
    """Writes clips into the temporary folder and collects their manifest rows and totals."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rows: dict[str, list[str]] = {"manifest": [], "calibration": []}
        self.kinds: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()

    def add(self, c: Planned, pcm: np.ndarray, voice: str, rate: int = SAMPLE_RATE, **extra: object) -> None:
        from edgeasr.export import speech

        if c.kind == "long-form":
            import soundfile

            rel = f"clips/{c.id}.flac"
            soundfile.write(str(self.root / rel), pcm, rate, format="FLAC", subtype="PCM_16")
            seconds = len(pcm) / rate
        elif rate == SAMPLE_RATE:
            rel = f"clips/{c.id}.wav"
            seconds = speech.write_wav(self.root / rel, pcm)
        else:
            rel = f"clips/{c.id}.wav"
            seconds = _write_wav(self.root / rel, pcm, rate)
        text = str(extra.pop("text", c.text))
        row = {"id": c.id, "audio": rel, "text": text, "kind": c.kind, "voice": voice, "seconds": round(seconds, 3)}
        row |= {"split": c.split, "language": "en", "sample_rate": rate} | extra
        self.rows[c.manifest].append(json.dumps(row, ensure_ascii=False))
        if c.manifest == "manifest":
            self.kinds[c.kind] += 1
            self.seconds[c.kind] += seconds


def _write_wav(path: Path, pcm: np.ndarray, rate: int) -> float:
    """int16 mono WAV at any rate with the stdlib (reproducible bytes); returns seconds."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
    return len(pcm) / rate


def perturb_clip(
    kind: str, x: np.ndarray, rng: np.random.Generator, talkers: list[np.ndarray]
) -> tuple[np.ndarray, int, dict[str, object]]:
    """One perturbed copy of float audio `x`: (audio, sample rate, details for the manifest).
    `talkers` are the babble voices (other clean clips)."""
    from edgeasr.export import perturb as pt

    if kind.startswith("noise-"):
        _, noise_type, level = kind.split("-")
        snr, n = float(level.removesuffix("db")), len(x)
        if noise_type == "white":
            noise = pt.white_noise(n, rng)
        elif noise_type == "pink":
            noise = pt.pink_noise(n, rng)
        else:
            noise = pt.babble_noise(talkers, n, rng)
        y = pt.add_noise(x, noise, snr)
        # The gain that writing applies (to_int16) is kept, so the SNR can be checked from the files.
        return y, SAMPLE_RATE, {"noise": noise_type, "snr_db": snr, "gain": round(pt.limit_gain(y), 9)}
    if kind.startswith("speed-"):
        factor = float(kind.removeprefix("speed-"))
        return pt.change_speed(x, factor), SAMPLE_RATE, {"speed": factor}
    if kind == "telephone":
        return pt.telephone(x, SAMPLE_RATE, TELEPHONE_RATE), TELEPHONE_RATE, {}
    if kind == "reverb":
        rt60, drr = float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.0, 5.0))
        y = pt.reverberate(x, pt.room_impulse_response(rng, rt60, drr))
        return y, SAMPLE_RATE, {"rt60_s": round(rt60, 3), "drr_db": round(drr, 2)}
    if kind == "clipping":
        fraction = float(rng.uniform(0.1, 0.2))
        return pt.hard_clip(x, fraction), SAMPLE_RATE, {"clip_fraction": round(fraction, 3)}
    raise ValueError(f"unknown condition {kind!r}")


def _babble_talkers(c: Planned, clean: dict[str, np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """4-6 other clean clips (never the clip itself) for a babble noise."""
    others = [k for k in clean if k != c.source]
    k = min(int(rng.integers(BABBLE_TALKERS[0], BABBLE_TALKERS[1] + 1)), len(others))
    return [clean[others[int(i)]] for i in rng.choice(len(others), k, replace=False)]


def _long_form(piper: PiperSpeaker, seed: int, c: Planned, minutes: float, bar: tqdm) -> tuple[np.ndarray, str, int]:
    """Piper reading c.pool in order, with random pauses, until `minutes` are reached:
    (int16 audio, the reference, number of sentences)."""
    from edgeasr.export.speech import EDGE_SILENCE_S, _rng

    edge = int(EDGE_SILENCE_S * SAMPLE_RATE)
    rng = _rng(seed, "long-form-pauses")
    parts, texts = [np.zeros(edge, np.int16)], []
    total, target = 2 * edge, int(minutes * 60 * SAMPLE_RATE)
    for text in c.pool:
        if texts:
            parts.append(np.zeros(int(rng.uniform(*LONG_PAUSE_S) * SAMPLE_RATE), np.int16))
            total += len(parts[-1])
        parts.append(piper.synthesize(text, seed)[edge:-edge])  # each sentence without its own edges
        texts.append(text)
        total += len(parts[-1])
        bar.update(min(total, target) // SAMPLE_RATE - bar.n)
        if total >= target:
            break
    else:
        raise EdgeASRError("long-form: the planned sentences ran out before the length was reached")
    parts.append(np.zeros(edge, np.int16))
    return np.concatenate(parts), " ".join(texts), len(texts)


def _hallucination_audio(seed: int, cid: str, seconds: float) -> np.ndarray:
    """Silence (digital zero, or white noise at -60 dBFS RMS) or a melody, as int16."""
    from edgeasr.export import perturb as pt
    from edgeasr.export.speech import _rng

    rng, n = _rng(seed, "hallucination", cid), int(seconds * SAMPLE_RATE)
    if cid == "silence-0000":
        return np.zeros(n, np.int16)
    if cid.startswith("silence"):
        return pt.to_int16(pt.white_noise(n, rng) * 10.0 ** (LOW_NOISE_DBFS / 20.0))
    return pt.to_int16(pt.melody(rng, seconds))


def build_dataset(out: str | Path, params: DataParams, force: bool = False, progress: bool = True) -> DataReport:
    """Synthesise the set described by `params` into `out` (see the module docstring)."""
    from tqdm import tqdm

    from edgeasr.export import perturb as pt
    from edgeasr.export.speech import Delivery, EspeakSpeaker, PiperSpeaker, _rng

    p = params
    _validate(p)
    out = Path(out)
    start = time.perf_counter()
    clips = plan(p)
    params_json = p.to_json(clips)
    if _check_existing(out, params_json, force):
        return DataReport(out, 0, 0, 0.0, time.perf_counter() - start, up_to_date=True)

    piper = PiperSpeaker() if p.count or p.calibration or p.long_minutes else None
    espeak = EspeakSpeaker() if p.espeak else None  # fail before any work if a voice is missing

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "clips").mkdir(parents=True)
    w = _Writer(tmp)
    stages: dict[str, float] = {"plan": time.perf_counter() - start}
    clean: dict[str, np.ndarray] = {}  # float audio of the clean clips, for perturbing and babble

    def select(kinds: set[str], manifest: str = "manifest") -> list[Planned]:
        return [c for c in clips if c.kind in kinds and c.manifest == manifest]

    @contextmanager
    def timed(name: str) -> Iterator[None]:
        t, before = time.perf_counter(), sum(map(len, w.rows.values()))
        yield
        if name == "write" or sum(map(len, w.rows.values())) > before:  # only the stages that made clips
            stages[name] = time.perf_counter() - t

    def bar(items: list[Planned], desc: str) -> tqdm:
        return tqdm(items, unit="clip", desc=desc, disable=not progress or not items)

    try:
        with timed("clean"):
            for c in bar(select({"clean"}), "clean (Piper)"):
                assert piper is not None
                pcm = piper.synthesize(c.text, p.seed)
                clean[c.id] = pt.from_int16(pcm)
                w.add(c, pcm, piper.name)
        with timed("espeak"):
            for c in bar(select({"espeak"}), "espeak"):
                assert espeak is not None
                v, speed = espeak.pick(p.seed, c.text)
                w.add(c, espeak.synthesize(c.text, p.seed, voice=v, speed=speed), f"espeak-{v}")
        with timed("calibration"):
            for c in bar(select({"clean"}, "calibration"), "calibration"):
                assert piper is not None
                # Calibration clips vary rate and expressiveness to cover a wider range of inputs.
                w.add(c, piper.synthesize(c.text, p.seed, Delivery.varied(p.seed, c.text)), piper.name)
        with timed("perturb"):
            for c in bar(select(set(CONDITIONS)), "perturbed"):
                rng = _rng(p.seed, "perturb", c.kind, c.source)
                talkers = _babble_talkers(c, clean, rng) if "babble" in c.kind else []
                audio, rate, details = perturb_clip(c.kind, clean[c.source], rng, talkers)
                w.add(c, pt.to_int16(audio), piper.name, rate, source=c.source, **details)
        with timed("long-form"):
            for c in select({"long-form"}):
                assert piper is not None
                with tqdm(total=math.ceil(p.long_minutes * 60), unit="s", desc="long-form", disable=not progress) as b:
                    pcm, text, n = _long_form(piper, p.seed, c, p.long_minutes, b)
                w.add(c, pcm, piper.name, text=text, sentences=n)
        with timed("silence/tone"):
            for c in select({"silence", "tone"}):
                seconds = next(s for cid, _, s in HALLUCINATION if cid == c.id)
                w.add(c, _hallucination_audio(p.seed, c.id, seconds), "none" if c.kind == "silence" else "synthetic")
        with timed("write"):
            for name, rows in w.rows.items():
                if rows:
                    (tmp / f"{name}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
            (tmp / "params.json").write_text(json.dumps(params_json, indent=2) + "\n", encoding="utf-8")
            _replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return DataReport(
        out,
        len(w.rows["manifest"]),
        len(w.rows["calibration"]),
        sum(w.seconds.values()),
        time.perf_counter() - start,
        kinds=dict(w.kinds),
        kind_seconds=dict(w.seconds),
        stages=stages,
    )


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished set into place; an older set (force) is moved aside first."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    if old.exists():
        shutil.rmtree(old)
