"""Data side of `edgeasr fixture-qwen` training: clips and transcripts turned into model inputs
in the runtime's exact prompt layout (see fixture_train for the layout), SpecAugment masks,
length-bucketed batches, and greedy transcription + WER for the dev checks.

Why a separate module: the training loop and the evaluation both need these, and the CLI's
checkpoint check uses them without the optimiser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeasr.export import fixture_data as fd
from edgeasr.runtime.errors import EdgeASRError


def audio_positions(frames: np.ndarray | int) -> np.ndarray:
    """Encoder positions for a number of mel frames (transformers' _get_feat_extract_output_lengths)."""
    f = np.asarray(frames, dtype=np.int64)
    rest = f % 100

    def half(x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, (x - 1) // 2 + 1, 0)

    return half(half(half(rest))) + (f // 100) * 13


@dataclass
class Prompt:
    """Token ids of the prompt around the audio placeholders, read off the chat template."""

    head: list[int]  # up to and including <|audio_start|>
    tail: list[int]  # <|audio_end|> ... <|im_start|>assistant\n
    language: list[int]  # language English<asr_text>
    eos: int
    audio: int

    @staticmethod
    def from_processor(proc: Any) -> Prompt:
        rendered = proc.apply_transcription_request([0.0] * 16000, tokenize=False)[0]
        head, tail = rendered.split(proc.audio_token)
        enc = lambda s: proc.tokenizer.encode(s, add_special_tokens=False)  # noqa: E731
        p = Prompt(
            enc(head), enc(tail), enc(fd.LANGUAGE_PREFIX), fd.token_id("<|im_end|>"), fd.token_id("<|audio_pad|>")
        )
        # The runtime's prompt (edgeasr.export.families.qwen3_asr.manifest_facts) must be the same.
        forced = proc.apply_transcription_request([0.0] * 16000, language="en", tokenize=False)[0]
        if enc(forced.replace(proc.audio_token, "")) != p.head + p.tail + p.language:
            raise EdgeASRError("chat template: forced-language prompt is not head + tail + language prefix")
        return p

    def ids(self, n_audio: int, forced: bool) -> list[int]:
        return [*self.head, *([self.audio] * n_audio), *self.tail, *(self.language if forced else [])]


def transcript_ids(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def spec_augment(mel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two frequency masks (up to 20 of 128 bins) and one time mask (up to 20 frames) per 2 s."""
    mel = mel.copy()
    bins, frames = mel.shape
    for _ in range(2):
        w = int(rng.integers(0, 21))
        f0 = int(rng.integers(0, bins - w + 1))
        mel[f0 : f0 + w] = 0.0
    for _ in range(max(1, frames // 200)):
        w = int(rng.integers(0, min(21, frames // 5 + 1)))
        t0 = int(rng.integers(0, frames - w + 1))
        mel[:, t0 : t0 + w] = 0.0
    return mel


def make_batch(
    feats: fd.FeatureSet,
    idx: list[int],
    prompt: Prompt,
    targets: list[list[int]],
    forced: list[bool],
    rng: np.random.Generator | None = None,
    augment: float = 0.0,
    for_generation: bool = False,
) -> dict[str, torch.Tensor]:
    """Model inputs for clips `idx`: features right-padded to whole 100-frame chunks with their
    mask; prompt (+ target, unless for_generation) ids right-padded (left-padded for generation)
    with labels -100 everywhere but the target."""
    frames = feats.frames[idx]
    width = int(math.ceil(frames.max() / 100) * 100)
    mel = np.zeros((len(idx), fd.N_MELS, width), dtype=np.float32)
    mask = np.zeros((len(idx), width), dtype=np.int64)
    for r, i in enumerate(idx):
        m = np.asarray(feats.clip(i), dtype=np.float32)
        if rng is not None and augment and rng.random() < augment:
            m = spec_augment(m, rng)
        mel[r, :, : m.shape[1]] = m
        mask[r, : m.shape[1]] = 1
    n_audio = audio_positions(frames)
    rows, labels = [], []
    for r, i in enumerate(idx):
        p = prompt.ids(int(n_audio[r]), forced[r])
        if for_generation:
            rows.append(p)
            continue
        t = ([] if forced[r] else prompt.language) + targets[i] + [prompt.eos]
        rows.append(p + t)
        labels.append([-100] * len(p) + t)
    longest = max(map(len, rows))
    ids = np.full((len(rows), longest), prompt.eos, dtype=np.int64)
    att = np.zeros((len(rows), longest), dtype=np.int64)
    lab = np.full((len(rows), longest), -100, dtype=np.int64)
    for r, row in enumerate(rows):
        s = slice(longest - len(row), longest) if for_generation else slice(0, len(row))
        ids[r, s], att[r, s] = row, 1
        if labels:
            lab[r, s] = labels[r]
    out = {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(att),
        "input_features": torch.from_numpy(mel),
        "input_features_mask": torch.from_numpy(mask),
    }
    if not for_generation:
        out["labels"] = torch.from_numpy(lab)
        out["n_audio"] = torch.from_numpy(n_audio)
    return out


def batches_for_epoch(frames: np.ndarray, epoch: int, seed: int, batch_frames: int, max_clips: int) -> list[list[int]]:
    """Length-bucketed batches of at most batch_frames frames, in an order fixed by (seed, epoch)."""
    rng = fd._rng(seed, "epoch", epoch)
    order = rng.permutation(len(frames))
    out = []
    pool = 64 * 16
    for p in range(0, len(order), pool):
        part = sorted(order[p : p + pool].tolist(), key=lambda i: frames[i])
        cur: list[int] = []
        for i in part:
            longest = max([frames[j] for j in cur] + [frames[i]])
            if cur and (longest * (len(cur) + 1) > batch_frames or len(cur) >= max_clips):
                out.append(cur)
                cur = []
            cur.append(i)
        if cur:
            out.append(cur)
    return [out[i] for i in rng.permutation(len(out))]


@torch.no_grad()
def transcribe(
    model: nn.Module, tokenizer: Any, feats: fd.FeatureSet, prompt: Prompt, forced: bool, batch: int = 16
) -> list[str]:
    """Greedy transcripts of every clip of `feats` with transformers' generate (batched,
    left-padded prompts); with forced=False the `language ...<asr_text>` part is parsed off."""
    model.eval()
    out: list[str] = []
    order = np.argsort(feats.frames, kind="stable")
    texts: dict[int, str] = {}
    for s in range(0, len(order), batch):
        idx = order[s : s + batch].tolist()
        b = make_batch(feats, idx, prompt, [], [forced] * len(idx), for_generation=True)
        b = {k: v.to(model.device) for k, v in b.items()}
        seconds = feats.frames[idx].max() / 100
        gen = model.generate(**b, max_new_tokens=int(24 + 6 * seconds), do_sample=False, num_beams=1)
        for r, i in enumerate(idx):
            toks = gen[r, b["input_ids"].shape[1] :].tolist()
            toks = toks[: next((k for k, t in enumerate(toks) if t in (0, prompt.eos)), len(toks))]
            texts[i] = tokenizer.decode(toks, skip_special_tokens=True)
    for i in range(len(order)):
        t = texts[i]
        if not forced:
            t = t.split("<asr_text>", 1)[1] if "<asr_text>" in t else t
        out.append(t.strip())
    return out


def wer(refs: list[str], hyps: list[str]) -> float:
    from edgeasr.runtime.metrics import error_rates, normalize

    return float(error_rates([normalize(r) for r in refs], [normalize(h) for h in hyps])["wer"])
