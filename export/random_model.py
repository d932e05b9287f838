"""Random-weight Qwen3-ASR checkpoints in transformers format (`edgeasr random-model`).

A directory written here loads offline with `Qwen3ASRForConditionalGeneration.from_pretrained(DIR)`
and `Qwen3ASRProcessor.from_pretrained(DIR)`: config.json, model.safetensors, generation_config.json,
the real Qwen tokenizer (see qwen_tokenizer.py), the feature extractor settings and the chat template.
Sizes `0.6b` and `1.7b` have the released models' shapes; `tiny` is a small model for parity tests
that keeps the real tokenizer, the real special-token ids and the real chunking (100-frame conv
chunks, 8 s attention windows). Weights come from the model's own `_init_weights` under a fixed seed
(tiny at a larger scale, so that its outputs depend on the window mask and on the audio).
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from edgeasr.export import qwen_tokenizer as qt
from edgeasr.runtime.errors import EdgeASRError

SIZES = ("tiny", "0.6b", "1.7b")
DTYPES = ("float32", "bfloat16", "float16")
MARKER = "edgeasr_random_model.json"  # provenance note written beside the weights

# Shared by every size: transformers Qwen3ASREncoderConfig defaults and docstring (n_window 50 =
# half a 100-mel-frame conv chunk, n_window_infer 800 = 8 s attention windows, num_mel_bins 128,
# gelu) and transformers convert_qwen3_asr_to_hf.py (max_position_embeddings 13: post-CNN positions
# per chunk, replacing the original checkpoint's max_source_positions 1500). Cross-checked with
# public Qwen3-ASR-0.6B/1.7B config.json excerpts (n_window 50, n_window_infer 800, num_mel_bins 128,
# downsample_hidden_size 480, scale_embedding false).
_AUDIO_COMMON: dict[str, Any] = {
    "num_mel_bins": 128,
    "n_window": 50,
    "n_window_infer": 800,
    "max_position_embeddings": 13,
    "activation_function": "gelu",
    "scale_embedding": False,
    "dropout": 0.0,
    "attention_dropout": 0.0,
    "activation_dropout": 0.0,
}

# Shared text-decoder settings: Qwen3-0.6B / Qwen3-1.7B config.json (rope_theta 1,000,000, rms_norm_eps
# 1e-6, silu, no attention bias, no sliding window, vocab 151,936, tied embeddings, bos 151643,
# eos 151645). max_position_embeddings 65536: transformers Qwen3ASRConfig text_config default
# (Qwen3-0.6B itself says 40960; the published Qwen3-ASR value could not be read here, unconfirmed).
# rope_parameters: the original checkpoints carry an M-RoPE section [24, 20, 20] (sums to
# head_dim/2 = 64; public Qwen3-ASR metadata), but with identical position rows it is plain 1-D RoPE
# and transformers' converter strips it, so the -hf layout has only rope_type/rope_theta.
# tie_word_embeddings: shared/README.md, Qwen3ASRConfig default and Qwen3-0.6B/1.7B. Unconfirmed:
# the original checkpoints seem to hold a separate lm_head tensor too (a third-party count of
# 938 M for 0.6B and the 4.7 GB bf16 1.7B repo match an untied head; tied gives 782 M / 2.04 B).
_TEXT_COMMON: dict[str, Any] = {
    "vocab_size": 151_936,
    "head_dim": 128,
    "hidden_act": "silu",
    "max_position_embeddings": 65_536,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0},
    "attention_bias": False,
    "attention_dropout": 0.0,
    "use_sliding_window": False,
    "tie_word_embeddings": True,
    "bos_token_id": 151_643,
    "eos_token_id": 151_645,
    "initializer_range": 0.02,
}

SHAPES: dict[str, dict[str, dict[str, Any]]] = {
    "0.6b": {
        # Qwen3-ASR-0.6B config.json thinker_config.audio_config (shared/README.md; public 0.6B
        # config excerpts and ports agree): d_model 896, 18 layers, 14 heads, FFN 3584, output 1024,
        # conv stem width (downsample_hidden_size) 480.
        "audio": {
            "d_model": 896,
            "encoder_layers": 18,
            "encoder_attention_heads": 14,
            "encoder_ffn_dim": 3584,
            "output_dim": 1024,  # = text hidden_size: the projector feeds the decoder's embeddings
            "downsample_hidden_size": 480,
        },
        # Decoder = Qwen3-0.6B (shared/README.md; Qwen3-0.6B config.json): hidden 1024, 28 layers,
        # 16 query / 8 KV heads of 128, MLP 3072.
        "text": {
            "hidden_size": 1024,
            "intermediate_size": 3072,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
        },
    },
    "1.7b": {
        # Qwen3-ASR-1.7B config.json thinker_config.audio_config (shared/README.md; equal to
        # transformers Qwen3ASREncoderConfig defaults): 1024 / 24 layers / 16 heads / FFN 4096,
        # output 2048, conv stem 480.
        "audio": {
            "d_model": 1024,
            "encoder_layers": 24,
            "encoder_attention_heads": 16,
            "encoder_ffn_dim": 4096,
            "output_dim": 2048,
            "downsample_hidden_size": 480,
        },
        # Decoder = Qwen3-1.7B (shared/README.md; transformers Qwen3ASRConfig text_config defaults):
        # hidden 2048, MLP 6144, 28 layers, 16 / 8 heads of 128.
        "text": {
            "hidden_size": 2048,
            "intermediate_size": 6144,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
        },
    },
    # Small, for parity tests. Real chunking and windows (shared settings above), real vocabulary
    # and token ids; GQA (4 query / 2 KV heads); head_dim 32 so the M-RoPE split scaled from
    # [24, 20, 20] would be [6, 5, 5] = head_dim / 2; q width (4 x 32) differs from hidden (64)
    # as in the real decoders (16 x 128 vs 1024).
    # Weight scale: initializer_range 0.3 instead of the released 0.02 (see TINY_EMBED_STD).
    "tiny": {
        "init": 0.3,
        "audio": {
            "d_model": 64,
            "encoder_layers": 2,
            "encoder_attention_heads": 4,
            "encoder_ffn_dim": 128,
            "output_dim": 64,
            "downsample_hidden_size": 32,
        },
        "text": {
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 32,
        },
    },
}

# Top level: transformers Qwen3ASRConfig defaults, equal to Qwen3-ASR's token ids (audio_token_id
# 151676 = <|audio_pad|>, pad 151645, eos (151643, 151645); timestamp_token_id 151705 is only
# used by the forced aligner).
_TOP: dict[str, Any] = {
    "audio_token_id": 151_676,
    "timestamp_token_id": 151_705,
    "pad_token_id": 151_645,
    "eos_token_id": [151_643, 151_645],
    "initializer_range": 0.02,
    "tie_word_embeddings": True,
}

# With the released 0.02 scale a 64-wide random model attends almost uniformly: dropping the 8 s
# window mask moves its encoder output by ~1e-6, below any parity tolerance, and the decoder echoes
# its last input token. At 0.3 the window mask moves it by ~4e-2, the decoder's tokens depend on the
# audio and change from step to step, and activations peak near 75 (finite in fp16). Token
# embeddings (tied LM head) are then redrawn at 0.02 so that they do not dominate the residual.
TINY_EMBED_STD = 0.02


def config_dict(size: str) -> dict[str, Any]:
    """The Qwen3ASRConfig keyword arguments for one size."""
    if size not in SHAPES:
        raise EdgeASRError(f"--size {size}: unknown (choose from {', '.join(SIZES)})")
    shape = SHAPES[size]
    audio = {**_AUDIO_COMMON, **shape["audio"]}
    text = {**copy.deepcopy(_TEXT_COMMON), **shape["text"]}
    top = copy.deepcopy(_TOP)
    if "init" in shape:
        audio["initializer_range"] = text["initializer_range"] = top["initializer_range"] = shape["init"]
    if audio["output_dim"] != text["hidden_size"]:
        raise EdgeASRError(f"size {size}: audio output_dim must equal the decoder hidden_size")
    return {**top, "audio_config": audio, "text_config": text}


def make_config(size: str) -> Any:
    from transformers import Qwen3ASRConfig

    return Qwen3ASRConfig(**config_dict(size))


def make_model(size: str, seed: int = 0, dtype: str | None = None) -> Any:
    """Random model, built directly in `dtype` (so a 1.7B model in bf16 needs ~2 bytes per weight)."""
    import torch
    from transformers import Qwen3ASRForConditionalGeneration

    dtype = dtype or default_dtype(size)
    if dtype not in DTYPES:
        raise EdgeASRError(f"--dtype {dtype}: choose from {', '.join(DTYPES)}")
    torch.manual_seed(seed)
    model = Qwen3ASRForConditionalGeneration._from_config(make_config(size), dtype=getattr(torch, dtype))
    if size == "tiny":
        with torch.no_grad():
            model.get_input_embeddings().weight.normal_(0.0, TINY_EMBED_STD)
    model.eval()
    return model


def default_dtype(size: str) -> str:
    """float32 for tiny (parity tests); bfloat16 for the released sizes, as their checkpoints."""
    return "float32" if size == "tiny" else "bfloat16"


def generation_config() -> Any:
    """As transformers convert_qwen3_asr_to_hf.py writes it for the ASR models."""
    from transformers import GenerationConfig

    return GenerationConfig(eos_token_id=[151_643, 151_645], pad_token_id=151_645, do_sample=False, max_new_tokens=512)


def make_processor() -> Any:
    from transformers import Qwen3ASRFeatureExtractor, Qwen3ASRProcessor

    # Feature extractor defaults = Qwen3-ASR's front end: 128 mel bins, 16 kHz, hop 160, n_fft 400,
    # mel axis padded to 100-frame chunks (n_window 50), clips under 0.5 s zero-padded.
    return Qwen3ASRProcessor(
        feature_extractor=Qwen3ASRFeatureExtractor(),
        tokenizer=qt.load_tokenizer(),
        chat_template=qt.CHAT_TEMPLATE,
    )


def param_counts(model: Any) -> dict[str, int]:
    """Unique parameters: audio encoder, projector, decoder (embeddings included; the tied LM
    head adds none), total."""
    m = model.model

    def count(mod: Any) -> int:
        return sum(p.numel() for p in mod.parameters())

    out = {
        "audio_encoder": count(m.audio_tower),
        "projector": count(m.multi_modal_projector),
        "decoder": count(m.language_model),
        "total": sum(p.numel() for p in model.parameters()),  # parameters() yields tied ones once
    }
    out["lm_head_extra"] = out["total"] - out["audio_encoder"] - out["projector"] - out["decoder"]
    return out


def check_dir(path: Path) -> dict[str, Any]:
    """Refuse anything but a transformers-format Qwen3-ASR checkpoint; return its config.json."""
    path = Path(path)
    if not path.is_dir():
        raise EdgeASRError(f"{path}: not a directory")
    if (path / "model.bin").is_file() or any(path.glob("model.bin.part*")):
        raise EdgeASRError(f"{path}: a CTranslate2 model (model.bin), not a transformers Qwen3-ASR checkpoint")
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise EdgeASRError(f"{path}: no config.json, not a transformers Qwen3-ASR checkpoint")
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EdgeASRError(f"{cfg_path}: cannot read ({exc})") from None
    kind = cfg.get("model_type") if isinstance(cfg, dict) else None
    if kind != "qwen3_asr":
        what = "thinker_config (original qwen-asr layout)" if "thinker_config" in cfg else f"model_type {kind!r}"
        raise EdgeASRError(f"{path}: {what}, expected a transformers Qwen3-ASR checkpoint (model_type 'qwen3_asr')")
    if not ((path / "model.safetensors").is_file() or (path / "model.safetensors.index.json").is_file()):
        raise EdgeASRError(f"{path}: config.json but no model.safetensors weights")
    if not (path / "tokenizer.json").is_file():
        raise EdgeASRError(f"{path}: no tokenizer.json")
    return cfg


def load(path: Path, dtype: str | None = None) -> tuple[Any, Any]:
    """(model, processor) from a checked directory."""
    from transformers import Qwen3ASRForConditionalGeneration, Qwen3ASRProcessor

    check_dir(path)
    kw = {"dtype": dtype} if dtype else {}
    model = Qwen3ASRForConditionalGeneration.from_pretrained(str(path), **kw).eval()
    return model, Qwen3ASRProcessor.from_pretrained(str(path))


def _prepare_out(out: Path, force: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise EdgeASRError(f"--out {out}: exists and is not a directory")
    if not any(out.iterdir()):
        return
    if not force:
        raise EdgeASRError(f"--out {out}: directory is not empty (use --force to replace a Qwen3-ASR checkpoint)")
    check_dir(out)  # --force replaces only what is recognisably a Qwen3-ASR checkpoint
    shutil.rmtree(out)


def _tidy(path: Path) -> None:
    """Drop load-time keys transformers copies into tokenizer_config.json; make files world-readable."""
    tc = path / "tokenizer_config.json"
    cfg = json.loads(tc.read_text())
    for key in ("is_local", "local_files_only", "name_or_path"):
        cfg.pop(key, None)
    tc.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
    path.chmod(0o755)
    for f in path.iterdir():
        f.chmod(0o644)


def write(out: Path, size: str, seed: int = 0, dtype: str | None = None, force: bool = False) -> dict[str, Any]:
    """Write a random checkpoint to `out`; return a summary (sizes, counts, timings)."""
    import transformers

    out = Path(out)
    dtype = dtype or default_dtype(size)
    config_dict(size)  # validate the size before touching the disk
    _prepare_out(out, force)
    t0 = time.perf_counter()
    processor = make_processor()  # first, so a missing qwen-tokenizer fails before the big allocation
    t_tok = time.perf_counter() - t0
    model = make_model(size, seed, dtype)
    t_init = time.perf_counter() - t0 - t_tok
    model.generation_config = generation_config()
    counts = param_counts(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        model.save_pretrained(str(tmp))
        processor.save_pretrained(str(tmp))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    del model
    _tidy(tmp)
    t_save = time.perf_counter() - t0 - t_tok - t_init
    summary = {
        "family": "qwen3-asr",
        "size": size,
        "seed": seed,
        "dtype": dtype,
        "weights": "random: Qwen3ASRPreTrainedModel._init_weights after torch.manual_seed(seed)"
        + (f", then token embeddings redrawn with std {TINY_EMBED_STD}" if size == "tiny" else ""),
        "tokenizer": "real: qwen-tokenizer qwen.tiktoken ranks + Qwen3-ASR added tokens",
        "transformers": transformers.__version__,
        "parameters": counts,
    }
    (tmp / MARKER).write_text(json.dumps(summary, indent=2) + "\n")
    if out.exists():  # an empty directory (checked by _prepare_out)
        out.rmdir()
    tmp.replace(out)
    summary["bytes"] = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    summary["seconds"] = {"tokenizer": round(t_tok, 2), "init": round(t_init, 2), "save": round(t_save, 2)}
    return summary


def smoke_test(path: Path, seconds: float = 3.0, max_new_tokens: int = 8, seed: int = 0) -> dict[str, Any]:
    """Load, build the prompt for a noise clip with the processor, and greedy-generate."""
    import numpy as np
    import torch

    model, processor = load(path)
    audio = np.random.default_rng(seed).standard_normal(int(16000 * seconds)).astype(np.float32) * 0.1
    inputs = processor.apply_transcription_request(audio=audio)
    inputs = inputs.to(model.dtype)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    prompt_len = inputs["input_ids"].shape[1]
    ids = inputs["input_ids"][0].tolist()
    return {
        "prompt_tokens": prompt_len,
        "audio_tokens": ids.count(model.config.audio_token_id),
        "prompt": processor.tokenizer.convert_ids_to_tokens(ids),
        "generated": out[0, prompt_len:].tolist(),
        "parameters": param_counts(model),
    }
