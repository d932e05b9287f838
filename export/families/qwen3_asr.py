"""Qwen3-ASR export adapter, built on transformers' native `qwen3_asr` classes.

Encoder graph: log-mel cut into 8 s windows of up to eight 100-frame chunks (W, 128, 100 k)
plus the number of valid positions per window -> projected audio embeddings (W, 13 k, hidden).
The per-chunk convolution stem and the block-diagonal 8 s attention of transformers' encoder
become a batch of windows with no data-dependent control flow; the runtime cuts a clip's last,
partly filled window to the chunks it holds (k < 8).

Decoder graph: token ids + audio embeddings (spliced in the graph at the audio-token
positions) + each layer's cache slots -> last-position logits and the new K/V, the same
interface as the Whisper decoder, so one decoding loop serves both (runtime/decoding.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeasr.export.families import GraphSpec
from edgeasr.export.families.layers import (
    OrtGroupQueryAttention,
    OrtRotaryEmbedding,
    attend,
    attend_cached,
    cache_io,
    causal_bias,
    rotate_half,
    split_heads,
)
from edgeasr.export.sources import LoadedModel
from edgeasr.runtime.decoding import KV_LAYOUT
from edgeasr.runtime.errors import EdgeASRError

ENCODER_IO = {
    "inputs": {"mel": ("windows", "n_mels", "window_frames"), "n_valid": ("windows",)},
    "outputs": {"audio_embeds": ("windows", "window_positions", "hidden")},
}


def decoder_io(layers: int, in_place: bool = False) -> dict[str, dict[str, tuple[str | int, ...]]]:
    """Decoder I/O: the attention mask covers the cache slots, then the new tokens. In place
    (the ONNX Runtime form): the mask covers the filled slots, then the new tokens, and the
    `present_*` outputs are the cache buffers themselves, bound to the `past_*` inputs."""
    if in_place:
        mask, past, new = (
            ("batch", "filled_and_tokens"),
            cache_io(layers, "kv_heads", slots="capacity"),
            {**cache_io(layers, "kv_heads", "present", "capacity")},
        )
    else:
        mask, past, new = (
            ("batch", "slots_and_tokens"),
            cache_io(layers, "kv_heads"),
            {**cache_io(layers, "kv_heads", "new", "tokens")},
        )
    return {
        "inputs": {
            "input_ids": ("batch", "tokens"),
            "audio_embeds": ("batch", "audio_tokens", "hidden"),
            "position_ids": ("batch", "tokens"),
            "attention_mask": mask,
            **past,
        },
        "outputs": {"logits": ("batch", "vocab"), **new},
    }


def _post_cnn(frames: int) -> int:
    """Positions left after the three stride-2 convolutions (k=3, p=1)."""
    for _ in range(3):
        frames = (frames - 1) // 2 + 1 if frames > 0 else 0
    return frames


def window_geometry(audio_cfg: Any) -> dict[str, int]:
    """Chunk and window sizes of the encoder (100 frames per chunk, 13 positions, 8 chunks)."""
    chunk = audio_cfg.n_window * 2
    return {
        "chunk_frames": chunk,
        "chunk_positions": _post_cnn(chunk),
        "window_chunks": audio_cfg.n_window_infer // chunk,
    }


class EncoderLayer(nn.Module):
    """One audio encoder layer over a batch of windows (pre-norm, GELU FFN); nodes read
    `/layers.N/q_proj/MatMul`, `/layers.N/fc2/MatMul`, ..."""

    def __init__(self, layer: Any, heads: int) -> None:
        super().__init__()
        a = layer.self_attn
        self.heads, self.scale = heads, a.scaling
        self.attn_norm, self.ffn_norm = layer.self_attn_layer_norm, layer.final_layer_norm
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = a.q_proj, a.k_proj, a.v_proj, a.out_proj
        self.fc1, self.fc2, self.act = layer.fc1, layer.fc2, layer.activation_fn

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        h = self.attn_norm(x)
        q, k, v = (split_heads(p(h), self.heads) for p in (self.q_proj, self.k_proj, self.v_proj))
        x = x + self.out_proj(attend(q, k, v, bias, self.scale))
        return x + self.fc2(self.act(self.fc1(self.ffn_norm(x))))


class EncoderGraph(nn.Module):
    """(W, 128, 100 k) mel windows of k <= 8 chunks + valid positions per window -> (W, 13 k, hidden)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.tower = model.model.audio_tower
        self.projector = model.model.multi_modal_projector
        cfg = model.config.audio_config
        geo = window_geometry(cfg)
        self.chunk = geo["chunk_frames"]
        self.layers = nn.ModuleList(EncoderLayer(layer, cfg.encoder_attention_heads) for layer in self.tower.layers)

    def forward(self, mel: torch.Tensor, n_valid: torch.Tensor) -> torch.Tensor:
        # Any whole number of chunks up to a window: the runtime trims a clip's last, partly
        # filled window (and short clips) to the chunks they hold instead of padding to 8 s.
        tw = self.tower
        w, bins, frames = mel.shape
        chunks = frames // self.chunk
        x = mel.reshape(w, bins, chunks, self.chunk).permute(0, 2, 1, 3).reshape(w * chunks, 1, bins, self.chunk)
        x = nn.functional.gelu(tw.conv2d1(x))
        x = nn.functional.gelu(tw.conv2d2(x))
        x = nn.functional.gelu(tw.conv2d3(x))
        c, ch, f, steps = x.shape
        x = tw.conv_out(x.permute(0, 3, 1, 2).reshape(c, steps, ch * f))
        x = x + tw.positional_embedding.positional_embedding[:steps]  # positions restart in every chunk
        x = x.reshape(w, chunks * steps, -1)
        keep = torch.arange(x.shape[1]).unsqueeze(0) < n_valid.unsqueeze(1)
        bias = torch.where(keep, 0.0, -65504.0)[:, None, None, :]  # padded keys only; padded queries are dropped
        for layer in self.layers:
            x = layer(x, bias)
        return self.projector(tw.ln_post(x))


def _fused(*linears: nn.Linear) -> nn.Linear:
    """One Linear whose output is the given Linears' outputs side by side. A decode step reads
    every weight once whatever the split, but each MatMul call costs a fixed overhead and small
    ones stream slower: 0.6B int8 step, k_proj and v_proj at 22 GB/s against gate_proj's 30.
    Block-wise quantization runs along the input axis, so the fused weight quantizes exactly
    as its parts would."""
    weight = torch.cat([m.weight for m in linears])
    has_bias = linears[0].bias is not None
    out = nn.Linear(weight.shape[1], weight.shape[0], bias=has_bias, device="meta")  # no random init to discard
    out.weight = nn.Parameter(weight.detach(), requires_grad=False)
    if has_bias:
        out.bias = nn.Parameter(torch.cat([m.bias for m in linears]).detach(), requires_grad=False)
    return out


class DecoderLayer(nn.Module):
    """One Qwen3 decoder layer over new tokens (GQA, per-head RMSNorm on q and k, RoPE), with
    q/k/v and gate/up each as one product; graph nodes read `/layers.N/qkv_proj/MatMul`,
    `/layers.N/down_proj/MatMul`, ..."""

    def __init__(self, layer: Any, heads: int, kv_heads: int, head_dim: int) -> None:
        super().__init__()
        a, mlp = layer.self_attn, layer.mlp
        self.heads, self.kv_heads, self.head_dim, self.scale = heads, kv_heads, head_dim, a.scaling
        self.rep = heads // kv_heads  # query heads per KV head
        self.attn_norm, self.mlp_norm = layer.input_layernorm, layer.post_attention_layernorm
        self.qkv_proj, self.o_proj = _fused(a.q_proj, a.k_proj, a.v_proj), a.o_proj
        self.q_norm, self.k_norm = a.q_norm, a.k_norm
        self.gate_up_proj, self.down_proj, self.act = _fused(mlp.gate_proj, mlp.up_proj), mlp.down_proj, mlp.act_fn
        self.inter = mlp.gate_proj.out_features

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        bias: torch.Tensor,
        past_k: torch.Tensor,
        past_v: torch.Tensor,
        dims: tuple[Any, ...],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # batch, new tokens and cache slots come from the graph inputs, not from this layer's
        # tensors: every layer's reshapes then share one shape computation (ONNX Runtime merges
        # the identical nodes), instead of each layer reading its own shapes (~1,000 nodes at 0.6B)
        b, n = dims[0], dims[1]
        heads, kv_heads, d = self.heads, self.kv_heads, self.head_dim
        q, k, v = self.qkv_proj(self.attn_norm(x)).split([heads * d, kv_heads * d, kv_heads * d], dim=-1)
        q, k = self.q_norm(q.view(b, n, heads, d)), self.k_norm(k.view(b, n, kv_heads, d))
        if len(dims) == 6:  # the ONNX Runtime graph: its own rotary and attention nodes, tokens first
            rows = dims[4]  # token (b, s) is row b * n + s of this call's cos/sin tables
            q = OrtRotaryEmbedding.apply(q.reshape(b, n, heads * d), rows, cos, sin, heads)
            k = OrtRotaryEmbedding.apply(k.reshape(b, n, kv_heads * d), rows, cos, sin, kv_heads)
            out, k, v = OrtGroupQueryAttention.apply(
                q, k, v, past_k, past_v, dims[2], dims[3], bias, dims[5], heads, kv_heads, self.scale
            )
        else:
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.view(b, n, kv_heads, d).transpose(1, 2)
            q, k = (t * cos + rotate_half(t, d) * sin for t in (q, k))
            # Grouped-query attention without copying K/V per query head: the `rep` query heads
            # that share a KV head are stacked along the query axis instead (q is laid out as
            # (kv_heads, rep, n) and viewed as (kv_heads, rep * n)); the graph tiles the mask to match.
            rep = self.rep
            out = attend_cached(q.reshape(b, kv_heads, rep * n, d), k, v, past_k, past_v, bias, self.scale, dims[2])
            out = out.view(b, kv_heads, rep, n, d).permute(0, 3, 1, 2, 4).reshape(b, n, heads * d)  # head kv * rep + r
        x = x + self.o_proj(out)
        gate, up = self.gate_up_proj(self.mlp_norm(x)).split([self.inter, self.inter], dim=-1)
        x = x + self.down_proj(self.act(gate) * up)
        return x, k, v


class DecoderGraph(nn.Module):
    """Qwen3 text decoder step with audio embeddings spliced at the audio-token positions.
    `in_place`: the ONNX Runtime form, whose attention nodes write the new keys and values into
    the cache buffer bound as both input and output (`present_*` outputs, no copies), and whose
    mask covers only the filled slots."""

    def __init__(self, model: Any, in_place: bool = False) -> None:
        super().__init__()
        lm = model.model.language_model
        cfg = lm.config
        head_dim = getattr(cfg, "head_dim", cfg.hidden_size // cfg.num_attention_heads)
        self.layers = nn.ModuleList(
            DecoderLayer(layer, cfg.num_attention_heads, cfg.num_key_value_heads, head_dim) for layer in lm.layers
        )
        self.embed, self.norm, self.lm_head = lm.embed_tokens, lm.norm, model.lm_head
        self.register_buffer("inv_freq", lm.rotary_emb.inv_freq.detach().clone(), persistent=False)
        self.rope_scale = float(lm.rotary_emb.attention_scaling)
        self.audio_token = model.config.audio_token_id
        self.in_place = in_place

    def forward(
        self,
        input_ids: torch.Tensor,
        audio_embeds: torch.Tensor,
        position_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        *past: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        b, n = input_ids.shape
        slots = past[0].shape[2]
        x = self.embed(input_ids)
        # Audio splice: the k-th audio token of a row takes that row's k-th audio embedding. A
        # zero row is appended so the gather stays in range when a step carries no audio.
        is_audio = input_ids == self.audio_token
        idx = (torch.cumsum(is_audio.to(torch.int64), dim=1) - 1).clamp(min=0)
        pool = torch.cat([audio_embeds, torch.zeros(b, 1, x.shape[-1], dtype=x.dtype)], dim=1)
        spliced = torch.gather(pool, 1, idx.unsqueeze(-1).expand(b, n, x.shape[-1]))
        x = torch.where(is_audio.unsqueeze(-1), spliced, x)
        # 1-D RoPE (the three M-RoPE rows are identical for speech-only input)
        freqs = position_ids.unsqueeze(-1).float() * self.inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos() * self.rope_scale, emb.sin() * self.rope_scale
        if self.in_place:
            # the mask covers the filled slots and the new tokens: `total` slots after this call,
            # the same count for every row (left padding is masked by the bias, not by lengths)
            total = attention_mask.shape[1]
            seqlens = (torch.ones_like(attention_mask[:, 0]) * (total - 1)).to(torch.int32)
            bias = causal_bias(attention_mask, total - n, n)
            rows = torch.arange(b * n).view(b, n)
            dims: tuple[Any, ...] = (b, n, seqlens, seqlens[0] + 1, rows, torch.ones_like(seqlens) * n)
            half = self.inv_freq.shape[0]
            cos, sin = (t[..., :half].reshape(b * n, half) for t in (cos, sin))  # the rotary node's tables
        else:
            bias = causal_bias(attention_mask, slots, n)
            bias = bias.repeat(1, 1, self.layers[0].rep, 1)  # once for every layer: queries stacked per KV head
            dims = (b, n, slots)
            cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        new = []
        for i, layer in enumerate(self.layers):
            x, k, v = layer(x, cos, sin, bias, past[2 * i], past[2 * i + 1], dims)
            new += [k, v]
        logits = nn.functional.linear(self.norm(x[:, -1]), self.lm_head.weight)
        return (logits, *new)


def load_pretrained(spec: str, kind: str) -> LoadedModel:
    """A transformers-format Qwen3-ASR checkpoint (local directory or hub id)."""
    from transformers import Qwen3ASRForConditionalGeneration, Qwen3ASRProcessor

    if kind == "transformers-dir":
        from edgeasr.export.random_model import check_dir

        check_dir(Path(spec))
    try:
        model = Qwen3ASRForConditionalGeneration.from_pretrained(spec, dtype=torch.float32)
        processor = Qwen3ASRProcessor.from_pretrained(spec)
    except OSError as exc:
        raise EdgeASRError(f"--model {spec}: cannot load ({str(exc).splitlines()[0]})") from None
    name = spec.rstrip("/").split("/")[-1]
    tok_json = processor.tokenizer.backend_tokenizer.to_str()
    return LoadedModel("qwen3_asr", model.eval(), tok_json, spec, kind, name, extra={"processor": processor})


def prepare(loaded: LoadedModel) -> None:
    loaded.model.config._attn_implementation = "eager"
    loaded.model.eval()


def graphs(loaded: LoadedModel, batch: int = 2) -> list[GraphSpec]:
    """Encoder and decoder graphs with example inputs of the right shapes."""
    cfg = loaded.model.config
    acfg, tcfg = cfg.audio_config, cfg.text_config
    geo = window_geometry(acfg)
    mel = torch.randn(3, acfg.num_mel_bins, geo["chunk_frames"] * geo["window_chunks"])
    n_valid = torch.tensor([104, 104, 40], dtype=torch.int64)
    enc = EncoderGraph(loaded.model)
    head_dim = getattr(tcfg, "head_dim", tcfg.hidden_size // tcfg.num_attention_heads)
    text_id = 0 if cfg.audio_token_id else 1  # any text id inside the vocabulary (tracing only)
    ids = torch.tensor([[text_id, cfg.audio_token_id, cfg.audio_token_id, text_id]] * batch)
    audio = torch.randn(batch, 2, tcfg.hidden_size)
    pos = torch.arange(4).repeat(batch, 1) + 3
    mask = torch.ones(batch, 7, dtype=torch.int64)
    layers, kv = tcfg.num_hidden_layers, tcfg.num_key_value_heads
    past = [torch.randn(batch, kv, 3, head_dim) for _ in range(2 * layers)]
    buffers = [torch.randn(batch, kv, 8, head_dim) for _ in range(2 * layers)]  # 3 filled + 4 new + 1 spare
    return [
        GraphSpec("encoder", enc, (mel, n_valid), **ENCODER_IO),
        GraphSpec("decoder", DecoderGraph(loaded.model), (ids, audio, pos, mask, *past), **decoder_io(layers)),
        GraphSpec(
            "decoder",
            DecoderGraph(loaded.model, in_place=True),
            (ids, audio, pos, mask, *buffers),
            **decoder_io(layers, in_place=True),
            backend="onnxruntime",
            cache="in_place",
        ),
    ]


def _ids(loaded: LoadedModel, text: str) -> list[int]:
    return loaded.extra["processor"].tokenizer.encode(text, add_special_tokens=False)


def manifest_facts(loaded: LoadedModel) -> dict[str, Any]:
    """Features, dims and the prompt as token ids, read off the processor's own chat template
    (rendered here at export time, so the runtime needs no Jinja)."""
    from transformers.models.qwen3_asr.processing_qwen3_asr import LANGUAGE_CODE_TO_NAME

    proc = loaded.extra["processor"]
    cfg = loaded.model.config
    acfg, tcfg = cfg.audio_config, cfg.text_config
    marker = "\u2063CONTEXT\u2063"
    rendered = proc.apply_transcription_request([0.0] * 16000, prompt=marker, tokenize=False)[0]
    head, rest = rendered.split(marker)
    mid, tail = rest.split(proc.audio_token)
    gen = loaded.model.generation_config
    eos = gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id]
    fe = proc.feature_extractor
    return {
        "features": {
            "kind": "qwen3_asr_log_mel",
            "sample_rate": fe.sampling_rate,
            "n_fft": fe.n_fft,
            "hop_length": fe.hop_length,
            "n_mels": fe.feature_size,
            "min_samples": fe.min_length,
            **window_geometry(acfg),
            "trimmed_windows": True,  # the encoder graph takes fewer than window_chunks chunks
        },
        "decoder": {
            "layers": tcfg.num_hidden_layers,
            "heads": tcfg.num_key_value_heads,
            "query_heads": tcfg.num_attention_heads,
            "head_dim": getattr(tcfg, "head_dim", tcfg.hidden_size // tcfg.num_attention_heads),
            "hidden": tcfg.hidden_size,
            "vocab_size": tcfg.vocab_size,
            "max_positions": tcfg.max_position_embeddings,
            "kv_layout": KV_LAYOUT,
        },
        "tokens": {
            "audio": cfg.audio_token_id,
            "eos": eos,
            "pad": gen.pad_token_id,
            "asr_text": proc.tokenizer.convert_tokens_to_ids("<asr_text>"),
            "prompt": {
                "before_context": _ids(loaded, head),
                "after_context": _ids(loaded, mid),
                "after_audio": _ids(loaded, tail),
            },
            "languages": {
                code: {"name": name, "ids": _ids(loaded, f"language {name}<asr_text>")}
                for code, name in LANGUAGE_CODE_TO_NAME.items()
            },
        },
        "model": {
            "audio_layers": acfg.encoder_layers,
            "audio_d_model": acfg.d_model,
            "text_hidden": tcfg.hidden_size,
            "parameters": sum(p.numel() for p in loaded.model.parameters()),
        },
    }


def reference_inputs(loaded: LoadedModel, audio: Any, language: str | None, context: str | None) -> Any:
    """The processor's own inputs for one clip (token ids, features, masks)."""
    proc = loaded.extra["processor"]
    return proc.apply_transcription_request(audio, language=language, prompt=context, return_tensors="pt")


def reference_run(
    loaded: LoadedModel,
    audio: Any,
    prompt: list[int],
    language: str | None,
    context: str | None,
    max_new_tokens: int,
) -> dict[str, Any]:
    """transformers' own pipeline for one clip: the processor's prompt and features, the audio
    embeddings, greedy tokens from `generate`, and teacher-forced logits."""
    inputs = reference_inputs(loaded, audio, language, context)
    m = loaded.model
    ref_prompt = inputs["input_ids"][0].tolist()
    eos = set(m.generation_config.eos_token_id)
    with torch.no_grad():
        embeds = m.get_audio_features(inputs["input_features"], inputs["input_features_mask"]).pooler_output
        out = m.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)[0].tolist()
        tokens = out[len(ref_prompt) :]
        tokens = tokens[: next((i for i, t in enumerate(tokens) if t in eos), len(tokens))]
        full = torch.tensor([ref_prompt + tokens])
        logits = m(
            input_ids=full,
            input_features=inputs["input_features"],
            input_features_mask=inputs["input_features_mask"],
            attention_mask=torch.ones_like(full),
        ).logits[0, len(ref_prompt) - 1 :]
    return {"encoded": embeds.numpy(), "tokens": tokens, "logits": logits.numpy(), "prompt": ref_prompt}
