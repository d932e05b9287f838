"""`edgeasr verify`: run an artifact and its PyTorch reference on the same clips and report
the measured differences; the artifact's manifest states the tolerance it must meet."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeasr.export.families import export_family
from edgeasr.export.sources import LoadedModel, load_source
from edgeasr.runtime.audio import load_audio
from edgeasr.runtime.decoding import forced_logits
from edgeasr.runtime.fidelity import logit_agreement
from edgeasr.runtime.model import load_model


@dataclass
class VerifyReport:
    """Per-clip measurements and the verdict against the artifact's tolerances."""

    artifact: str
    backend: str
    tolerance: dict[str, Any]
    clips: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    options: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        lines = [f"verify {self.artifact} ({self.backend}{self.options}); tolerance {self.tolerance}"]
        for c in self.clips:
            lines.append(
                f"  {c['clip']}: encoder max|diff| {c['encoder_max_abs']:.2e}, logits max|diff| "
                f"{c['logits_max_abs']:.2e}, top-1 agreement {c['top1_agreement']:.3f}, KL {c['kl_mean']:.2e}, "
                f"greedy tokens {'identical' if c['greedy_match'] else 'DIFFERENT'} ({c['tokens']} tokens)"
            )
        lines += [f"  FAIL: {f}" for f in self.failures]
        lines.append("OK" if self.ok else "FAILED")
        return "\n".join(lines)


def default_clips() -> list[tuple[str, np.ndarray]]:
    """Three spoken sentences of different lengths (Piper voice), generated deterministically."""
    from edgeasr.export.speech import PiperSpeaker

    speaker = PiperSpeaker()
    texts = [
        "Good morning.",
        "Please send the report to Anna before Friday afternoon.",
        "We drove for three hours along the coast, stopped twice for coffee, and still arrived "
        "before the market closed at six in the evening.",
    ]
    return [(f"piper-{i}", speaker.synthesize(t, seed=i).astype(np.float32) / 32768) for i, t in enumerate(texts)]


def compare_clip(
    fam: Any,
    loaded: LoadedModel,
    runtime: Any,
    audio: np.ndarray,
    language: str | None,
    context: str | None,
    max_new_tokens: int = 48,
) -> dict[str, Any]:
    """One clip through the artifact and through PyTorch: encoder output, the prompt ids,
    teacher-forced logits at every position (through the artifact's KV cache), greedy tokens."""
    prep = runtime.prepare(audio, language, context)
    ref = fam.reference_run(loaded, audio, prep.prompt, language, context, max_new_tokens)
    ours = runtime.transcribe_batch([audio], language, context, max_new_tokens=max_new_tokens)[0].tokens
    logits = forced_logits(prep.step, prep.prompt, ref["tokens"], runtime.kv_shape)
    agreement = logit_agreement(ref["logits"], logits)
    return {
        "encoder_max_abs": float(np.abs(prep.encoded - ref["encoded"]).max()),
        "logits_max_abs": float(np.abs(logits - ref["logits"]).max()),
        "top1_agreement": agreement["top1"],
        "kl_mean": agreement["kl_mean"],
        "tokens": len(ref["tokens"]),
        "greedy_match": ours == ref["tokens"],
        "prompt_match": ref.get("prompt", prep.prompt) == prep.prompt,
    }


def verify_artifact(
    model: str | LoadedModel,
    artifact: str | Path,
    audio: list[Path] | None = None,
    backend: str | None = None,
    language: str | None = None,
    context: str | None = None,
) -> VerifyReport:
    """Compare `artifact` with the PyTorch model it was built from."""
    loaded = load_source(model) if isinstance(model, str) else model
    fam = export_family(loaded.family)
    fam.prepare(loaded)
    runner = load_model(artifact, backend=backend)
    tol = runner.artifact.manifest.get("verify", {})
    clips = [(p.name, load_audio(p)) for p in audio] if audio else default_clips()
    opts = "".join(f", {k} {v!r}" for k, v in (("language", language), ("context", context)) if v)
    report = VerifyReport(str(artifact), runner.backend, tol, options=opts)
    for name, samples in clips:
        row = {"clip": name, **compare_clip(fam, loaded, runner.runtime, samples, language, context)}
        report.clips.append(row)
        if "encoder_atol" in tol and row["encoder_max_abs"] > tol["encoder_atol"]:
            report.failures.append(f"{name}: encoder differs by {row['encoder_max_abs']:.2e} > {tol['encoder_atol']}")
        if "logits_atol" in tol and row["logits_max_abs"] > tol["logits_atol"]:
            report.failures.append(f"{name}: logits differ by {row['logits_max_abs']:.2e} > {tol['logits_atol']}")
        if "min_top1" in tol and row["top1_agreement"] < tol["min_top1"]:
            report.failures.append(f"{name}: top-1 agreement {row['top1_agreement']:.3f} < {tol['min_top1']}")
        if "max_kl" in tol and row["kl_mean"] > tol["max_kl"]:
            report.failures.append(f"{name}: mean KL divergence {row['kl_mean']:.4f} > {tol['max_kl']}")
        if not row.get("prompt_match", True):
            report.failures.append(f"{name}: prompt token ids differ from the processor's")
        if tol.get("greedy_match") and not row["greedy_match"]:
            report.failures.append(f"{name}: greedy tokens differ from transformers' generate")
    return report
