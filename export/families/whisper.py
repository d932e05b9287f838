"""Whisper export adapter: torch wrappers for an encoder graph (mel -> every decoder layer's
cross-attention K/V, computed once per utterance) and a decoder step graph (tokens + self
KV cache + cross K/V -> last-position logits + new K/V), with their I/O declared as data."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgeasr.export.families import GraphSpec
from edgeasr.export.families.layers import attend, attend_cached, cache_io, causal_bias, merge_heads, split_heads
from edgeasr.export.sources import LoadedModel
from edgeasr.runtime.decoding import KV_LAYOUT
from edgeasr.runtime.errors import EdgeASRError

ENCODER_IO = {
    "inputs": {"mel": ("batch", "n_mels", "frames")},
    "outputs": {"cross_kv": ("layers", 2, "batch", "heads", "enc_frames", "head_dim")},
}


def decoder_io(layers: int) -> dict[str, dict[str, tuple[str | int, ...]]]:
    """Decoder I/O: the attention mask covers the cache slots, then the new tokens."""
    return {
        "inputs": {
            "input_ids": ("batch", "tokens"),
            "position_ids": ("batch", "tokens"),
            "attention_mask": ("batch", "slots_and_tokens"),
            "cross_kv": ("layers", 2, "batch", "heads", "enc_frames", "head_dim"),
            **cache_io(layers, "heads"),
        },
        "outputs": {
            "logits": ("batch", "vocab"),
            **cache_io(layers, "heads", "new", "tokens"),
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


class DecoderLayer(nn.Module):
    """One decoder layer over new tokens; its submodules are named so that graph nodes read
    `/layers.N/self_q/MatMul`, `/layers.N/cross_o/MatMul`, `/layers.N/fc2/MatMul`, ... (the
    names `keep_fp` patterns and `edgeasr sensitivity` use)."""

    def __init__(self, layer: Any, heads: int) -> None:
        super().__init__()
        a, c = layer.self_attn, layer.encoder_attn
        self.heads, self.self_scale, self.cross_scale = heads, a.scaling, c.scaling
        self.self_norm, self.cross_norm, self.ffn_norm = (
            layer.self_attn_layer_norm,
            layer.encoder_attn_layer_norm,
            layer.final_layer_norm,
        )
        self.self_q, self.self_k, self.self_v, self.self_o = a.q_proj, a.k_proj, a.v_proj, a.out_proj
        self.cross_q, self.cross_o = c.q_proj, c.out_proj
        self.fc1, self.fc2, self.act = layer.fc1, layer.fc2, layer.activation_fn

    def forward(
        self, x: torch.Tensor, bias: torch.Tensor, past_k: torch.Tensor, past_v: torch.Tensor, cross: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.self_norm(x)
        q = split_heads(self.self_q(h) * self.self_scale, self.heads)
        k_new, v_new = split_heads(self.self_k(h), self.heads), split_heads(self.self_v(h), self.heads)
        x = x + self.self_o(merge_heads(attend_cached(q, k_new, v_new, past_k, past_v, bias)))
        q = split_heads(self.cross_q(self.cross_norm(x)) * self.cross_scale, self.heads)
        x = x + self.cross_o(attend(q, cross[0], cross[1], None))
        x = x + self.fc2(self.act(self.fc1(self.ffn_norm(x))))
        return x, k_new, v_new


class DecoderGraph(nn.Module):
    """One decoder call over n new tokens after t cached ones (prefill: t = 0)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        dec = model.model.decoder
        heads = model.config.decoder_attention_heads
        self.layers = nn.ModuleList(DecoderLayer(layer, heads) for layer in dec.layers)
        self.norm = dec.layer_norm
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
        cross_kv: torch.Tensor,
        *past: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        b, n = input_ids.shape
        x = self.embed(input_ids) + self.positions[position_ids]
        bias = causal_bias(attention_mask, past[0].shape[2], n)
        new = []
        for i, layer in enumerate(self.layers):
            x, k_new, v_new = layer(x, bias, past[2 * i], past[2 * i + 1], cross_kv[i])
            new += [k_new, v_new]
        logits = nn.functional.linear(self.norm(x[:, -1]), self.proj.weight)
        return (logits, *new)


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
    past = [torch.randn(batch, heads, 2, dim) for _ in range(2 * cfg.decoder_layers)]
    return [
        GraphSpec("encoder", enc, (mel,), **ENCODER_IO),
        GraphSpec(
            "decoder", DecoderGraph(loaded.model), (ids, pos, mask, cross, *past), **decoder_io(cfg.decoder_layers)
        ),
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
            "kv_layout": KV_LAYOUT,
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


def reference_run(
    loaded: LoadedModel,
    audio: Any,
    prompt: list[int],
    language: str | None,
    context: str | None,
    max_new_tokens: int,
) -> dict[str, Any]:
    """PyTorch's encoder K/V, greedy tokens after `prompt`, and teacher-forced logits."""
    from edgeasr.runtime.features import whisper_window

    mel = torch.from_numpy(whisper_window(audio, loaded.model.config.num_mel_bins)[None])
    tokens = reference_generate(loaded, mel, prompt, max_new_tokens)[0]
    logits = reference_logits(loaded, mel, torch.tensor([prompt + tokens]))[0, len(prompt) - 1 :]
    return {"encoded": reference_encoder(loaded, mel).numpy(), "tokens": tokens, "logits": logits.numpy()}
