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


def test_training_settings_are_overridden_by_name_and_type() -> None:
    import pytest

    from edgeasr.export.fixture_qwen import train_config
    from edgeasr.runtime.errors import EdgeASRError

    cfg = train_config(5.0, None, "cpu", {"lr": "0.003", "batch_frames": "24000", "dropout": "0.1"})
    assert (cfg.lr, cfg.batch_frames, cfg.dropout, cfg.minutes, cfg.device) == (0.003, 24000, 0.1, 5.0, "cpu")
    with pytest.raises(EdgeASRError, match="--set lrate: not a training setting"):
        train_config(5.0, None, "cpu", {"lrate": "1"})
    with pytest.raises(EdgeASRError, match="--set batch_frames=big: expected an int"):
        train_config(5.0, None, "cpu", {"batch_frames": "big"})
    with pytest.raises(EdgeASRError, match="--device tpu: expected cpu or cuda"):
        train_config(5.0, None, "tpu", {})
