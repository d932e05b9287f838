"""CARD.md of the Qwen3-ASR test model, written from the summary that `edgeasr fixture-qwen`
records (edgeasr_fixture.json), so the card's figures are the run's own."""

from __future__ import annotations

from typing import Any

# The two test sets (test-split sentences, built by fixture_qwen.build_eval_set) and the issue's
# goal for them.
EVAL_PIPER, EVAL_ESPEAK = 120, 40
GOAL = {"piper_wer": 0.15, "espeak_wer": 0.25}


def eval_commands(seed: int, art: str = "artifacts/qwen3-asr-small-onnx") -> list[str]:
    """The `edgeasr` commands that make the two test sets and score an artifact on them."""
    return [
        f"edgeasr data --out data/fixture-piper --count {EVAL_PIPER} --seed {seed} --calibration 0",
        f"edgeasr data --out data/fixture-espeak --count 0 --espeak {EVAL_ESPEAK} --seed {seed} --calibration 0",
        f"edgeasr eval --artifact {art} --manifest data/fixture-piper/manifest.jsonl",
        f"edgeasr eval --artifact {art} --manifest data/fixture-espeak/manifest.jsonl",
    ]


def _where(machine: dict[str, Any]) -> str:
    """Where the steps ran: `2 cores (CPU model)` or `one GPU name`."""
    if machine.get("device", "cpu") == "cpu":
        return f"{machine['threads']} cores ({machine['cpu']})"
    return f"one {machine['device']}"


def card(s: dict[str, Any]) -> str:
    """CARD.md from the summary."""
    p, tr, test = s["parameters"], s["training"], s.get("test", {})
    hist = "\n".join(
        f"| {h['step']} | {h['minutes']} | {h['dev_wer']:.1%} | {h['dev_wer_piper']:.1%} | {h['dev_wer_espeak']:.1%} |"
        for h in tr["history"]
    )
    lines = [
        "# qwen3-asr-small: a Qwen3-ASR-architecture test model trained on generated speech",
        "",
        "**This is a closed-vocabulary test model, not a usable speech recogniser.** It knows only the",
        "~770 words of `edgeasr.export.sentences` (the project's own sentence templates) and two synthetic",
        "voice families (Piper `joe`, espeak-ng). It exists so that tests and quantization profiles get a",
        "meaningful WER from a model with Qwen3-ASR's exact architecture, prompt and special tokens. The",
        "real model comes from the hub (`Qwen/Qwen3-ASR-0.6B`, `Qwen/Qwen3-ASR-1.7B`).",
        "",
        "## What it is",
        "",
        f"- transformers `Qwen3ASRForConditionalGeneration`, {p['total'] / 1e6:.2f} M parameters (audio encoder "
        f"{p['audio_encoder'] / 1e6:.2f} M, projector {p['projector'] / 1e6:.2f} M, Qwen3 decoder "
        f"{p['decoder'] / 1e6:.2f} M with tied embeddings); fp16 safetensors.",
        f"- Encoder: d_model {s['config']['audio']['d_model']}, {s['config']['audio']['encoder_layers']} layers, "
        f"conv stem width {s['config']['audio']['downsample_hidden_size']}; Qwen3-ASR's real chunking and windows "
        "(128 mels, n_window 50 = 100-frame chunks, n_window_infer 800 = 8 s attention windows).",
        f"- Decoder: hidden {s['config']['text']['hidden_size']}, {s['config']['text']['num_hidden_layers']} layers, "
        f"{s['config']['text']['num_attention_heads']} query / {s['config']['text']['num_key_value_heads']} KV heads "
        f"of {s['config']['text']['head_dim']}.",
        f"- Tokenizer: byte-level BPE with {s['config']['vocab_size']} entries trained on the training transcripts; "
        "Qwen3-ASR's special tokens at ids 0-11 (`<|endoftext|>` 0, `<|im_start|>` 1, `<|im_end|>` 2, "
        "`<|audio_start|>` 7, `<|audio_end|>` 8, `<|audio_pad|>` 10, `<asr_text>` 11), not Qwen's 151643+; "
        "Qwen3-ASR's chat template and feature extractor settings.",
        "- Output format as Qwen3-ASR: `language English<asr_text>` + transcript (cased, punctuated, numbers "
        "as words); with the language forced the prompt ends with that prefix.",
        "",
        "## How it was made",
        "",
        f"Command: `{s['command']}` (`make fixture-qwen`), seed {s['seed']}.",
        "",
        f"- Training speech: {s['train']['clips']} distinct train-split sentences, {s['train']['hours']:.2f} h "
        f"({s['train']['voices']}; perturbed: {s['train']['perturbed']}); Piper with `Delivery.varied`, "
        "espeak-ng voices en-us/en-gb/en-us+m3/en-us+f2/en+f3, white/pink noise at 10-30 dB SNR, speed 0.9-1.1. "
        "Features: `edgeasr.runtime.features.log_mel`, computed once.",
        f"- Dev: {s['dev']['clips']} dev-split sentences (Piper default delivery and espeak-ng).",
        f"- Training: {tr['steps_done']} steps ({tr['epochs']} epochs) in {tr['train_minutes']} min on "
        f"{_where(s['machine'])}, from scratch, nothing frozen; AdamW "
        f"(lr {tr['lr']}, weight decay {tr['weight_decay']}), {tr['warmup_steps']} warmup steps then cosine to "
        f"{tr['min_lr_ratio']} x over the time budget, gradient clipping {tr['clip_norm']}, label smoothing "
        f"{tr['label_smoothing']}, auxiliary CTC loss (weight {tr['ctc_weight']}) on the projected audio "
        f"embeddings, dropout {tr.get('dropout', 0.0)}, SpecAugment-style masks on {tr['spec_augment']:.0%} "
        "of clips, batches of about "
        f"{tr['batch_frames'] / 100:.0f} s of audio. {1 - tr['free_language_share']:.0%} of samples had the "
        f"language forced in the prompt; {tr['free_language_share']:.0%} had to write `language English<asr_text>`.",
        f"- Time per stage (s): {s['stages_s']}.",
        "",
        "Dev WER during training (forced English, transformers greedy):",
        "",
        "| step | minutes | dev WER | Piper | espeak |",
        "|---:|---:|---:|---:|---:|",
        hist,
        "",
        f"Dev WER of the saved fp16 checkpoint: {s['dev_wer_fp16']:.2%} with the language forced, "
        f"{s['dev_wer_detected_language']:.2%} when the model writes the language tag itself.",
        "",
        "## WER on unseen test sentences, through the exported ONNX artifact",
        "",
    ]
    if test:
        lines += [
            "| test set | clips | WER | CER |",
            "|---|---:|---:|---:|",
            f"| Piper (joe, default delivery) | {test['piper_clips']} | {test['piper_wer']:.2%} | "
            f"{test['piper_cer']:.2%} |",
            f"| espeak-ng (5 voices) | {test['espeak_clips']} | {test['espeak_wer']:.2%} | {test['espeak_cer']:.2%} |",
            "",
            "Test sentences: test split of `edgeasr.export.sentences` (never trained on; the espeak-ng set "
            f"speaks the first {EVAL_ESPEAK} of them again), scored with `edgeasr.runtime.metrics` normalisation, "
            "language forced to English (the manifests say `en`). Reproduce:",
            "",
            "```",
            f"edgeasr export --model {s['out']} --format onnx --out artifacts/qwen3-asr-small-onnx --force",
            f"edgeasr verify --model {s['out']} --artifact artifacts/qwen3-asr-small-onnx",
            *eval_commands(s["seed"]),
            "```",
            "",
            f"`edgeasr verify` (greedy parity with transformers): {'OK' if test['verify_ok'] else 'FAILED'}.",
        ]
        reached = all(test[k] <= v for k, v in GOAL.items())
        lines += [
            "",
            f"Goal of the recipe: Piper test WER at most {GOAL['piper_wer']:.0%}, espeak-ng at most "
            f"{GOAL['espeak_wer']:.0%}: {'reached' if reached else 'not reached by this checkpoint'}.",
        ]
    else:
        lines.append("(not evaluated in this run)")
    lines += ["", "## Reproducibility", "", REPRODUCIBILITY, ""]
    return "\n".join(lines)


REPRODUCIBILITY = (
    "The data (sentences, voices, perturbations, features) is identical for a seed on any machine of the "
    "same CPU family. Training is budgeted in wall time (cosine schedule over the budget), so the number "
    "of steps, and with it the exact weights, depend on the machine's speed and load; `--steps N` fixes "
    "the schedule instead."
)
