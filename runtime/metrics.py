"""Word and character error rates with jiwer, on text normalised the way Whisper's authors
score it (whisper-normalizer), plus the process's peak memory."""

from __future__ import annotations

import resource
import sys
from functools import lru_cache


@lru_cache(maxsize=4)
def _normalizer(language: str | None):
    if language in (None, "en", "english"):
        from whisper_normalizer.english import EnglishTextNormalizer

        return EnglishTextNormalizer()
    from whisper_normalizer.basic import BasicTextNormalizer

    return BasicTextNormalizer()


def normalize(text: str, language: str | None = "en") -> str:
    """Lower-case, spell out/standardise numbers and spellings, drop punctuation."""
    return " ".join(_normalizer(language)(text).split())


def error_rates(refs: list[str], hyps: list[str]) -> dict[str, float | int]:
    """Corpus WER and CER over normalised pairs whose reference is not empty (an empty
    reference has no word to get wrong: those clips are scored as hallucinated words)."""
    import jiwer

    pairs = [(r, h) for r, h in zip(refs, hyps) if r]
    if not pairs:
        return {"wer": float("nan"), "cer": float("nan"), "words": 0}
    r, h = [p[0] for p in pairs], [p[1] for p in pairs]
    words = jiwer.process_words(r, h)
    chars = jiwer.process_characters(r, h)
    return {
        "wer": words.wer,
        "cer": chars.cer,
        "words": sum(len(x.split()) for x in r),
        "substitutions": words.substitutions,
        "deletions": words.deletions,
        "insertions": words.insertions,
    }


def word_errors(ref: str, hyp: str) -> int:
    """Edit distance in words of one normalised pair (for per-clip and paired comparisons)."""
    import jiwer

    if not ref:
        return len(hyp.split())
    o = jiwer.process_words(ref, hyp)
    return o.substitutions + o.deletions + o.insertions


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (1e6 bytes). Linux's VmHWM, not
    ru_maxrss: the latter keeps the parent's peak across fork and exec, so a worker started by a
    large parent would report the parent's memory."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6
