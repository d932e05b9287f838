"""Data side of `edgeasr fixture-qwen`: the small tokenizer, the training/dev plan, speech
synthesis and the log-mel feature cache.

Tokenizer: a byte-level BPE (Qwen2's normalizer, pre-tokenizer regex and decoder) trained on the
training transcripts, 1,024 entries in all, with Qwen3-ASR's special tokens at small fixed ids
0..11 (not Qwen's 151643..151704), so that anything which hard-codes Qwen's ids fails on this
checkpoint. `<asr_text>` and `<non_speech>` are added as non-special, as in Qwen3-ASR (they
survive `decode(skip_special_tokens=True)`).

Speech: each training sentence is spoken once, by Piper (joe, with `Delivery.varied`) or by an
espeak-ng voice; some clips get white/pink noise (SNR 10-30 dB) or a speed change (0.9-1.1).
Every choice comes from `speech._rng(seed, ...)` keyed by the text, so a seed gives the same
clips in any order and any number of worker processes. Features are the runtime's own
`edgeasr.runtime.features.log_mel` (after the runtime's short-clip padding), computed once and
stored as float16 in one array per split (DIR/work/features-<split>.npy + .json index).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeasr.runtime.errors import EdgeASRError

# Qwen3-ASR's added tokens that its chat template, processor and tokenizer_config refer to, in
# Qwen's relative order, at ids 0..11 (Qwen: 151643, 151644, 151645, 151652, 151653, 151655,
# 151656, 151669, 151670, 151675, 151676, 151704).
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<|audio_start|>",
    "<|audio_end|>",
    "<non_speech>",
    "<|audio_pad|>",
    "<asr_text>",
)
NOT_SPECIAL = {"<non_speech>", "<asr_text>"}
VOCAB_SIZE = 1024
LANGUAGE_PREFIX = "language English<asr_text>"

SAMPLE_RATE = 16000
MIN_SAMPLES = 8000  # the runtime (and Qwen3ASRFeatureExtractor) zero-pad shorter clips to 0.5 s
N_MELS = 128
SECONDS_PER_CLIP = 4.2  # planning estimate (train split, Piper and espeak mixed); the card records the real total
ESPEAK_SHARE = 0.25
NOISE_SHARE = 0.15
SPEED_SHARE = 0.15
DEV_PIPER, DEV_ESPEAK = 60, 20
FORMAT_VERSION = 1  # bump when the plan, the audio or the features change


def token_id(token: str) -> int:
    return SPECIAL_TOKENS.index(token)


# -- tokenizer ---------------------------------------------------------------------------------
def _pipeline(tk: Any) -> Any:
    """Qwen2's normalizer, pre-tokenizer and decoder (as edgeasr.export.qwen_tokenizer)."""
    from tokenizers import Regex, decoders, normalizers, pre_tokenizers

    from edgeasr.export.qwen_tokenizer import PRETOKENIZE_REGEX

    tk.normalizer = normalizers.NFC()
    tk.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tk.decoder = decoders.ByteLevel()
    return tk


def train_tokenizer(texts: list[str], vocab_size: int = VOCAB_SIZE) -> Any:
    """Byte-level BPE over `texts` (all 256 bytes in the alphabet, so any text encodes), with
    SPECIAL_TOKENS at ids 0..11. Deterministic for the same texts."""
    from tokenizers import AddedToken, Tokenizer, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer

    trainer = BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tk = _pipeline(Tokenizer(BPE(fuse_unk=False, byte_fallback=False)))
    tk.train_from_iterator(texts, trainer=trainer)
    # Rebuild from the trained vocabulary and merges, then add the tokens one by one with
    # Qwen3-ASR's flags (the trainer would make them all special); each keeps its id.
    model = json.loads(tk.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    out = _pipeline(Tokenizer(BPE(vocab=model["vocab"], merges=merges, fuse_unk=False, byte_fallback=False)))
    for t in SPECIAL_TOKENS:
        token = AddedToken(t, special=t not in NOT_SPECIAL, normalized=False)
        (out.add_tokens if t in NOT_SPECIAL else out.add_special_tokens)([token])
    for i, t in enumerate(SPECIAL_TOKENS):
        if out.token_to_id(t) != i:
            raise EdgeASRError(f"tokenizer: {t} got id {out.token_to_id(t)}, expected {i}")
    if out.get_vocab_size() > vocab_size:
        raise EdgeASRError(f"tokenizer: {out.get_vocab_size()} entries, more than {vocab_size}")
    return out


def tokenizer_config() -> dict[str, Any]:
    """Qwen3-ASR's tokenizer_config.json (see qwen_tokenizer.tokenizer_config) with these ids."""
    from edgeasr.export.qwen_tokenizer import tokenizer_config as qwen_config

    cfg = qwen_config()
    cfg["added_tokens_decoder"] = {
        str(i): {
            "content": t,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": t not in NOT_SPECIAL,
        }
        for i, t in enumerate(SPECIAL_TOKENS)
    }
    cfg["model_max_length"] = 4096
    return cfg


def save_tokenizer(tk: Any, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    tk.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(), indent=2, ensure_ascii=False) + "\n")
    return out


def make_processor(tokenizer_dir: Path) -> Any:
    """Qwen3ASRProcessor with the default (Qwen3-ASR) feature extractor, this tokenizer and the
    Qwen3-ASR chat template."""
    from transformers import AutoTokenizer, Qwen3ASRFeatureExtractor, Qwen3ASRProcessor

    from edgeasr.export.qwen_tokenizer import CHAT_TEMPLATE

    return Qwen3ASRProcessor(
        feature_extractor=Qwen3ASRFeatureExtractor(),
        tokenizer=AutoTokenizer.from_pretrained(str(tokenizer_dir)),
        chat_template=CHAT_TEMPLATE,
    )


# -- plan --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One clip: a sentence, who speaks it, and the perturbation applied afterwards."""

    text: str
    voice: str  # "piper" (varied delivery), "piper-default" or "espeak"
    aug: str = ""  # "", "noise-white-<snr>", "noise-pink-<snr>", "speed-<factor>"


def _rng(seed: int, *parts: object) -> np.random.Generator:
    from edgeasr.export.speech import _rng as speech_rng

    return speech_rng(seed, "fixture-qwen", *parts)


def plan_train(hours: float, seed: int) -> list[Item]:
    """About `hours` of training speech: distinct train-split sentences, each spoken once."""
    from edgeasr.export.sentences import generate

    n = max(1, math.ceil(hours * 3600 / SECONDS_PER_CLIP))
    items = []
    for text in generate(n, seed, "train"):
        r = _rng(seed, "train", text)
        voice = "espeak" if r.random() < ESPEAK_SHARE else "piper"
        x, aug = r.random(), ""
        if x < NOISE_SHARE:
            aug = f"noise-{r.choice(['white', 'pink'])}-{int(r.integers(10, 31))}"
        elif voice == "piper" and x < NOISE_SHARE + SPEED_SHARE:
            aug = f"speed-{float(r.uniform(0.9, 1.1)):.3f}"
        items.append(Item(text, voice, aug))
    return items


def plan_dev(seed: int) -> list[Item]:
    """Dev-split sentences: Piper with the default delivery (as the test set) and espeak."""
    from edgeasr.export.sentences import generate

    texts = generate(DEV_PIPER + DEV_ESPEAK, seed, "dev")
    return [Item(t, "piper-default" if i < DEV_PIPER else "espeak") for i, t in enumerate(texts)]


# -- synthesis ---------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _speakers() -> tuple[Any, Any]:
    from edgeasr.export.speech import EspeakSpeaker, PiperSpeaker

    if "piper" not in _WORKER:
        _WORKER["piper"], _WORKER["espeak"] = PiperSpeaker(threads=1), EspeakSpeaker()
    return _WORKER["piper"], _WORKER["espeak"]


def synthesize(item: Item, seed: int) -> np.ndarray:
    """float32 16 kHz audio of one planned clip."""
    from edgeasr.export import perturb as pt
    from edgeasr.export.speech import Delivery

    piper, espeak = _speakers()
    if item.voice == "espeak":
        pcm = espeak.synthesize(item.text, seed)
    else:
        delivery = Delivery.varied(seed, item.text) if item.voice == "piper" else None
        pcm = piper.synthesize(item.text, seed, delivery)
    x = pt.from_int16(pcm)
    if item.aug.startswith("noise-"):
        _, kind, snr = item.aug.split("-")
        r = _rng(seed, "noise", item.text)
        noise = pt.white_noise(len(x), r) if kind == "white" else pt.pink_noise(len(x), r)
        x = pt.from_int16(pt.to_int16(pt.add_noise(x, noise, float(snr))))
    elif item.aug.startswith("speed-"):
        x = pt.from_int16(pt.to_int16(pt.change_speed(x, float(item.aug.removeprefix("speed-")))))
    return x.astype(np.float32)


def features(audio: np.ndarray) -> np.ndarray:
    """(128, frames) log-mel exactly as the runtime computes it (Qwen3ASRRuntime.features)."""
    from edgeasr.runtime.features import log_mel

    short = MIN_SAMPLES - audio.size
    return log_mel(np.pad(audio, (0, short)) if short > 0 else audio, N_MELS)


def _job(args: tuple[Item, int]) -> tuple[np.ndarray, float]:
    item, seed = args
    audio = synthesize(item, seed)
    return features(audio).astype(np.float16), audio.size / SAMPLE_RATE


@dataclass
class FeatureSet:
    """Cached features of one split: `mel` (128, total frames) float16 and one row per clip."""

    mel: np.ndarray
    offsets: np.ndarray  # (clips + 1,) frame offsets into mel
    items: list[Item]
    seconds: list[float]

    def clip(self, i: int) -> np.ndarray:
        return self.mel[:, self.offsets[i] : self.offsets[i + 1]]

    @property
    def frames(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def hours(self) -> float:
        return sum(self.seconds) / 3600


def _key(items: list[Item], seed: int) -> str:
    import hashlib

    h = hashlib.sha256(f"{FORMAT_VERSION}|{seed}|".encode())
    for it in items:
        h.update(f"{it.text}\t{it.voice}\t{it.aug}\n".encode())
    return h.hexdigest()[:16]


def _quiet_worker() -> None:
    """Pool workers leave interrupts to the parent: the CLI's SIGTERM handler (inherited through
    fork) would turn the pool's own shutdown into a traceback per worker."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def build_features(
    items: list[Item], seed: int, path: Path, workers: int = 2, progress: bool = True, desc: str = "speech"
) -> FeatureSet:
    """Synthesise and featurise `items` (cached at path.npy + path.json; reused when the plan
    and seed are the same). `workers` processes synthesise in parallel (Piper on one thread
    each); the result does not depend on their number."""
    from tqdm import tqdm

    key = _key(items, seed)
    meta_path, mel_path = path.with_suffix(".json"), path.with_suffix(".npy")
    if meta_path.is_file() and mel_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key:
            return FeatureSet(np.load(mel_path, mmap_mode="r"), np.array(meta["offsets"]), items, meta["seconds"])
    jobs = [(it, seed) for it in items]
    bar = tqdm(total=len(jobs), unit="clip", desc=desc, disable=not progress)
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers, initializer=_quiet_worker) as pool:
            results = []
            for r in pool.imap(_job, jobs, chunksize=8):
                results.append(r)
                bar.update()
    else:
        results = []
        for j in jobs:
            results.append(_job(j))
            bar.update()
    bar.close()
    mels = [m for m, _ in results]
    offsets = np.concatenate([[0], np.cumsum([m.shape[1] for m in mels])]).astype(np.int64)
    mel = np.concatenate(mels, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = mel_path.with_suffix(f".tmp-{os.getpid()}.npy")
    np.save(tmp, mel)
    tmp.replace(mel_path)
    meta = {
        "key": key,
        "seed": seed,
        "offsets": offsets.tolist(),
        "seconds": [s for _, s in results],
        "items": [asdict(it) for it in items],
    }
    meta_path.write_text(json.dumps(meta) + "\n")
    return FeatureSet(mel, offsets, items, meta["seconds"])


def timed(stages: dict[str, float], name: str, t0: float) -> float:
    """Record a stage's seconds, print it, return now."""
    now = time.perf_counter()
    stages[name] = round(now - t0, 1)
    print(f"[fixture-qwen] {name}: {now - t0:.1f} s", flush=True)
    return now
