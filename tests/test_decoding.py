"""The decoding loop's KV cache against a step model whose output depends on exactly which
cache slots it is shown: left padding, rows finishing early and buffer growth must all keep
each row's history intact, or the tokens differ from the reference computed directly."""

from __future__ import annotations

import numpy as np

from edgeasr.runtime.decoding import GROW, KVCache, forced_logits, greedy_decode

VOCAB, PAD, EOS = 97, 0, 96
SHAPE = (2, 2, 1, 1)  # layers, k/v, heads, head_dim


def _next(history: list[int]) -> int:
    """The reference: the next token is a function of the whole unpadded history."""
    return (sum((i + 1) * t for i, t in enumerate(history)) + 7) % (VOCAB - 2) + 1


class Model:
    """Stores each token id as its key; reads the history back from the slots the mask allows.
    Positions are checked against the unpadded history length."""

    def __init__(self, eos_after: dict[int, int] | None = None) -> None:
        self.rows = None
        self.eos_after = eos_after or {}
        self.steps = 0

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
            assert positions[r, -1] == len(hist) - 1
            done = self.eos_after.get(int(self.rows[r]))
            logits[r, EOS if done is not None and self.steps >= done else _next(hist)] = 1.0
        self.steps += 1
        return logits, [ids[:, None, :, None].astype(np.float32)] * 4

    def select(self, rows):
        self.rows = self.rows[rows]


def _reference(prompt: list[int], steps: int) -> list[int]:
    hist, out = list(prompt), []
    for _ in range(steps):
        out.append(_next(hist))
        hist.append(out[-1])
    return out


def test_batch_with_padding_early_finish_and_growth():
    prompts = [[5, 6, 7], [9], [3, 4, 5, 6, 8, 2, 1]]
    steps = GROW + 30  # the buffer grows at least twice
    res = greedy_decode(Model(eos_after={1: 5}), prompts, SHAPE, eos_ids={EOS}, max_new_tokens=steps, pad_id=PAD)
    assert res.tokens[0] == _reference(prompts[0], steps)
    assert res.tokens[1] == _reference(prompts[1], 5)  # finished after 5 tokens, dropped from the batch
    assert res.tokens[2] == _reference(prompts[2], steps)
    assert len(res.step_s) == steps - 1


def test_forced_logits_follow_the_given_tokens():
    prompt, tokens = [4, 2], [11, 12, 13]
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
