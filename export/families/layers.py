"""Torch building blocks shared by the export wrappers: plain ops only, so the traced ONNX
graph is ordinary MatMul/Softmax that every backend and quantizer understands."""

from __future__ import annotations

import torch

MASK_VALUE = -65504.0  # the most negative float16: stays finite if a graph is cast to fp16


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, H*D) -> (B, H, T, D)."""
    b, t, d = x.shape
    return x.view(b, t, heads, d // heads).transpose(1, 2)


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None, scale: float = 1.0
) -> torch.Tensor:
    """Softmax attention (B, H, Tq, D) x (B, H, Tk, D) -> (B, Tq, H*D); `bias` is additive."""
    w = q @ k.transpose(-1, -2)
    if scale != 1.0:
        w = w * scale
    if bias is not None:
        w = w + bias
    out = torch.softmax(w, dim=-1) @ v
    b, h, t, d = out.shape
    return out.transpose(1, 2).reshape(b, t, h * d)


def causal_bias(attention_mask: torch.Tensor, past: torch.Tensor | int, n: int) -> torch.Tensor:
    """Additive (B, 1, n, past+n) mask: causal, padding keys masked, and every query always
    sees itself, so a left-padded row never has an empty softmax."""
    q_pos = torch.arange(n).unsqueeze(1) + past
    k_pos = torch.arange(attention_mask.shape[1]).unsqueeze(0)
    keep = (k_pos <= q_pos).unsqueeze(0) & attention_mask.bool().unsqueeze(1)
    keep = keep | (k_pos == q_pos).unsqueeze(0)
    return torch.where(keep, 0.0, MASK_VALUE).unsqueeze(1)


def past_heads(past_kv: torch.Tensor, layer: int, kv: int) -> torch.Tensor:
    """Layer `layer`'s keys (kv=0) or values (kv=1) from the time-major cache
    (T, layers, 2, B, H, D), as (B, H, T, D)."""
    return past_kv[:, layer, kv].permute(1, 2, 0, 3)


def time_major(new: list[torch.Tensor]) -> torch.Tensor:
    """Per-layer stacks (2, B, H, n, D) -> the cache's time-major (n, layers, 2, B, H, D)."""
    return torch.stack(new).permute(4, 0, 1, 2, 3, 5)
