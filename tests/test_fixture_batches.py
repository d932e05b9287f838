"""Batching of the Qwen3-ASR test model's training recipe: every clip once per epoch, within the
frame budget, and deterministic per (seed, epoch)."""

from __future__ import annotations

import numpy as np

from edgeasr.export.fixture_batches import batches_for_epoch


def test_batches_cover_each_clip_once_within_budget() -> None:
    frames = np.random.default_rng(0).integers(150, 1200, 700)
    batches = batches_for_epoch(frames, 0, 0, 6000, 48)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(frames)))
    assert all(len(b) <= 48 and max(frames[b]) * len(b) <= 6000 for b in batches)
    assert batches == batches_for_epoch(frames, 0, 0, 6000, 48)
    assert batches != batches_for_epoch(frames, 1, 0, 6000, 48)  # each epoch its own order
