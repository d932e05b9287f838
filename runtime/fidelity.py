"""How closely one artifact follows another (a quantized build against its fp32 build) on the
same clips: encoder-output cosine, and teacher-forced next-token top-1 agreement, logit
cosine and KL divergence along the reference artifact's own greedy tokens."""

from __future__ import annotations

import numpy as np

from edgeasr.runtime.decoding import forced_logits
from edgeasr.runtime.model import Model


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def logit_agreement(ref: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """Compare two (positions, vocab) logit matrices row by row: top-1 agreement, KL(ref || test)
    of the softmax distributions, and the correlation of the logits."""
    lr, lt = _log_softmax(ref), _log_softmax(test)
    kl = (np.exp(lr) * (lr - lt)).sum(axis=-1)
    # centred cosine (Pearson correlation): logits are defined up to a constant per position
    a = ref - ref.mean(axis=-1, keepdims=True)
    b = test - test.mean(axis=-1, keepdims=True)
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)
    return {
        "top1": float((ref.argmax(-1) == test.argmax(-1)).mean()),
        "kl_mean": float(kl.mean()),
        "logits_cosine_min": float(cos.min()),
        "logits_cosine_mean": float(cos.mean()),
    }


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def compare(
    reference: Model,
    candidate: Model,
    audios: list[np.ndarray],
    tokens: int = 64,
    language: str | None = None,
) -> dict[str, float]:
    """Fidelity of `candidate` to `reference` over clips, teacher-forced along the reference's
    greedy decode forced to exactly `tokens` tokens (EOS ignored, so every clip counts fully)."""
    rows = []
    for audio in audios:
        forced = reference.transcribe(audio, language=language, max_new_tokens=tokens, ignore_eos=True)[0].tokens
        r = reference.runtime.prepare(audio, language)
        c = candidate.runtime.prepare(audio, language)
        ref_logits = forced_logits(r.step, r.prompt, forced[:-1], reference.runtime.kv_shape)
        cand_logits = forced_logits(c.step, c.prompt, forced[:-1], candidate.runtime.kv_shape)
        rows.append({**logit_agreement(ref_logits, cand_logits), "encoder_cosine": cosine(r.encoded, c.encoded)})
    out = {k: float(np.mean([row[k] for row in rows])) for k in rows[0]}
    out["logits_cosine_min"] = float(min(row["logits_cosine_min"] for row in rows))
    out["clips"] = len(rows)
    out["tokens"] = tokens
    return out
