"""Cutting long audio into model-sized chunks at pauses, so no word is split between two
chunks (nothing lost, nothing doubled at the seams) and silence is never transcribed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeasr.runtime.vad import FRAME

FRAME_S = FRAME / 16000  # 32 ms


@dataclass(frozen=True)
class Span:
    """A chunk of audio in samples at 16 kHz, [start, end)."""

    start: int
    end: int

    @property
    def seconds(self) -> float:
        return (self.end - self.start) / 16000


def speech_regions(
    probs: np.ndarray, threshold: float = 0.5, min_silence_s: float = 0.25, min_speech_s: float = 0.2
) -> list[tuple[int, int]]:
    """Runs of speech frames [start, end), with pauses shorter than `min_silence_s` bridged
    and bursts shorter than `min_speech_s` (clicks) dropped."""
    speech = probs >= threshold
    runs, start = [], None
    for i, s in enumerate(np.append(speech, False)):
        if s and start is None:
            start = i
        elif not s and start is not None:
            runs.append((start, i))
            start = None
    gap, burst = round(min_silence_s / FRAME_S), round(min_speech_s / FRAME_S)
    merged: list[tuple[int, int]] = []
    for s, e in runs:
        if merged and s - merged[-1][1] < gap:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return [(s, e) for s, e in merged if e - s >= burst]


def plan_chunks(
    probs: np.ndarray, total: int, max_seconds: float, pad_s: float = 0.2, threshold: float = 0.5
) -> list[Span]:
    """Group speech regions into chunks of at most `max_seconds`, each cut in the middle of a
    pause; a region longer than that (speech without a pause) is cut at its quietest frame."""
    limit = int(max_seconds / FRAME_S) - 2 * round(pad_s / FRAME_S)
    regions = []
    for s, e in speech_regions(probs, threshold):
        while e - s > limit:  # no pause long enough: cut where speech is least likely
            window = probs[s + limit // 2 : s + limit]
            cut = s + limit // 2 + int(np.argmin(window))
            regions.append((s, cut))
            s = cut
        regions.append((s, e))
    groups: list[list[tuple[int, int]]] = []
    for r in regions:
        if groups and r[1] - groups[-1][0][0] <= limit:
            groups[-1].append(r)
        else:
            groups.append([r])
    pad = round(pad_s / FRAME_S)
    spans = []
    n_frames = len(probs)
    for i, g in enumerate(groups):
        start, end = g[0][0] - pad, g[-1][1] + pad
        if i > 0:  # meet the previous chunk halfway through the pause, never overlap it
            start = max(start, (groups[i - 1][-1][1] + g[0][0]) // 2)
        if i + 1 < len(groups):
            end = min(end, (g[-1][1] + groups[i + 1][0][0]) // 2)
        start, end = max(start, 0), min(end, n_frames)
        spans.append(Span(start * FRAME, total if end >= n_frames else end * FRAME))
    return spans
