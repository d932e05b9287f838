"""Greedy decoding written once for every family, against a step function and a KV cache
the loop owns.

The cache is one buffer of shape (layers, 2, batch, kv_heads, slots, head_dim). Each layer's
keys and values, `buf[layer, 0]` and `buf[layer, 1]`, are contiguous views, handed to the graph
as its per-layer inputs without a copy. A portable graph attends over all the slots (unfilled
ones are masked) and the new tokens, and returns only the new entries, which the loop writes
after the filled slots. ONNX Runtime's form of a decoder (`in_place`) is bound to the buffer as
its outputs too: its attention nodes write the new entries there and attend over the filled
slots only. The buffer grows a block of slots at a time, so the cache is copied once per block
instead of once per layer per step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

# Axis names of the buffer, stored in every artifact's manifest; an artifact with another
# layout was exported by an older edgeasr and is refused at load.
KV_LAYOUT = ["layer", "k_or_v", "batch", "head", "slot", "head_dim"]
GROW = 64  # slots added when the buffer is full: 0.6B Qwen3-ASR, 229 KB per slot read each step
# Prompt tokens per prefill call. A call's new entries and activations are held beside the
# buffer; a 60 s Qwen3-ASR clip is ~800 prompt tokens (0.6B: 183 MB of new entries in one call).
# 0.6B int8, 10 s and 60 s clips in turn, process peak: one call 1.61 GB, calls of 256 1.55, 128 1.45.
PREFILL_CHUNK = 128


def past_feeds(buf: np.ndarray) -> dict[str, np.ndarray]:
    """The graph inputs `past_key.N` / `past_value.N`: views of the buffer, no copies."""
    return {f"past_{kv}.{i}": buf[i, j] for i in range(buf.shape[0]) for j, kv in enumerate(("key", "value"))}


def in_place_outputs(layers: int) -> dict[str, str]:
    """The outputs `present_key.N` / `present_value.N` of a graph that writes into the buffer,
    each bound to its input `past_key.N` / `past_value.N`."""
    return {f"present_{kv}.{i}": f"past_{kv}.{i}" for i in range(layers) for kv in ("key", "value")}


def new_entries(outputs: dict[str, np.ndarray], layers: int) -> list[np.ndarray]:
    """The graph outputs `new_key.N` / `new_value.N` in cache order (layer 0 keys, values, ...)."""
    return [outputs[f"new_{kv}.{i}"] for i in range(layers) for kv in ("key", "value")]


class KVCache:
    """The buffer, how many slots are filled, and which filled slots hold real tokens (1) or
    left padding (0)."""

    def __init__(self, kv_shape: tuple[int, int, int, int], batch: int, dtype: np.dtype = np.float32) -> None:
        layers, two, heads, dim = kv_shape
        self.buf = np.zeros((layers, two, batch, heads, 0, dim), dtype=dtype)
        self.valid = np.zeros((batch, 0), dtype=np.int64)
        self.filled = 0

    def mask(self, new: np.ndarray, filled_only: bool = False) -> np.ndarray:
        """Attention mask for a call: every slot (unfilled ones 0), or only the filled ones, then
        the new tokens' mask."""
        return np.concatenate([self.valid[:, : self.filled] if filled_only else self.valid, new], axis=1)

    def make_room(self, n: int, limit: int, reserve: int = 0) -> None:
        """Have at least `n` unfilled slots: when they are missing, the buffer grows to `reserve`
        slots or by GROW, whichever is more, never past `limit`."""
        t = self.filled
        if t + n > self.buf.shape[4]:
            slots = max(t + n, min(max(t + n + GROW, reserve), limit))
            grown = np.zeros((*self.buf.shape[:4], slots, self.buf.shape[5]), dtype=self.buf.dtype)
            grown[..., :t, :] = self.buf[..., :t, :]
            valid = np.zeros((self.valid.shape[0], slots), dtype=np.int64)
            valid[:, :t] = self.valid[:, :t]
            self.buf, self.valid = grown, valid

    def append(self, new: list[np.ndarray], new_mask: np.ndarray, limit: int, reserve: int = 0) -> None:
        """Write a call's new entries (each layer's keys, then values: (batch, heads, n, head_dim))
        after the filled slots, growing the buffer as `make_room` does. No entries: the graph
        has written them into the buffer itself; only the bookkeeping moves on."""
        n, t = new_mask.shape[1], self.filled
        if new:
            self.make_room(n, limit, reserve)
            for i, entries in enumerate(new):
                self.buf[i // 2, i % 2, :, :, t : t + n] = entries
        self.valid[:, t : t + n] = new_mask
        self.filled = t + n

    def select(self, rows: np.ndarray) -> None:
        """Keep only these batch rows."""
        self.buf = np.ascontiguousarray(self.buf[:, :, rows])
        self.valid = self.valid[rows]


def new_cache(model: StepModel, kv_shape: tuple[int, int, int, int], batch: int) -> KVCache:
    """An empty cache in the dtype the model's graph takes (`kv_dtype`, float32 by default)."""
    return KVCache(kv_shape, batch, getattr(model, "kv_dtype", np.float32))


def call(
    model: StepModel,
    cache: KVCache,
    ids: np.ndarray,
    positions: np.ndarray,
    mask: np.ndarray,
    limit: int,
    reserve: int = 0,
) -> np.ndarray:
    """One decoder call on new tokens and the cache update; returns the last-position logits.
    A model that writes into the buffer (`in_place`) gets room for the new entries beforehand
    and a mask over the filled slots only; the others return the entries, which are copied in."""
    in_place = getattr(model, "in_place", False)
    if in_place:
        cache.make_room(ids.shape[1], limit, reserve)
    logits, new = model.step(ids, positions, cache.mask(mask, filled_only=in_place), cache.buf)
    cache.append(new, mask, limit, reserve)
    return logits


def prefill(
    model: StepModel, cache: KVCache, ids: np.ndarray, positions: np.ndarray, mask: np.ndarray, limit: int
) -> np.ndarray:
    """Feed the prompt in calls of PREFILL_CHUNK tokens; return the last call's logits. A prompt
    of up to twice that goes in one call: splitting it would cost speed (a 10 s clip's 150 tokens
    as 128 + 22: +4% prefill) for memory that only long prompts need. The buffer is sized for
    the whole prompt (and a block of steps) at the first call that needs room, so it is
    allocated once, and the later calls attend over its slots instead of a growing copy."""
    plen = ids.shape[1]
    size = plen if plen <= 2 * PREFILL_CHUNK else PREFILL_CHUNK
    for a in range(0, plen, size):
        b = min(a + size, plen)
        logits = call(model, cache, ids[:, a:b], positions[:, a:b], mask[:, a:b], limit, reserve=plen + GROW)
    return logits


class StepModel(Protocol):
    """What a family gives the decoding loop. A model may also set `in_place = True`: its graph
    writes the new entries into the buffer `past` itself and `step` returns none (see `call`);
    and `kv_dtype`, the buffer's dtype when it is not float32."""

    def step(
        self, ids: np.ndarray, positions: np.ndarray, mask: np.ndarray, past: np.ndarray
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Run the decoder on `ids` (B, n) after the cache buffer `past` (layers, 2, B, heads,
        slots, head_dim), `mask` (B, slots + n); return last-position logits (B, vocab) and the
        new cache entries, each layer's keys then values (B, heads, n, head_dim)."""
        ...

    def select(self, rows: np.ndarray) -> None:
        """Keep only these batch rows of any per-utterance state (e.g. cross-attention K/V)."""
        ...


@dataclass
class DecodeResult:
    tokens: list[list[int]]
    prefill_s: float = 0.0
    step_s: list[float] = field(default_factory=list)


def greedy_decode(
    model: StepModel,
    prompts: list[list[int]],
    kv_shape: tuple[int, int, int, int],
    eos_ids: set[int],
    max_new_tokens: int,
    pad_id: int = 0,
    logits_filter: Callable[[np.ndarray, int], None] | None = None,
    ignore_eos: bool = False,
) -> DecodeResult:
    """Decode every prompt greedily in one batch; rows that finish are dropped from the batch.

    `kv_shape` is (layers, 2, kv_heads, head_dim). Prompts of different lengths are
    left-padded and masked. Returns the generated tokens without the prompt or the EOS.
    """
    batch = len(prompts)
    plen = max(len(p) for p in prompts)
    limit = plen + max_new_tokens
    ids = np.full((batch, plen), pad_id, dtype=np.int64)
    prompt_mask = np.zeros((batch, plen), dtype=np.int64)
    for r, p in enumerate(prompts):
        ids[r, plen - len(p) :] = p
        prompt_mask[r, plen - len(p) :] = 1
    cache = new_cache(model, kv_shape, batch)
    positions = np.maximum(np.cumsum(prompt_mask, axis=1) - 1, 0)

    t0 = time.perf_counter()
    logits = prefill(model, cache, ids, positions, prompt_mask, limit)
    result = DecodeResult(tokens=[[] for _ in range(batch)], prefill_s=time.perf_counter() - t0)
    rows = np.arange(batch)  # original index of each live row
    next_pos = positions[:, -1] + 1
    for i in range(max_new_tokens):
        if logits_filter is not None:
            logits_filter(logits, i)
        nxt = logits.argmax(axis=-1)
        keep = []
        for j, tok in enumerate(nxt.tolist()):
            if tok in eos_ids and not ignore_eos:
                continue
            result.tokens[rows[j]].append(tok)
            keep.append(j)
        if not keep or i == max_new_tokens - 1:
            break
        if len(keep) < len(rows):
            sel = np.asarray(keep)
            rows, nxt, next_pos = rows[sel], nxt[sel], next_pos[sel]
            cache.select(sel)
            model.select(sel)
        one = np.ones((len(rows), 1), dtype=np.int64)
        t0 = time.perf_counter()
        logits = call(model, cache, nxt[:, None].astype(np.int64), next_pos[:, None], one, limit)
        result.step_s.append(time.perf_counter() - t0)
        next_pos = next_pos + 1
    return result


def forced_logits(
    model: StepModel, prompt: list[int], tokens: list[int], kv_shape: tuple[int, int, int, int]
) -> np.ndarray:
    """Teacher-forced logits of one sequence: after the prompt, then after each token, fed one
    cached step at a time (so the KV-cache path is what gets checked). Shape (len(tokens)+1, vocab)."""
    n = len(prompt)
    cache = new_cache(model, kv_shape, 1)
    limit = n + len(tokens)
    one, prompt_mask = np.ones((1, 1), dtype=np.int64), np.ones((1, n), dtype=np.int64)
    logits = prefill(model, cache, np.array([prompt]), np.arange(n)[None], prompt_mask, limit)
    out = [logits[0]]
    for i, tok in enumerate(tokens):
        logits = call(model, cache, np.array([[tok]]), np.array([[n + i]]), one, limit)
        out.append(logits[0])
    return np.stack(out)
