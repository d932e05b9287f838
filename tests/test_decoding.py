"""The decoding loop's KV cache against a step model whose output depends on exactly which
cache slots it is shown: left padding, rows finishing early and buffer growth must all keep
each row's history intact, or the tokens differ from the reference computed directly."""

from __future__ import annotations

import numpy as np
import pytest

from edgeasr.runtime import decoding
from edgeasr.runtime.decoding import GROW, KVCache, forced_logits, greedy_decode

VOCAB, PAD, EOS = 97, 0, 96
SHAPE = (2, 2, 1, 1)  # layers, k/v, heads, head_dim


def _next(history: list[int]) -> int:
    """The reference: the next token is a function of the whole unpadded history."""
    return (sum((i + 1) * t for i, t in enumerate(history)) + 7) % (VOCAB - 2) + 1


class Model:
    """Stores each token id as its key; reads the history back from the slots the mask allows.
    Positions are checked against the unpadded history length. `eos_after`: row -> history
    length at which that row emits EOS."""

    def __init__(self, eos_after: dict[int, int] | None = None) -> None:
        self.rows = None
        self.eos_after = eos_after or {}

    def step(self, ids, positions, mask, past):
        b, n = ids.shape
        slots = past.shape[4]
        assert mask.shape == (b, slots + n) and past.shape[:4] == (2, 2, b, 1)
        if self.rows is None:
            self.rows = np.arange(b)
        logits = np.zeros((b, VOCAB), dtype=np.float32)
        for r in range(b):
            hist = [int(k) for k, m in zip(past[1, 0, r, 0, :, 0], mask[r, :slots]) if m]
            hist += [int(t) for t, m in zip(ids[r], mask[r, slots:]) if m]
            assert positions[r, -1] == max(len(hist) - 1, 0)  # a call of left padding only: 0
            done = self.eos_after.get(int(self.rows[r]))
            logits[r, EOS if done is not None and len(hist) >= done else _next(hist)] = 1.0
        return logits, [ids[:, None, :, None].astype(np.float32)] * 4

    def select(self, rows):
        self.rows = self.rows[rows]


def _reference(prompt: list[int], steps: int) -> list[int]:
    hist, out = list(prompt), []
    for _ in range(steps):
        out.append(_next(hist))
        hist.append(out[-1])
    return out


@pytest.mark.parametrize("chunk", [decoding.PREFILL_CHUNK, 2])
def test_batch_with_padding_early_finish_and_growth(monkeypatch, chunk):
    monkeypatch.setattr(decoding, "PREFILL_CHUNK", chunk)  # 2: the prompts are fed in 4 calls
    prompts = [[5, 6, 7], [9], [3, 4, 5, 6, 8, 2, 1]]
    steps = GROW + 30  # the buffer grows at least twice
    res = greedy_decode(Model(eos_after={1: 1 + 5}), prompts, SHAPE, eos_ids={EOS}, max_new_tokens=steps, pad_id=PAD)
    assert res.tokens[0] == _reference(prompts[0], steps)
    assert res.tokens[1] == _reference(prompts[1], 5)  # finished after 5 tokens, dropped from the batch
    assert res.tokens[2] == _reference(prompts[2], steps)
    assert len(res.step_s) == steps - 1


@pytest.mark.parametrize("chunk", [decoding.PREFILL_CHUNK, 1])
def test_forced_logits_follow_the_given_tokens(monkeypatch, chunk):
    monkeypatch.setattr(decoding, "PREFILL_CHUNK", chunk)
    prompt, tokens = [4, 2, 8], [11, 12, 13]
    logits = forced_logits(Model(), prompt, tokens, SHAPE)
    want = [_next(prompt + tokens[:i]) for i in range(len(tokens) + 1)]
    assert logits.argmax(-1).tolist() == want


def test_cache_grows_by_blocks_within_the_limit():
    cache = KVCache(SHAPE, 1)
    assert cache.buf.shape[4] == 0
    cache.append([np.ones((1, 1, 10, 1), np.float32)] * 4, np.ones((1, 10), np.int64), limit=40)
    assert cache.buf.shape[4] == 40 and cache.filled == 10  # 10 + GROW capped at the limit
    assert cache.mask(np.ones((1, 1), np.int64)).tolist() == [[1] * 10 + [0] * 30 + [1]]
    for _ in range(30):
        cache.append([np.ones((1, 1, 1, 1), np.float32)] * 4, np.ones((1, 1), np.int64), limit=40)
    assert cache.buf.shape[4] == 40 and cache.filled == 40


def test_prefill_sizes_the_buffer_once(monkeypatch):
    monkeypatch.setattr(decoding, "PREFILL_CHUNK", 4)
    sizes = []

    class Sizes(Model):
        def step(self, ids, positions, mask, past):
            sizes.append(past.shape[4])
            return super().step(ids, positions, mask, past)

    greedy_decode(Sizes(), [list(range(1, 11))], SHAPE, eos_ids={EOS}, max_new_tokens=3, pad_id=PAD)
    assert sizes == [0, 13, 13, 13, 13]  # 10 prompt tokens in calls of 4, 4, 2, then 2 steps; limit 13
