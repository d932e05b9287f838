"""Whisper export adapter: torch wrappers for an encoder graph (mel -> every decoder layer's
cross-attention K/V, computed once per utterance) and a decoder step graph (tokens + self
KV cache + cross K/V -> last-position logits + new K/V), with their I/O declared as data."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgeasr.export.families import GraphSpec
from edgeasr.export.families.layers import attend, causal_bias, past_heads, split_heads, time_major
from edgeasr.export.sources import LoadedModel
from edgeasr.runtime.errors import EdgeASRError

ENCODER_IO = {
    "inputs": {"mel": ("batch", "n_mels", "frames")},
    "outputs": {"cross_kv": ("layers", 2, "batch", "heads", "enc_frames", "head_dim")},
}
DECODER_IO = {
    "inputs": {
        "input_ids": ("batch", "tokens"),
        "position_ids": ("batch", "tokens"),
        "attention_mask": ("batch", "total"),
        "past_kv": ("past", "layers", 2, "batch", "heads", "head_dim"),
        "cross_kv": ("layers", 2, "batch", "heads", "enc_frames", "head_dim"),
    },
    "outputs": {
        "logits": ("batch", "vocab"),
        "new_kv": ("tokens", "layers", 2, "batch", "heads", "head_dim"),
    },
}


class EncoderGraph(nn.Module):
    """Mel (B, n_mels, frames) -> cross K/V (layers, 2, B, heads, frames/2, head_dim).

    Unlike transformers' encoder this accepts any frame count up to 30 s (positional
    embeddings are sliced), so shorter windows can be tried without re-exporting.
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.enc = model.model.encoder
        self.cross = nn.ModuleList(layer.encoder_attn for layer in model.model.decoder.layers)
        self.heads = model.config.decoder_attention_heads

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        enc = self.enc
        x = nn.functional.gelu(enc.conv1(mel))
        x = nn.functional.gelu(enc.conv2(x)).permute(0, 2, 1)
        x = x + enc.embed_positions.weight[: x.shape[1]]
        for layer in enc.layers:
            x = layer(x, None)
        x = enc.layer_norm(x)
        kv = [
            torch.stack([split_heads(a.k_proj(x), self.heads), split_heads(a.v_proj(x), self.heads)])
            for a in self.cross
        ]
        return torch.stack(kv)


class DecoderGraph(nn.Module):
    """One decoder call over n new tokens after t cached ones (prefill: t = 0)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        dec = model.model.decoder
        self.layers = dec.layers
        self.norm = dec.layer_norm
        self.heads = model.config.decoder_attention_heads
        self.positions = dec.embed_positions.weight
        # The tied (vocab, d_model) matrix serves the embedding lookup (Gather) and the output
        # projection: on the 2-D last hidden state, F.linear exports as Gemm(transB=1), which
        # reads the same initializer, so ONNX and OpenVINO both store it once.
        self.embed = dec.embed_tokens
        self.proj = model.proj_out

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        past_kv: torch.Tensor,
        cross_kv: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, n = input_ids.shape
        t = past_kv.shape[0]
        x = self.embed(input_ids) + self.positions[position_ids]
        bias = causal_bias(attention_mask, t, n)
        new = []
        for i, layer in enumerate(self.layers):
            a = layer.self_attn
            h = layer.self_attn_layer_norm(x)
            q = split_heads(a.q_proj(h) * a.scaling, self.heads)
            k_new, v_new = split_heads(a.k_proj(h), self.heads), split_heads(a.v_proj(h), self.heads)
            k = torch.cat([past_heads(past_kv, i, 0), k_new], dim=2)
            v = torch.cat([past_heads(past_kv, i, 1), v_new], dim=2)
            x = x + a.out_proj(attend(q, k, v, bias))
            c = layer.encoder_attn
            h = layer.encoder_attn_layer_norm(x)
            q = split_heads(c.q_proj(h) * c.scaling, self.heads)
            x = x + c.out_proj(attend(q, cross_kv[i, 0], cross_kv[i, 1], None))
            h = layer.final_layer_norm(x)
            x = x + layer.fc2(layer.activation_fn(layer.fc1(h)))
            new.append(torch.stack([k_new, v_new]))
        last = self.norm(x[:, -1])
        logits = nn.functional.linear(last, self.proj.weight)
        return logits, time_major(new)


def load_pretrained(spec: str, kind: str) -> LoadedModel:
    """A transformers Whisper checkpoint (local directory or hub id) via from_pretrained."""
    from transformers import AutoTokenizer, WhisperForConditionalGeneration

    try:
        model = WhisperForConditionalGeneration.from_pretrained(spec, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(spec)
    except OSError as exc:
        raise EdgeASRError(f"--model {spec}: cannot load ({str(exc).splitlines()[0]})") from None
    name = spec.rstrip("/").split("/")[-1]
    return LoadedModel("whisper", model.eval(), tok.backend_tokenizer.to_str(), spec, kind, name)


def prepare(loaded: LoadedModel) -> None:
    """Plain eager attention so the traced graph has ordinary ops."""
    loaded.model.config._attn_implementation = "eager"
    loaded.model.eval()


def graphs(loaded: LoadedModel, batch: int = 2) -> list[GraphSpec]:
    """The encoder and decoder graphs with example inputs of the right shapes."""
    cfg = loaded.model.config
    heads, dim = cfg.decoder_attention_heads, cfg.d_model // cfg.decoder_attention_heads
    frames = cfg.max_source_positions * 2
    mel = torch.randn(batch, cfg.num_mel_bins, frames)
    enc = EncoderGraph(loaded.model)
    with torch.no_grad():
        cross = enc(mel)
    ids = torch.tensor([[50257, 50362, 440]] * batch, dtype=torch.int64) % cfg.vocab_size
    pos = torch.arange(3).repeat(batch, 1) + 2
    mask = torch.ones(batch, 5, dtype=torch.int64)
    past = torch.randn(2, cfg.decoder_layers, 2, batch, heads, dim)
    return [
        GraphSpec("encoder", enc, (mel,), **ENCODER_IO),
        GraphSpec("decoder", DecoderGraph(loaded.model), (ids, pos, mask, past, cross), **DECODER_IO),
    ]


def manifest_facts(loaded: LoadedModel) -> dict[str, Any]:
    """Everything the runtime needs besides the graphs: features, dims, special tokens."""
    import json

    cfg, gen = loaded.model.config, loaded.model.generation_config
    added = {t["content"]: t["id"] for t in json.loads(loaded.tokenizer_json).get("added_tokens", [])}
    langs = {k.strip("<|>"): v for k, v in (getattr(gen, "lang_to_id", None) or {}).items()}
    tasks = getattr(gen, "task_to_id", None) or {}
    tokens = {
        "sot": gen.decoder_start_token_id,
        "eot": gen.eos_token_id if isinstance(gen.eos_token_id, int) else gen.eos_token_id[0],
        "no_timestamps": gen.no_timestamps_token_id,
        "sot_prev": added["<|startofprev|>"],
        "transcribe": tasks.get("transcribe", added.get("<|transcribe|>")),
        "translate": tasks.get("translate", added.get("<|translate|>")),
        "languages": langs,
        "suppress": list(gen.suppress_tokens or []),
        "suppress_begin": list(gen.begin_suppress_tokens or []),
    }
    return {
        "features": {
            "kind": "whisper_log_mel",
            "sample_rate": 16000,
            "n_fft": 400,
            "hop_length": 160,
            "n_mels": cfg.num_mel_bins,
            "chunk_seconds": 30,
        },
        "decoder": {
            "layers": cfg.decoder_layers,
            "heads": cfg.decoder_attention_heads,
            "head_dim": cfg.d_model // cfg.decoder_attention_heads,
            "max_positions": cfg.max_target_positions,
            "vocab_size": cfg.vocab_size,
            "kv_layout": ["time", "layer", "k_or_v", "batch", "head", "head_dim"],
        },
        "tokens": tokens,
        "model": {
            "d_model": cfg.d_model,
            "encoder_layers": cfg.encoder_layers,
            "decoder_layers": cfg.decoder_layers,
            "multilingual": bool(langs),
            "parameters": sum(p.numel() for p in loaded.model.parameters()),
        },
    }


def reference_encoder(loaded: LoadedModel, mel: torch.Tensor) -> torch.Tensor:
    """Cross K/V from transformers' own encoder forward (30 s windows only)."""
    m = loaded.model
    with torch.no_grad():
        hidden = m.model.encoder(mel).last_hidden_state
        heads = m.config.decoder_attention_heads
        return torch.stack(
            [
                torch.stack(
                    [
                        split_heads(layer.encoder_attn.k_proj(hidden), heads),
                        split_heads(layer.encoder_attn.v_proj(hidden), heads),
                    ]
                )
                for layer in m.model.decoder.layers
            ]
        )


def reference_logits(loaded: LoadedModel, mel: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Teacher-forced logits (B, T, vocab) of the full transformers model, no cache."""
    with torch.no_grad():
        return loaded.model(input_features=mel, decoder_input_ids=ids, use_cache=False).logits


def reference_generate(
    loaded: LoadedModel, mel: torch.Tensor, prompt: list[int], max_new_tokens: int
) -> list[list[int]]:
    """Greedy tokens from transformers' generate with the same prompt; prompt excluded."""
    with torch.no_grad():
        out = loaded.model.generate(
            input_features=mel,
            decoder_input_ids=torch.tensor([prompt] * mel.shape[0]),
            do_sample=False,
            num_beams=1,
            max_new_tokens=max_new_tokens,
        )
    eot = loaded.model.generation_config.eos_token_id
    rows = []
    for row in out.tolist():
        gen = row[len(prompt) :] if row[: len(prompt)] == prompt else row
        rows.append([t for t in gen if t != eot])
    return rows


def verify_clip(
    loaded: LoadedModel,
    runtime: Any,
    audio: Any,
    max_new_tokens: int = 96,
    language: str | None = None,
    context: str | None = None,
) -> dict[str, Any]:
    """Compare one clip through the artifact and through PyTorch: encoder K/V, teacher-forced
    logits at every position (through the artifact's KV cache), and greedy tokens."""
    import numpy as np

    from edgeasr.runtime.decoding import forced_logits
    from edgeasr.runtime.families.whisper import _Step

    language = language or "en"
    mel = runtime.features(audio)[None]
    cross = runtime.encode(mel)
    ref_cross = reference_encoder(loaded, torch.from_numpy(mel)).numpy()
    prompt = runtime.prompt(language if runtime._lang_ids else None, context)
    ours = runtime.transcribe_batch([audio], language, context, max_new_tokens=max_new_tokens)[0].tokens
    ref = reference_generate(loaded, torch.from_numpy(mel), prompt, max_new_tokens)[0]
    logits = forced_logits(_Step(runtime.graphs["decoder"], cross), prompt, ref, runtime.kv_shape)
    ref_logits = reference_logits(loaded, torch.from_numpy(mel), torch.tensor([prompt + ref]))[0, len(prompt) - 1 :]
    ref_logits = ref_logits.numpy()
    return {
        "encoder_max_abs": float(np.abs(cross - ref_cross).max()),
        "logits_max_abs": float(np.abs(logits - ref_logits).max()),
        "top1_agreement": float((logits.argmax(-1) == ref_logits.argmax(-1)).mean()),
        "tokens": len(ref),
        "greedy_match": ours == ref,
    }
