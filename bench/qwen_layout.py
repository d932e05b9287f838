"""The transformers 5 Qwen3-ASR checkpoint rewritten into the `qwen-asr` package's layout, the only
one optimum-intel 2.2.0 exports (under transformers 4.57.6, in the peers virtualenv): the same
tensors renamed, the config rebuilt, and a check that qwen-asr loads it with nothing missing."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

# transformers 5 (native `qwen3_asr`) weight name prefix -> qwen-asr package prefix. The native
# model splits qwen-asr's audio encoder into the encoder proper and a two-layer projector
# (proj1 -> linear_1, proj2 -> linear_2) and moves the thinker's text model to `language_model`.
RENAMES = (
    ("model.audio_tower.", "thinker.audio_tower."),
    ("model.multi_modal_projector.linear_1.", "thinker.audio_tower.proj1."),
    ("model.multi_modal_projector.linear_2.", "thinker.audio_tower.proj2."),
    ("model.language_model.", "thinker.model."),
    ("lm_head.", "thinker.lm_head."),
)
AUDIO_KEYS = (
    "num_mel_bins",
    "encoder_layers",
    "encoder_attention_heads",
    "encoder_ffn_dim",
    "d_model",
    "dropout",
    "attention_dropout",
    "activation_function",
    "activation_dropout",
    "scale_embedding",
    "initializer_range",
    "n_window",
    "output_dim",
    "n_window_infer",
    "downsample_hidden_size",
)
TEXT_KEYS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "hidden_act",
    "max_position_embeddings",
    "initializer_range",
    "rms_norm_eps",
    "use_cache",
    "tie_word_embeddings",
    "attention_bias",
    "attention_dropout",
    "bos_token_id",
    "eos_token_id",
)


def rename(name: str) -> str:
    """Native weight name -> qwen-asr weight name; unknown names are an error, not a silent skip."""
    for old, new in RENAMES:
        if name.startswith(old):
            return new + name[len(old) :]
    raise ValueError(f"no qwen-asr name for weight {name!r}")


def qwen_asr_config(native: dict[str, Any], vocab: dict[str, int]) -> dict[str, Any]:
    """Native config.json -> qwen-asr config.json (thinker_config with audio_config/text_config)."""
    a, t = native["audio_config"], native["text_config"]
    rope = t.get("rope_parameters") or {"rope_type": "default", "rope_theta": t.get("rope_theta", 1e6)}
    if rope.get("rope_type", "default") != "default":
        raise ValueError(f"qwen-asr's text model has plain RoPE only; this checkpoint has {rope}")
    half = t["head_dim"] // 2
    # qwen-asr always applies interleaved M-RoPE; with audio and text only, its three position
    # streams are equal, so any split of the frequencies gives plain RoPE (released: 24/20/20).
    section = [half - 2 * (half * 5 // 16), half * 5 // 16, half * 5 // 16]
    text = {k: t[k] for k in TEXT_KEYS if k in t}
    text.update(
        model_type="qwen3_asr_text",
        rope_theta=rope["rope_theta"],
        rope_scaling={"rope_type": "default", "mrope_section": section, "interleaved": True, "mrope_interleaved": True},
        tie_word_embeddings=native.get("tie_word_embeddings", t.get("tie_word_embeddings", False)),
    )
    audio = {k: a[k] for k in AUDIO_KEYS if k in a}
    # max_position_embeddings (native) sizes the same sinusoid table as max_source_positions
    # (qwen-asr); rows do not depend on the length, and only the first per-chunk positions are read.
    audio.update(model_type="qwen3_asr_audio_encoder", max_source_positions=1500, conv_chunksize=500)
    thinker = {
        "model_type": "qwen3_asr_thinker",
        "audio_config": audio,
        "text_config": text,
        "audio_token_id": native["audio_token_id"],
        "audio_start_token_id": vocab.get("<|audio_start|>", 151669),
        "user_token_id": vocab.get("user", 872),
        "initializer_range": native.get("initializer_range", 0.02),
        "pad_token_id": native.get("pad_token_id"),
    }
    return {
        "architectures": ["Qwen3ASRForConditionalGeneration"],
        "model_type": "qwen3_asr",
        "thinker_config": thinker,
        "support_languages": None,
        "tie_word_embeddings": text["tie_word_embeddings"],
        "torch_dtype": native.get("dtype", "float32"),
        "pad_token_id": native.get("pad_token_id"),
        "eos_token_id": native.get("eos_token_id"),
        "transformers_version": "4.57.6",
    }


def to_qwen_asr_layout(model: Path, out: Path) -> None:
    """Write the transformers 5 checkpoint `model` in the qwen-asr package's layout (what
    optimum-intel's exporter loads under transformers 4.57): config, renamed tensors (values
    untouched, dtype kept), tokenizer and Whisper-style feature-extractor settings."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    native = json.loads((model / "config.json").read_text())
    tok_json = json.loads((model / "tokenizer.json").read_text())
    vocab = {**tok_json["model"]["vocab"], **{t["content"]: t["id"] for t in tok_json.get("added_tokens", [])}}
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "config.json").write_text(json.dumps(qwen_asr_config(native, vocab), indent=2) + "\n")

    shards = sorted(model.glob("*.safetensors"))
    names = {}
    for shard in shards:
        with safe_open(shard, "pt") as f:
            names.update(dict.fromkeys(f.keys(), shard.name))
    embed = "model.language_model.embed_tokens.weight"
    weight_map = {}
    for shard in shards:
        tensors = load_file(shard)
        if "lm_head.weight" not in names and embed in tensors:  # tied: the native file stores the embedding only
            tensors["lm_head.weight"] = tensors[embed].clone()
        tensors = {rename(k): v for k, v in tensors.items()}
        weight_map.update(dict.fromkeys(tensors, shard.name))
        save_file(tensors, tmp / shard.name, metadata={"format": "pt"})
    if len(shards) > 1:
        index = {"metadata": {}, "weight_map": dict(sorted(weight_map.items()))}
        (tmp / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")

    shutil.copy(model / "tokenizer.json", tmp / "tokenizer.json")
    tc = json.loads((model / "tokenizer_config.json").read_text())
    tc.pop("backend", None)
    extra = tc.pop("model_specific_special_tokens", None) or {
        k: tc[k] for k in ("audio_token", "audio_bos_token", "audio_eos_token") if k in tc
    }
    for k in extra:
        tc.pop(k, None)
    tc["extra_special_tokens"] = extra  # transformers 4.57 sets these as tokenizer attributes
    tc["tokenizer_class"] = "Qwen2Tokenizer"
    tc["processor_class"] = "Qwen3ASRProcessor"
    (tmp / "tokenizer_config.json").write_text(json.dumps(tc, indent=2) + "\n")
    if (model / "chat_template.jinja").is_file():
        shutil.copy(model / "chat_template.jinja", tmp / "chat_template.jinja")
    fe = json.loads((model / "processor_config.json").read_text())["feature_extractor"]
    keep = ("feature_size", "sampling_rate", "hop_length", "chunk_length", "n_fft", "n_samples", "nb_max_frames")
    pre = {k: fe[k] for k in keep if k in fe}
    pre.update(
        feature_extractor_type="WhisperFeatureExtractor",
        padding_side="right",
        padding_value=0.0,
        return_attention_mask=True,
        dither=0.0,
        processor_class="Qwen3ASRProcessor",
    )
    (tmp / "preprocessor_config.json").write_text(json.dumps(pre, indent=2) + "\n")
    gen = {"do_sample": False, "eos_token_id": native.get("eos_token_id"), "pad_token_id": native.get("pad_token_id")}
    (tmp / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


CHECK_LAYOUT = r"""
import sys, qwen_asr
from qwen_asr.core.transformers_backend import Qwen3ASRForConditionalGeneration
m, info = Qwen3ASRForConditionalGeneration.from_pretrained(sys.argv[1], output_loading_info=True)
bad = {k: v for k, v in info.items() if v}
if bad:
    raise SystemExit(f"qwen-asr does not load the converted checkpoint cleanly: {bad}")
print(sum(p.numel() for p in m.parameters()))
"""


def qwen_asr_layout(model: Path, work: Path, peers_python: str) -> Path:
    """The converted checkpoint (cached under --work), checked to load in qwen-asr with no
    missing, unexpected or mismatched weights."""
    out = work / "qwen-asr-layout"
    if not (out / "config.json").is_file():
        t0 = time.perf_counter()
        to_qwen_asr_layout(model, out)
        p = subprocess.run([peers_python, "-c", CHECK_LAYOUT, str(out)], capture_output=True, text=True)
        if p.returncode != 0:
            shutil.rmtree(out)
            raise SystemExit(f"converted checkpoint rejected:\n{p.stderr[-3000:]}")
        print(f"qwen-asr layout: {out} ({p.stdout.split()[-1]} parameters, {time.perf_counter() - t0:.0f} s)")
    return out
