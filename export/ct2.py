"""Import a CTranslate2 (faster-whisper) Whisper model into transformers'
WhisperForConditionalGeneration, so converted checkpoints become an offline source of real
weights. The binary layout is documented in CTranslate2's `models/model.cc` (version 6)."""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeasr.runtime.errors import EdgeASRError

# CTranslate2 dtype ids -> numpy
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
_BF16 = 5


@dataclass
class CT2Source:
    """A CTranslate2 model: its model.bin (possibly split in parts), config and tokenizer."""

    parts: list[Path]
    config: Path
    tokenizer: Path
    name: str

    @classmethod
    def from_dir(cls, path: Path, name: str | None = None) -> CT2Source:
        """A directory with model.bin (or model.bin.part1, .part2, ...), config.json, tokenizer.json."""
        if (path / "model.bin").is_file():
            parts = [path / "model.bin"]
        else:
            parts = sorted(path.glob("model.bin.part*"), key=lambda p: int(p.suffix[5:] or 0))
        missing = [n for n in ("config.json", "tokenizer.json") if not (path / n).is_file()]
        if not parts or missing:
            raise EdgeASRError(
                f"{path}: a CTranslate2 model directory needs model.bin, config.json and tokenizer.json"
                + (f" (missing: {', '.join(missing) or 'model.bin'})")
            )
        return cls(parts, path / "config.json", path / "tokenizer.json", name or path.name)


class _Concat(io.RawIOBase):
    """Reads several files as one stream (a model.bin split into parts, never joined on disk)."""

    def __init__(self, paths: list[Path]) -> None:
        self._files = [open(p, "rb") for p in paths]
        self._i = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        while self._i < len(self._files):
            n = self._files[self._i].readinto(buf)
            if n:
                return n
            self._i += 1
        return 0

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


def _read_exact(f: io.BufferedReader, n: int) -> bytes:
    b = f.read(n)
    if len(b) != n:
        raise EdgeASRError("CTranslate2 model.bin is truncated")
    return b


def read_ct2(parts: list[Path]) -> tuple[str, dict[str, np.ndarray]]:
    """Parse model.bin into (spec name, {variable name: array}); aliases resolved."""
    f = io.BufferedReader(_Concat(parts), buffer_size=1 << 20)

    def u32() -> int:
        return struct.unpack("<I", _read_exact(f, 4))[0]

    def string() -> str:
        (n,) = struct.unpack("<H", _read_exact(f, 2))
        return _read_exact(f, n)[:-1].decode("utf-8")  # length counts the trailing NUL

    try:
        version = u32()
        if version < 5 or version > 6:
            raise EdgeASRError(f"CTranslate2 binary version {version} is not supported (5 or 6 expected)")
        spec = string()
        u32()  # spec revision
        variables: dict[str, np.ndarray] = {}
        for _ in range(u32()):
            name = string()
            rank = _read_exact(f, 1)[0]
            dims = [u32() for _ in range(rank)]
            dtype = _read_exact(f, 1)[0]
            nbytes = u32()
            raw = _read_exact(f, nbytes)
            if dtype == _BF16:  # widen bfloat16 to float32 by shifting into the high half
                arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
            elif dtype in _DTYPES:
                arr = np.frombuffer(raw, _DTYPES[dtype])
            else:
                raise EdgeASRError(f"CTranslate2 variable {name}: unknown dtype id {dtype}")
            variables[name] = arr.reshape(dims)
        for _ in range(u32()):
            alias, target = string(), string()
            variables[alias] = variables[target]
    finally:
        f.close()
    return spec, variables


def _iter_layers(v: dict[str, np.ndarray], prefix: str) -> Iterator[int]:
    i = 0
    while f"{prefix}/layer_{i}/ffn/linear_0/weight" in v:
        yield i
        i += 1


def whisper_state_dict(v: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Map CTranslate2 Whisper variables to transformers names; returns (state dict, dims)."""
    if any(k.endswith("weight_scale") for k in v):
        raise EdgeASRError("quantized (int8) CTranslate2 models are not supported; use a float16/float32 one")
    sd: dict[str, np.ndarray] = {}

    def linear(dst: str, src: str, bias: bool = True) -> None:
        sd[f"{dst}.weight"] = v[f"{src}/weight"]
        if bias:
            sd[f"{dst}.bias"] = v[f"{src}/bias"]

    def norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = v[f"{src}/gamma"], v[f"{src}/beta"]

    def split_qkv(dst: str, src: str, names: tuple[str, ...]) -> None:
        # fused projections: rows stacked as q|k|v (self-attention) or k|v (cross-attention)
        ws = np.split(v[f"{src}/weight"], len(names))
        bs = np.split(v[f"{src}/bias"], len(names))
        for n, w, b in zip(names, ws, bs):
            sd[f"{dst}.{n}.weight"] = w
            if n != "k_proj":  # Whisper's key projections have no bias (stored as zeros)
                sd[f"{dst}.{n}.bias"] = b

    e, d = "model.encoder", "model.decoder"
    for c in ("conv1", "conv2"):
        linear(f"{e}.{c}", f"encoder/{c}")
    sd[f"{e}.embed_positions.weight"] = v["encoder/position_encodings/encodings"]
    enc_layers = list(_iter_layers(v, "encoder"))
    for i in enc_layers:
        s, t = f"encoder/layer_{i}", f"{e}.layers.{i}"
        split_qkv(f"{t}.self_attn", f"{s}/self_attention/linear_0", ("q_proj", "k_proj", "v_proj"))
        linear(f"{t}.self_attn.out_proj", f"{s}/self_attention/linear_1")
        norm(f"{t}.self_attn_layer_norm", f"{s}/self_attention/layer_norm")
        linear(f"{t}.fc1", f"{s}/ffn/linear_0")
        linear(f"{t}.fc2", f"{s}/ffn/linear_1")
        norm(f"{t}.final_layer_norm", f"{s}/ffn/layer_norm")
    norm(f"{e}.layer_norm", "encoder/layer_norm")

    sd[f"{d}.embed_tokens.weight"] = v["decoder/embeddings/weight"]
    sd[f"{d}.embed_positions.weight"] = v["decoder/position_encodings/encodings"]
    dec_layers = list(_iter_layers(v, "decoder"))
    for i in dec_layers:
        s, t = f"decoder/layer_{i}", f"{d}.layers.{i}"
        split_qkv(f"{t}.self_attn", f"{s}/self_attention/linear_0", ("q_proj", "k_proj", "v_proj"))
        linear(f"{t}.self_attn.out_proj", f"{s}/self_attention/linear_1")
        norm(f"{t}.self_attn_layer_norm", f"{s}/self_attention/layer_norm")
        linear(f"{t}.encoder_attn.q_proj", f"{s}/attention/linear_0")
        split_qkv(f"{t}.encoder_attn", f"{s}/attention/linear_1", ("k_proj", "v_proj"))
        linear(f"{t}.encoder_attn.out_proj", f"{s}/attention/linear_2")
        norm(f"{t}.encoder_attn_layer_norm", f"{s}/attention/layer_norm")
        linear(f"{t}.fc1", f"{s}/ffn/linear_0")
        linear(f"{t}.fc2", f"{s}/ffn/linear_1")
        norm(f"{t}.final_layer_norm", f"{s}/ffn/layer_norm")
    norm(f"{d}.layer_norm", "decoder/layer_norm")
    sd["proj_out.weight"] = v["decoder/embeddings/weight"]

    emb = v["decoder/embeddings/weight"]
    dims = {
        "vocab_size": emb.shape[0],
        "d_model": emb.shape[1],
        "num_mel_bins": v["encoder/conv1/weight"].shape[1],
        "encoder_layers": len(enc_layers),
        "decoder_layers": len(dec_layers),
        "encoder_attention_heads": int(v["encoder/num_heads"]),
        "decoder_attention_heads": int(v["decoder/num_heads"]),
        "encoder_ffn_dim": v["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        "decoder_ffn_dim": v["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        "max_source_positions": v["encoder/position_encodings/encodings"].shape[0],
        "max_target_positions": v["decoder/position_encodings/encodings"].shape[0],
    }
    return sd, dims


def special_tokens(tokenizer_json: Path) -> dict[str, int]:
    """Whisper's special tokens by their text, read from tokenizer.json's added tokens."""
    data = json.loads(tokenizer_json.read_text())
    return {t["content"]: t["id"] for t in data.get("added_tokens", [])}


def load_ct2_whisper(src: CT2Source):  # noqa: ANN201 - returns a transformers model
    """Build a float32 WhisperForConditionalGeneration with the CTranslate2 weights and a
    generation config equivalent to faster-whisper's greedy settings."""
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

    spec, variables = read_ct2(src.parts)
    if spec != "WhisperSpec":
        raise EdgeASRError(f"{src.parts[0]}: a {spec} model, not Whisper")
    sd, dims = whisper_state_dict(variables)
    ct2_cfg = json.loads(src.config.read_text())
    toks = special_tokens(src.tokenizer)
    eot = toks["<|endoftext|>"]
    multilingual = dims["vocab_size"] >= 51865
    cfg = WhisperConfig(
        **dims,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=toks["<|startoftranscript|>"],
        suppress_tokens=ct2_cfg.get("suppress_ids", []),
        begin_suppress_tokens=ct2_cfg.get("suppress_ids_begin", []),
        tie_word_embeddings=True,
    )
    model = WhisperForConditionalGeneration(cfg)
    state = {k: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for k, a in sd.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if k != "proj_out.weight"]:
        raise EdgeASRError(f"CTranslate2 import: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    # English-only checkpoints carry no language/task maps: transformers' generate would
    # otherwise try to detect a language (as openai/whisper-*.en's own configs avoid too).
    lang_task = (
        {
            "lang_to_id": {k: i for k, i in toks.items() if _is_language_token(k)},
            "task_to_id": {"transcribe": toks["<|transcribe|>"], "translate": toks["<|translate|>"]},
        }
        if multilingual
        else {}
    )
    model.generation_config = GenerationConfig(
        decoder_start_token_id=cfg.decoder_start_token_id,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        max_length=dims["max_target_positions"],
        suppress_tokens=cfg.suppress_tokens,
        begin_suppress_tokens=cfg.begin_suppress_tokens,
        no_timestamps_token_id=toks["<|notimestamps|>"],
        is_multilingual=multilingual,
        **lang_task,
        alignment_heads=ct2_cfg.get("alignment_heads"),
    )
    return model.eval()


def _is_language_token(tok: str) -> bool:
    """`<|en|>`, `<|haw|>`, `<|yue|>`: two or three lowercase letters between <| and |>."""
    inner = tok[2:-2]
    return tok.startswith("<|") and tok.endswith("|>") and 2 <= len(inner) <= 3 and inner.isalpha()


def save_transformers(model: object, tokenizer_json: str, out: Path) -> Path:
    """Write an imported model as a transformers checkpoint directory (weights, configs,
    tokenizer, feature extractor), loadable with from_pretrained."""
    from transformers import PreTrainedTokenizerFast, WhisperFeatureExtractor

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)  # type: ignore[attr-defined]
    (out / "tokenizer.json").write_text(tokenizer_json)
    eot = "<|endoftext|>"
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(out / "tokenizer.json"), eos_token=eot, pad_token=eot, bos_token=eot
    )
    tok.save_pretrained(out)
    WhisperFeatureExtractor(feature_size=model.config.num_mel_bins).save_pretrained(out)  # type: ignore[attr-defined]
    return out
