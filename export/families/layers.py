"""Torch building blocks shared by the export wrappers: plain ops only, so the traced ONNX
graph is ordinary MatMul/Softmax that every backend and quantizer understands."""

from __future__ import annotations

import torch

MASK_VALUE = -65504.0  # the most negative float16: stays finite if a graph is cast to fp16


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, H*D) -> (B, H, T, D)."""
    b, t, d = x.shape
    return x.view(b, t, heads, d // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, T, D) -> (B, T, H*D)."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None, scale: float = 1.0
) -> torch.Tensor:
    """Softmax attention (B, H, Tq, D) x (B, H, Tk, D) -> (B, Tq, H*D); `bias` is additive."""
    w = q @ k.transpose(-1, -2)
    if scale != 1.0:
        w = w * scale
    if bias is not None:
        w = w + bias
    return merge_heads(torch.softmax(w, dim=-1) @ v)


def attend_cached(
    q: torch.Tensor,
    k_new: torch.Tensor,
    v_new: torch.Tensor,
    past_k: torch.Tensor,
    past_v: torch.Tensor,
    bias: torch.Tensor,
    scale: float = 1.0,
    slots: torch.Tensor | int | None = None,
) -> torch.Tensor:
    """Attention over a layer's cache slots (B, H, C, D) and the new tokens (B, H, n, D) without
    concatenating them: scores against each part, one softmax over both, the two weighted sums
    added. A Concat would copy the whole cache once per layer per step (0.6B Qwen3-ASR, 800 cached
    tokens: the cache's copies took 40 of a 67 ms step). `slots` (C) may be given once for every
    layer so the graph does not read each layer's cache shape. Returns (B, H, Tq, D)."""
    c = past_k.shape[2] if slots is None else slots
    w = torch.cat([q @ past_k.transpose(-1, -2), q @ k_new.transpose(-1, -2)], dim=-1)
    if scale != 1.0:
        w = w * scale
    p = torch.softmax(w + bias, dim=-1)
    return p[..., :c] @ past_v + p[..., c:] @ v_new


def causal_bias(attention_mask: torch.Tensor, past: torch.Tensor | int, n: int) -> torch.Tensor:
    """Additive (B, 1, n, past+n) mask: causal, padding keys masked, and every query always
    sees itself, so a left-padded row never has an empty softmax."""
    q_pos = torch.arange(n).unsqueeze(1) + past
    k_pos = torch.arange(attention_mask.shape[1]).unsqueeze(0)
    keep = (k_pos <= q_pos).unsqueeze(0) & attention_mask.bool().unsqueeze(1)
    keep = keep | (k_pos == q_pos).unsqueeze(0)
    return torch.where(keep, 0.0, MASK_VALUE).unsqueeze(1)


def cache_io(layers: int, heads: str, prefix: str = "past", slots: str = "slots") -> dict[str, tuple[str | int, ...]]:
    """Per-layer cache tensors `past_key.N` / `past_value.N`, each (batch, heads, slots, head_dim):
    the runtime's (layers, 2, batch, heads, slots, head_dim) buffer sliced on its leading axes,
    so every input is a contiguous view handed over without a copy. With prefix "new" and
    slots "tokens": the outputs, each layer's new keys and values as the layer computed them
    (stacking them into one output would copy them twice: 370 MB for a 60 s clip's prefill at 0.6B)."""
    axes = ("batch", heads, slots, "head_dim")
    return {f"{prefix}_{kv}.{i}": axes for i in range(layers) for kv in ("key", "value")}


class OrtGroupQueryAttention(torch.autograd.Function):
    """ONNX Runtime's `com.microsoft.GroupQueryAttention` as one graph node: grouped-query
    attention that writes the new keys and values into the cache buffer it is given (bound as
    both `past_*` input and `present_*` output) at slots [total - n, total) and attends over the
    first `total` slots. `bias` (B, 1, n, total) masks left padding; the op adds the causal mask.
    The forward below is the same computation in torch, so the wrapper runs in PyTorch too; the
    exported graph has only the node (ONNX Runtime only: OpenVINO gets the plain graph)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: object,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        past_k: torch.Tensor,
        past_v: torch.Tensor,
        seqlens_k: torch.Tensor,
        total: torch.Tensor,
        bias: torch.Tensor,
        query_lens: torch.Tensor,
        heads: int,
        kv_heads: int,
        scale: float,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, _ = q.shape
        d, t = past_k.shape[3], bias.shape[-1]  # bias spans the `total` slots
        present = []
        for past, new in ((past_k, k), (past_v, v)):
            buf = past.clone()
            buf[:, :, t - n : t] = new.view(b, n, kv_heads, d).transpose(1, 2)
            present.append(buf)
        keys, values = (p[:, :, :t].repeat_interleave(heads // kv_heads, dim=1) for p in present)
        causal = torch.ones(n, t, dtype=torch.bool).tril(t - n)
        w = (q.view(b, n, heads, d).transpose(1, 2) @ keys.transpose(-1, -2)) * scale + bias
        w = w.masked_fill(~causal, float("-inf"))
        return merge_heads(torch.softmax(w, dim=-1) @ values), present[0], present[1]

    @staticmethod
    def symbolic(g, q, k, v, past_k, past_v, seqlens_k, total, bias, query_lens, heads, kv_heads, scale):  # noqa: ANN001
        none = g.op("prim::Constant").setType(torch._C.NoneType.get())  # an omitted optional input
        # inputs in the op's order: ..., cos_cache, sin_cache, position_ids, attention_bias,
        # head_sink, k_scale, v_scale, q_norm_weight, k_norm_weight, query_seqlens
        inputs = (q, k, v, past_k, past_v, seqlens_k, total, none, none, none, bias, *[none] * 5, query_lens)
        return g.op(
            "com.microsoft::GroupQueryAttention",
            *inputs,
            num_heads_i=heads,
            kv_num_heads_i=kv_heads,
            scale_f=scale,
            outputs=3,
        )


def rotate_half(x: torch.Tensor, head_dim: int) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) over the last axis: the non-interleaved rotary form."""
    half = head_dim // 2  # a constant: x.shape[-1] would be traced as a shape computation
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class OrtRotaryEmbedding(torch.autograd.Function):
    """ONNX Runtime's `com.microsoft.RotaryEmbedding` (non-interleaved) as one node, on
    (B, n, heads * head_dim): token (b, s) is rotated by row `rows[b, s]` of the cos/sin tables
    (rows, head_dim / 2). One node in place of the ~7 that rotate-half takes."""

    @staticmethod
    def forward(
        ctx: object, x: torch.Tensor, rows: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, heads: int
    ) -> torch.Tensor:  # type: ignore[override]
        b, n, width = x.shape
        d = width // heads
        c, s = (torch.cat((t[rows], t[rows]), dim=-1).unsqueeze(2) for t in (cos, sin))
        xh = x.view(b, n, heads, d)
        return (xh * c + rotate_half(xh, d) * s).reshape(b, n, width)

    @staticmethod
    def symbolic(g, x, rows, cos, sin, heads):  # noqa: ANN001
        return g.op("com.microsoft::RotaryEmbedding", x, rows, cos, sin, num_heads_i=heads, interleaved_i=0)
