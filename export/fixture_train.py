"""Training side of `edgeasr fixture-qwen`: the small Qwen3-ASR configuration, batches in the
runtime's exact prompt layout, the loss (label-smoothed next-token cross-entropy plus an
auxiliary CTC loss on the projected audio embeddings), the time-budgeted loop with warmup +
cosine learning rate, resumable state, greedy dev WER, and the transformers-format checkpoint.

The model is transformers' own `Qwen3ASRForConditionalGeneration` (its encoder with the real
100-frame chunks and 8 s attention windows, its Qwen3 decoder); nothing is frozen. The CTC head
is a training aid only and is not saved. Defaults (dropout 0.1, CTC weight 0.5) come from four
parallel GPU runs on the same 5.8 h of speech: against no dropout and CTC weight 0.3 they took dev
WER from 26.9% to 18.9% at 7,700 steps; 4x larger batches did worse at equal time (the card of
fixtures/qwen3-asr-small has the figures). With them, one 118-minute cosine on 2 cores (8,151
steps) gave 4.1% test WER. `device="cuda"` runs the same steps on a GPU.

Prompt layout (what the processor's chat template renders and the exported artifact's runtime
feeds): `<|im_start|>system\\n<|im_end|>\\n<|im_start|>user\\n<|audio_start|>` + one
`<|audio_pad|>` per encoder position + `<|audio_end|><|im_end|>\\n<|im_start|>assistant\\n`, then
either the forced `language English<asr_text>` (in the prompt) and the transcript, or (a share
FREE_LANGUAGE of the samples) the model writes `language English<asr_text>` itself; the target
ends with `<|im_end|>`.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeasr.export import fixture_data as fd
from edgeasr.export.fixture_batches import Prompt, batches_for_epoch, make_batch, transcribe, transcript_ids, wer

FREE_LANGUAGE = 0.3  # share of training samples whose prompt leaves the language to the model


@dataclass
class TrainConfig:
    """Hyper-parameters (recorded in the card)."""

    minutes: float = 118.0
    steps: int | None = None  # fixed step count instead of the time budget (schedule over steps)
    batch_frames: int = 6000  # mel frames (10 ms) of audio per batch, before padding
    max_clips: int = 48
    lr: float = 1.5e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 300
    weight_decay: float = 0.05
    clip_norm: float = 1.0
    label_smoothing: float = 0.1
    ctc_weight: float = 0.5
    spec_augment: float = 0.8  # probability per clip
    eval_minutes: float = 10.0
    checkpoint_minutes: float = 4.0
    threads: int = 2
    dropout: float = 0.1  # encoder dropout/attention dropout and decoder attention dropout
    device: str = "cpu"  # "cuda" trains on a GPU (same code, same batches)


# Model shape: 7 M parameters (fp16 checkpoint ~14 MB). Encoder and decoder widths 256; the real
# chunking and windows (n_window 50, n_window_infer 800, 128 mels, 13 positions per chunk).
AUDIO = {
    "d_model": 256,
    "encoder_layers": 4,
    "encoder_attention_heads": 4,
    "encoder_ffn_dim": 1024,
    "output_dim": 256,
    "downsample_hidden_size": 64,
}
TEXT = {
    "hidden_size": 256,
    "intermediate_size": 768,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "max_position_embeddings": 4096,
}


def model_config(vocab_size: int = fd.VOCAB_SIZE) -> Any:
    """Qwen3ASRConfig: random_model's shared Qwen3-ASR settings, the shapes above, this
    tokenizer's ids (audio <|audio_pad|>, EOS <|endoftext|>/<|im_end|>, pad <|im_end|>)."""
    from transformers import Qwen3ASRConfig

    from edgeasr.export.random_model import _AUDIO_COMMON, _TEXT_COMMON

    eos = [fd.token_id("<|endoftext|>"), fd.token_id("<|im_end|>")]
    text = {**copy.deepcopy(_TEXT_COMMON), **TEXT, "vocab_size": vocab_size}
    text |= {"bos_token_id": None, "eos_token_id": eos[1], "pad_token_id": eos[0]}
    return Qwen3ASRConfig(
        audio_config={**_AUDIO_COMMON, **AUDIO},
        text_config=text,
        audio_token_id=fd.token_id("<|audio_pad|>"),
        pad_token_id=eos[1],
        eos_token_id=eos,
        tie_word_embeddings=True,
    )


def generation_config() -> Any:
    from transformers import GenerationConfig

    eos = [fd.token_id("<|endoftext|>"), fd.token_id("<|im_end|>")]
    return GenerationConfig(eos_token_id=eos, pad_token_id=eos[1], do_sample=False, max_new_tokens=256)


class Losses(nn.Module):
    """Next-token CE (label smoothing) + CTC on the audio embeddings (blank = vocab size)."""

    def __init__(self, hidden: int, vocab: int, cfg: TrainConfig) -> None:
        super().__init__()
        self.ctc_head = nn.Linear(hidden, vocab + 1)
        self.vocab, self.cfg = vocab, cfg

    def forward(
        self, model: nn.Module, batch: dict[str, torch.Tensor], targets: list[list[int]]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        out = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            input_features=batch["input_features"],
            input_features_mask=batch["input_features_mask"],
        )
        logits = out.logits[:, :-1].reshape(-1, self.vocab)
        labels = batch["labels"][:, 1:].reshape(-1)
        ce = nn.functional.cross_entropy(logits, labels, ignore_index=-100, label_smoothing=self.cfg.label_smoothing)
        stats = {"ce": ce.item()}
        loss = ce
        if self.cfg.ctc_weight > 0:
            lengths = batch["n_audio"]
            packed = out.audio_hidden_states  # (sum of positions, hidden), clip by clip
            per = torch.split(packed, lengths.tolist())
            logp = nn.utils.rnn.pad_sequence(per).float()  # (T, B, hidden)
            logp = self.ctc_head(logp).log_softmax(-1)
            tgt = [torch.tensor(t) for t in targets]
            ctc = nn.functional.ctc_loss(
                logp,
                torch.cat(tgt).to(logp.device),
                lengths,
                torch.tensor([len(t) for t in tgt]),
                blank=self.vocab,
                reduction="mean",
                zero_infinity=True,
            )
            loss = loss + self.cfg.ctc_weight * ctc
            stats["ctc"] = ctc.item()
        stats["loss"] = loss.item()
        return loss, stats


@dataclass
class TrainState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    elapsed_s: float = 0.0
    frames_seen: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    device: str = "cpu"  # where the steps ran ("cpu" or the GPU's name)


def lr_at(state: TrainState, cfg: TrainConfig) -> float:
    if state.step < cfg.warmup_steps:
        return cfg.lr * (state.step + 1) / cfg.warmup_steps
    if cfg.steps:
        progress = (state.step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    else:
        progress = state.elapsed_s / (cfg.minutes * 60)
    progress = min(1.0, max(0.0, progress))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


class ThreadTuner:
    """Picks 1 or `max_threads` torch threads from measured seconds per audio frame. On a
    shared machine a niced 2-thread step stalls whenever one core is taken by another process
    (each parallel region waits for its slowest thread): 10x slower than one thread. Every
    `period_s` seconds (and once after the first steps) the other setting is tried for `probe`
    steps and the faster one kept."""

    def __init__(self, max_threads: int, period_s: float = 120.0, probe: int = 4) -> None:
        self.choices = sorted({1, max(1, max_threads)})
        self.current = self.choices[-1]
        self.period_s, self.probe = period_s, probe
        self.rate: dict[int, float] = {}
        self.n = 0
        self.probe_until: int | None = None
        self.last = time.perf_counter() - period_s + 10.0  # first probe after ~10 s
        torch.set_num_threads(self.current)

    def record(self, seconds: float, frames: int) -> None:
        r = seconds / max(1, frames)
        t = torch.get_num_threads()
        self.rate[t] = r if t not in self.rate or self.probe_until is not None else 0.7 * self.rate[t] + 0.3 * r
        self.n += 1
        if len(self.choices) == 1:
            return
        if self.probe_until is None and time.perf_counter() - self.last >= self.period_s:
            self.probe_until = self.n + self.probe
            torch.set_num_threads(next(c for c in self.choices if c != self.current))
        elif self.probe_until is not None and self.n >= self.probe_until:
            self.probe_until = None
            self.last = time.perf_counter()
            self.current = min(self.rate, key=self.rate.get)
            torch.set_num_threads(self.current)


def build_model(seed: int, dropout: float = 0.0) -> nn.Module:
    from transformers import Qwen3ASRForConditionalGeneration

    torch.manual_seed(seed)
    config = model_config()
    if dropout:
        for key in ("dropout", "attention_dropout", "activation_dropout"):
            setattr(config.audio_config, key, dropout)
        config.text_config.attention_dropout = dropout
    model = Qwen3ASRForConditionalGeneration(config)
    model.config._attn_implementation = "sdpa"
    model.generation_config = generation_config()
    return model


def train(
    work: Path,
    train_set: fd.FeatureSet,
    dev_set: fd.FeatureSet,
    processor: Any,
    cfg: TrainConfig,
    seed: int,
    resume: bool,
    progress: bool = True,
) -> tuple[nn.Module, TrainState]:
    """Train (or continue) within cfg.minutes (or cfg.steps); returns the model in eval mode."""
    from tqdm import tqdm

    device = torch.device(cfg.device)
    tuner = ThreadTuner(cfg.threads) if device.type == "cpu" else None
    tokenizer = processor.tokenizer
    prompt = Prompt.from_processor(processor)
    targets = transcript_ids(tokenizer, [it.text for it in train_set.items])
    dev_refs = [it.text for it in dev_set.items]
    model = build_model(seed, cfg.dropout).to(device)
    losses = Losses(TEXT["hidden_size"], fd.VOCAB_SIZE, cfg).to(device)
    params = [p for p in list(model.parameters()) + list(losses.parameters()) if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.98),
        eps=1e-8,
    )
    state = TrainState()
    ckpt = work / "train-state.pt"
    if resume and ckpt.is_file():
        saved = torch.load(ckpt, map_location="cpu", weights_only=False)
        model.load_state_dict(saved["model"])
        losses.load_state_dict(saved["losses"])
        opt.load_state_dict(saved["optimizer"])
        state = TrainState(**saved["state"])
        print(f"[fixture-qwen] resumed at step {state.step} ({state.elapsed_s / 60:.1f} min trained)", flush=True)
    elif ckpt.is_file():
        ckpt.unlink()

    def save_state() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save(
            {
                "model": model.state_dict(),
                "losses": losses.state_dict(),
                "optimizer": opt.state_dict(),
                "state": state.__dict__,
                "config": cfg.__dict__,
                "seed": seed,
            },
            tmp,
        )
        tmp.replace(ckpt)

    def finished() -> bool:
        return state.step >= cfg.steps if cfg.steps else state.elapsed_s >= cfg.minutes * 60

    state.device = "cpu" if device.type == "cpu" else torch.cuda.get_device_name(device)
    state.done = state.done and finished()  # resumed with a larger budget: train on, evaluate again

    def dev_eval() -> dict[str, Any]:
        t = time.perf_counter()
        hyps = transcribe(model, tokenizer, dev_set, prompt, forced=True)
        piper = [k for k, it in enumerate(dev_set.items) if it.voice != "espeak"]
        esp = [k for k, it in enumerate(dev_set.items) if it.voice == "espeak"]
        row = {
            "step": state.step,
            "minutes": round(state.elapsed_s / 60, 1),
            "dev_wer": round(wer(dev_refs, hyps), 4),
            "dev_wer_piper": round(wer([dev_refs[k] for k in piper], [hyps[k] for k in piper]), 4),
            "dev_wer_espeak": round(wer([dev_refs[k] for k in esp], [hyps[k] for k in esp]), 4),
            "eval_s": round(time.perf_counter() - t, 1),
        }
        model.train()
        return row

    total = cfg.steps or None
    bar = tqdm(total=total, initial=state.step, unit="step", desc="train", disable=not progress, mininterval=5)
    rng = fd._rng(seed, "augment", state.step)
    last_ckpt = last_eval = state.elapsed_s
    latest = state.history[-1]["dev_wer"] if state.history else float("nan")
    model.train()
    ema: dict[str, float] = {}
    while not finished():
        plan = batches_for_epoch(train_set.frames, state.epoch, seed, cfg.batch_frames, cfg.max_clips)
        while state.batch_in_epoch < len(plan) and not finished():
            t0 = time.perf_counter()
            idx = plan[state.batch_in_epoch]
            forced = [bool(fd._rng(seed, "forced", state.epoch, i).random() >= FREE_LANGUAGE) for i in idx]
            batch = make_batch(train_set, idx, prompt, targets, forced, rng, cfg.spec_augment)
            batch = {k: v if k == "n_audio" else v.to(device) for k, v in batch.items()}
            lr = lr_at(state, cfg)
            for g in opt.param_groups:
                g["lr"] = lr
            loss, stats = losses(model, batch, [targets[i] for i in idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = float(nn.utils.clip_grad_norm_(params, cfg.clip_norm))
            opt.step()
            state.step += 1
            state.batch_in_epoch += 1
            state.frames_seen += int(train_set.frames[idx].sum())
            state.elapsed_s += time.perf_counter() - t0
            if tuner:
                tuner.record(time.perf_counter() - t0, int(train_set.frames[idx].sum()))
            for k, v in stats.items():
                ema[k] = v if k not in ema else 0.98 * ema[k] + 0.02 * v
            bar.update()
            bar.set_postfix(
                loss=f"{ema['loss']:.3f}",
                ce=f"{ema['ce']:.3f}",
                ctc=f"{ema.get('ctc', 0.0):.3f}",
                lr=f"{lr:.1e}",
                gn=f"{gnorm:.2f}",
                th=tuner.current if tuner else cfg.device,
                dev_wer=f"{latest:.3f}",
            )
            if state.elapsed_s - last_eval >= cfg.eval_minutes * 60:
                t1 = time.perf_counter()
                row = dev_eval() | {"train_loss": round(ema["loss"], 4), "train_ce": round(ema["ce"], 4), "lr": lr}
                state.history.append(row)
                latest = row["dev_wer"]
                bar.write(f"[fixture-qwen] {json.dumps(row)}")
                state.elapsed_s += time.perf_counter() - t1
                last_eval = state.elapsed_s
            if state.elapsed_s - last_ckpt >= cfg.checkpoint_minutes * 60:
                t1 = time.perf_counter()
                save_state()
                state.elapsed_s += time.perf_counter() - t1
                last_ckpt = state.elapsed_s
        if state.batch_in_epoch >= len(plan):
            state.epoch += 1
            state.batch_in_epoch = 0
    bar.close()
    if not state.done:
        row = dev_eval() | {"train_loss": round(ema.get("loss", float("nan")), 4), "final": True}
        state.history.append(row)
        print(f"[fixture-qwen] final dev: {json.dumps(row)}", flush=True)
        state.done = True
        save_state()
    model.eval()
    return model, state
