"""Greedy decoding written once for every family, against a step function and a
preallocated KV cache.

The cache is time-major, shape (T, layers, 2, batch, kv_heads, head_dim): the prefix
`cache[:t]` of the preallocated buffer is contiguous, so it is handed to the backend
without a copy, and each step's new keys/values are written in place at `cache[t]`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

BATCH_AXIS = 3  # of the (T, layers, 2, batch, kv_heads, head_dim) cache


class StepModel(Protocol):
    """What a family gives the decoding loop."""

    def step(
        self, ids: np.ndarray, positions: np.ndarray, mask: np.ndarray, past: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the decoder on `ids` (B, n) after `past` (t, ...); return last-position logits
        (B, vocab) and the new cache entries (n, ...)."""
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
    dtype: np.dtype = np.float32,
) -> DecodeResult:
    """Decode every prompt greedily in one batch; rows that finish are dropped from the batch.

    `kv_shape` is (layers, 2, kv_heads, head_dim). Prompts of different lengths are
    left-padded and masked. Returns the generated tokens without the prompt or the EOS.
    """
    batch = len(prompts)
    plen = max(len(p) for p in prompts)
    ids = np.full((batch, plen), pad_id, dtype=np.int64)
    mask = np.zeros((batch, plen + max_new_tokens), dtype=np.int64)
    for r, p in enumerate(prompts):
        ids[r, plen - len(p) :] = p
        mask[r, plen - len(p) : plen] = 1
    layers, two, heads, dim = kv_shape
    cache = np.zeros((plen + max_new_tokens, layers, two, batch, heads, dim), dtype=dtype)
    positions = np.maximum(np.cumsum(mask[:, :plen], axis=1) - 1, 0)

    t0 = time.perf_counter()
    logits, new = model.step(ids, positions, mask[:, :plen], cache[:0])
    cache[:plen] = new
    result = DecodeResult(tokens=[[] for _ in range(batch)], prefill_s=time.perf_counter() - t0)
    t = plen
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
            cache = np.ascontiguousarray(cache[:, :, :, sel])
            mask = mask[sel]
            model.select(sel)
        mask[:, t] = 1
        t0 = time.perf_counter()
        logits, new = model.step(nxt[:, None].astype(np.int64), next_pos[:, None], mask[:, : t + 1], cache[:t])
        result.step_s.append(time.perf_counter() - t0)
        cache[t] = new[0]
        t += 1
        next_pos = next_pos + 1
    return result


def forced_logits(
    model: StepModel, prompt: list[int], tokens: list[int], kv_shape: tuple[int, int, int, int]
) -> np.ndarray:
    """Teacher-forced logits of one sequence: after the prompt, then after each token, fed one
    cached step at a time (so the KV-cache path is what gets checked). Shape (len(tokens)+1, vocab)."""
    layers, two, heads, dim = kv_shape
    n = len(prompt)
    cache = np.zeros((n + len(tokens), layers, two, 1, heads, dim), dtype=np.float32)
    mask = np.ones((1, n + len(tokens)), dtype=np.int64)
    logits, new = model.step(np.array([prompt]), np.arange(n)[None], mask[:, :n], cache[:0])
    cache[:n] = new
    out = [logits[0]]
    for i, tok in enumerate(tokens):
        t = n + i
        logits, new = model.step(np.array([[tok]]), np.array([[t]]), mask[:, : t + 1], cache[:t])
        cache[t] = new[0]
        out.append(logits[0])
    return np.stack(out)
