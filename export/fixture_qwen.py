"""`edgeasr fixture-qwen`: a small Qwen3-ASR-architecture model trained here, end to end, on
the project's own generated speech, written as an ordinary transformers-format checkpoint.

Why: real Qwen3-ASR weights cannot be downloaded everywhere and random weights make WER
meaningless. This model is built from transformers' own `qwen3_asr` classes with the real
encoder chunking (n_window 50, n_window_infer 800, 128 mels), the Qwen3-ASR chat template and
special tokens (at small ids of a 1,024-entry BPE, so nothing may hard-code Qwen's ids), so
tests can check that the exported prompt, decoding and output parsing give the right text and
quantization profiles get a real WER. It is a closed-vocabulary test model: it knows only the
~770 words of `edgeasr.export.sentences` and two synthetic voices.

Stages (each timed): plan (sentences: train split for training, dev for dev WER, test for the
final WER), tokenizer, speech + log-mel features (cached in WORK), evaluation set (`edgeasr
data` format, test split: Piper and espeak-ng manifests), training (fixture_train), checkpoint
(fp16 safetensors + tokenizer + processor + chat template), then export to ONNX, greedy parity
with transformers on 2 clips and WER of both test sets through the exported artifact; the card
(CARD.md) and a JSON summary (edgeasr_fixture.json) record all of it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from edgeasr.export import fixture_data as fd
from edgeasr.export.fixture_card import EVAL_ESPEAK, EVAL_PIPER, card
from edgeasr.runtime.errors import EdgeASRError

SUMMARY = "edgeasr_fixture.json"
CHECKPOINT_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "processor_config.json",
    "chat_template.jinja",
    SUMMARY,
    "CARD.md",
)
MIN_VOCABULARY = 300


def _check_out(out: Path, work: Path) -> None:
    """Refuse to write into a directory that is not (or not yet) a fixture checkpoint."""
    if not out.exists():
        return
    if not out.is_dir():
        raise EdgeASRError(f"--out {out}: exists and is not a directory")
    known = set(CHECKPOINT_FILES) | {".gitignore", work.name}
    strange = [p.name for p in out.iterdir() if p.name not in known]
    if strange:
        raise EdgeASRError(f"--out {out}: holds files this command did not write ({', '.join(sorted(strange)[:5])})")


def train_config(minutes: float, steps: int | None, device: str, overrides: dict[str, str]) -> Any:
    """TrainConfig with `--set NAME=VALUE` overrides, each converted to the field's type."""
    import dataclasses

    from edgeasr.export import fixture_train as ft

    fields = {f.name: f for f in dataclasses.fields(ft.TrainConfig)}
    values: dict[str, Any] = {"minutes": minutes, "steps": steps, "device": device}
    for name, raw in overrides.items():
        if name not in fields or name in values:
            known = ", ".join(sorted(set(fields) - set(values)))
            raise EdgeASRError(f"--set {name}: not a training setting (one of: {known})")
        kind = type(getattr(ft.TrainConfig(), name))
        try:
            values[name] = kind(raw)
        except ValueError:
            article = "an" if kind.__name__[0] in "aeiou" else "a"
            raise EdgeASRError(f"--set {name}={raw}: expected {article} {kind.__name__}") from None
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise EdgeASRError(f"--device {device}: torch sees no CUDA device")
    elif device != "cpu":
        raise EdgeASRError(f"--device {device}: expected cpu or cuda[:N]")
    return ft.TrainConfig(**values)


def plan(hours: float, seed: int) -> tuple[list[fd.Item], list[fd.Item]]:
    from edgeasr.export.sentences import vocabulary

    words = len(vocabulary())
    if words < MIN_VOCABULARY:
        raise EdgeASRError(f"the sentence generator knows only {words} words (< {MIN_VOCABULARY})")
    return fd.plan_train(hours, seed), fd.plan_dev(seed)


def build_tokenizer(train: list[fd.Item], work: Path) -> Any:
    """BPE over the training transcripts plus the assistant prefix, saved in WORK/tokenizer."""
    texts = [it.text for it in train] + [fd.LANGUAGE_PREFIX] * 200
    fd.save_tokenizer(fd.train_tokenizer(texts), work / "tokenizer")
    return fd.make_processor(work / "tokenizer")


def build_eval_set(work: Path, seed: int, progress: bool) -> dict[str, Path]:
    """Test-split clips as `edgeasr data` makes them (see eval_commands): Piper with the default
    delivery, and espeak-ng voices (the first test sentences again, in other voices)."""
    from edgeasr.export.datagen import DataParams, build_dataset

    out = {}
    for name, params in (
        ("piper", DataParams(count=EVAL_PIPER, seed=seed, calibration=0)),
        ("espeak", DataParams(count=0, espeak=EVAL_ESPEAK, seed=seed, calibration=0)),
    ):
        build_dataset(work / f"eval-{name}", params, force=True, progress=progress)
        out[name] = work / f"eval-{name}" / "manifest.jsonl"
    return out


def save_checkpoint(model: Any, processor: Any, out: Path) -> dict[str, int]:
    """fp16 weights, generation config, tokenizer, processor settings, chat template: written to
    a temporary folder, then moved over the previous checkpoint files (WORK stays)."""
    import torch

    from edgeasr.export.random_model import _tidy, param_counts

    counts = param_counts(model)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=".save-"))
    try:
        model.to(torch.float16).save_pretrained(str(tmp))
        model.to(torch.float32)
        processor.save_pretrained(str(tmp))
        _tidy(tmp)
        for f in CHECKPOINT_FILES:
            if (out / f).exists() and f not in (SUMMARY, "CARD.md"):
                (out / f).unlink()
        for f in tmp.iterdir():
            f.replace(out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return counts


def evaluate_checkpoint(out: Path, work: Path, manifests: dict[str, Path], threads: int = 2) -> dict[str, Any]:
    """Export `out` to ONNX (WORK/onnx), check greedy parity with transformers on 2 clips, and
    score each test manifest through the artifact (forced English, as `edgeasr eval`)."""
    from edgeasr.export.exporter import export_model
    from edgeasr.export.verify import verify_artifact
    from edgeasr.runtime.dataset import read_manifest
    from edgeasr.runtime.evaluate import evaluate
    from edgeasr.runtime.model import load_model

    art = work / "onnx"
    export_model(str(out), "onnx", art, force=True)
    clips = read_manifest(manifests["piper"])[:1] + read_manifest(manifests["espeak"])[:1]
    report = verify_artifact(str(out), art, audio=[c.audio for c in clips], language="en")
    print(report.summary(), flush=True)
    model = load_model(art, threads=threads)
    result: dict[str, Any] = {"verify_ok": report.ok, "verify": report.clips}
    for name, manifest in manifests.items():
        res = evaluate(model, read_manifest(manifest), progress=False)
        (work / f"eval-{name}.json").write_text(json.dumps(res, indent=2) + "\n")
        result[f"{name}_wer"] = round(res["wer"], 4)
        result[f"{name}_cer"] = round(res["cer"], 4)
        result[f"{name}_clips"] = len(res["clips"])
        result[f"{name}_rtf"] = round(res["rtf"], 4)
        print(f"[fixture-qwen] {name} test WER {res['wer']:.2%} over {len(res['clips'])} clips (ONNX)", flush=True)
    return result


def run(
    out: Path,
    hours: float = 6.0,
    minutes: float = 118.0,
    seed: int = 0,
    resume: bool = False,
    work: Path | None = None,
    steps: int | None = None,
    workers: int = 2,
    evaluate: bool = True,
    progress: bool = True,
    device: str = "cpu",
    overrides: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The whole recipe; returns the summary also written to OUT/edgeasr_fixture.json.
    `overrides` sets TrainConfig fields by name (`--set lr=0.003`)."""

    from edgeasr.export import fixture_train as ft

    out = Path(out)
    work = Path(work) if work else out / "work"
    _check_out(out, work)
    cfg = train_config(minutes, steps, device, overrides or {})
    work.mkdir(parents=True, exist_ok=True)
    if work.parent == out and not (out / ".gitignore").exists():
        (out / ".gitignore").write_text(f"{work.name}/\n")
    stages: dict[str, float] = {}
    start = t = time.perf_counter()

    train_items, dev_items = plan(hours, seed)
    t = fd.timed(stages, "plan", t)
    processor = build_tokenizer(train_items, work)
    t = fd.timed(stages, "tokenizer", t)
    train_set = fd.build_features(train_items, seed, work / "features-train", workers, progress, "train speech")
    dev_set = fd.build_features(dev_items, seed, work / "features-dev", workers, progress, "dev speech")
    t = fd.timed(stages, "speech+features", t)
    print(f"[fixture-qwen] training speech: {len(train_items)} clips, {train_set.hours:.2f} h", flush=True)
    manifests = build_eval_set(work, seed, progress) if evaluate else {}
    t = fd.timed(stages, "eval set", t)

    model, state = ft.train(work, train_set, dev_set, processor, cfg, seed, resume, progress)
    t = fd.timed(stages, "train", t)
    command = f"edgeasr fixture-qwen --out {out} --hours {hours:g} --minutes {minutes:g} --seed {seed}"
    command += (f" --steps {steps}" if steps else "") + (f" --device {device}" if device != "cpu" else "")
    command += "".join(f" --set {k}={v}" for k, v in (overrides or {}).items())
    sets = (train_items, dev_items, train_set, dev_set)
    return finish(out, work, command, seed, cfg, model, state, sets, processor, manifests, stages, start)


def finish(
    out: Path,
    work: Path,
    command: str,
    seed: int,
    cfg: Any,
    model: Any,
    state: Any,
    sets: tuple[list[fd.Item], list[fd.Item], fd.FeatureSet, fd.FeatureSet],
    processor: Any,
    manifests: dict[str, Path],
    stages: dict[str, float],
    start: float,
) -> dict[str, Any]:
    """Everything after training: checkpoint, fp16 dev check, export + test WER, summary, card.
    Separate so that weights trained elsewhere (a GPU run of fixture_train) finish the same way."""
    import platform

    import torch
    import transformers

    from edgeasr.export import fixture_batches as fb
    from edgeasr.export import fixture_train as ft

    train_items, dev_items, train_set, dev_set = sets
    t = time.perf_counter()
    counts = save_checkpoint(model, processor, out)
    t = fd.timed(stages, "checkpoint", t)
    # dev WER of the fp16 weights as saved (what the artifact is exported from)
    from transformers import Qwen3ASRForConditionalGeneration

    saved = Qwen3ASRForConditionalGeneration.from_pretrained(str(out), dtype=torch.float32).eval()
    prompt = fb.Prompt.from_processor(processor)
    hyps = fb.transcribe(saved, processor.tokenizer, dev_set, prompt, forced=True)
    dev_fp16 = fb.wer([it.text for it in dev_items], hyps)
    free = fb.transcribe(saved, processor.tokenizer, dev_set, prompt, forced=False)
    free_wer = fb.wer([it.text for it in dev_items], free)
    t = fd.timed(stages, "dev check", t)
    print(f"[fixture-qwen] dev WER (fp16 checkpoint): forced English {dev_fp16:.2%}, detected {free_wer:.2%}")

    from collections import Counter

    summary: dict[str, Any] = {
        "command": command,
        "seed": seed,
        "out": str(out),
        "train": {
            "clips": len(train_items),
            "hours": round(train_set.hours, 3),
            "voices": dict(Counter(it.voice for it in train_items)),
            "perturbed": dict(Counter(it.aug.split("-")[0] for it in train_items if it.aug)),
        },
        "dev": {"clips": len(dev_items), "hours": round(dev_set.hours, 3)},
        "parameters": counts,
        "config": {"audio": ft.AUDIO, "text": ft.TEXT, "vocab_size": fd.VOCAB_SIZE},
        "training": {
            **cfg.__dict__,
            "steps_done": state.step,
            "epochs": round(state.frames_seen / max(1, int(train_set.frames.sum())), 1),
            "train_minutes": round(state.elapsed_s / 60, 1),
            "free_language_share": ft.FREE_LANGUAGE,
            "history": state.history,
        },
        "dev_wer_fp16": round(dev_fp16, 4),
        "dev_wer_detected_language": round(free_wer, 4),
        "machine": {
            "cpu": _cpu(),
            "threads": cfg.threads,
            "device": state.device,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "stages_s": stages,
    }
    if manifests:
        summary["test"] = evaluate_checkpoint(out, work, manifests, cfg.threads)
        summary["test"]["manifests"] = {k: str(v) for k, v in manifests.items()}
        t = fd.timed(stages, "export+eval", t)
    summary["stages_s"]["total"] = round(time.perf_counter() - start, 1)
    summary["bytes"] = sum((out / f).stat().st_size for f in CHECKPOINT_FILES if (out / f).is_file())
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    (out / "CARD.md").write_text(card(summary))
    summary["bytes"] = sum((out / f).stat().st_size for f in CHECKPOINT_FILES if (out / f).is_file())
    return summary


def _cpu() -> str:
    from edgeasr.runtime.evaluate import cpu_model

    return cpu_model()
