"""One Qwen3-ASR engine in its own process (so its load time and peak memory are its own), driven
over stdin/stdout by bench/qwen_peers.py with one JSON line per request and per answer.

Engines: transformers PyTorch (fp32, bf16, dynamic int8) and edgeasr artifacts in the main
virtualenv; optimum-intel OpenVINO exports in the peers one. Every engine runs the same stages
with its own code (features, encoder, prefill, then a greedy decode of a fixed number of tokens
with EOS ignored), timed separately, and can return teacher-forced logits for a given token
sequence so the caller can compare engines position by position.

    python bench/qwen_peer_worker.py KIND SPEC THREADS [OPENVINO_PRECISION_HINT]
    KIND: torch-fp32 | torch-bf16 | torch-int8 | optimum | edgeasr
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edgeasr.runtime.metrics import peak_rss_mb

Timings = dict[str, float]


class Engine:
    """What every engine gives the request loop: a timed run and teacher-forced logits."""

    info: dict[str, Any]
    run: Callable[[np.ndarray, int], Timings]
    forced: Callable[[np.ndarray, list[int]], tuple[np.ndarray, int]]


def _tensor_bytes(t: Any) -> int:
    return t.numel() * t.element_size()


def _int8_bytes(module: Any) -> int:
    """Bytes of a dynamically quantized Linear's int8 weight and fp32 bias (0 for any other module)."""
    from torch.ao.nn.quantized.dynamic import Linear

    if not isinstance(module, Linear):
        return 0
    b = module.bias()
    return module.weight().numel() + (_tensor_bytes(b) if b is not None else 0)


def _torch_decoder_bytes(model: Any) -> int:
    """Bytes one decode step reads from the text model as held in memory: every layer's weights,
    the final norm and the LM head; the embedding table is skipped (a step reads one row) unless
    it is the LM head too. Dynamically quantized Linear layers count their int8 weights."""
    seen: set[int] = set()
    total = 0
    for module in [model.model.language_model, model.lm_head]:
        for name, sub in module.named_modules():
            if name.endswith("embed_tokens"):
                continue
            total += _int8_bytes(sub)
            for p in sub.parameters(recurse=False):
                if p.data_ptr() not in seen:
                    seen.add(p.data_ptr())
                    total += _tensor_bytes(p)
    return total


def torch_engine(path: str, mode: str, threads: int) -> Engine:
    """transformers' Qwen3ASRForConditionalGeneration with a manual greedy loop over its KV cache,
    so the encoder, the prefill and each decode step are timed apart."""
    import torch
    from transformers import Qwen3ASRForConditionalGeneration, Qwen3ASRProcessor

    torch.set_num_threads(threads)
    dtype = torch.bfloat16 if mode == "bf16" else torch.float32
    model = Qwen3ASRForConditionalGeneration.from_pretrained(path, dtype=dtype).eval()
    if mode == "int8":
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    processor = Qwen3ASRProcessor.from_pretrained(path)
    audio_id = model.config.audio_token_id
    text = model.config.text_config
    weights = sum(_tensor_bytes(p) for p in model.parameters())  # shared (tied) tensors once
    weights += sum(_int8_bytes(m) for m in model.modules())  # dynamic int8 Linear: packed, not parameters

    def inputs(audio: np.ndarray) -> Any:
        return processor.apply_transcription_request(audio=audio, language="en", return_tensors="pt")

    def embeds(x: Any) -> tuple[Any, Any]:
        audio_emb = model.model.get_audio_features(
            x["input_features"].to(dtype), x["input_features_mask"], return_dict=True
        ).pooler_output
        return audio_emb, x["input_ids"]

    def prompt_embeds(audio_emb: Any, ids: Any) -> Any:
        emb = model.get_input_embeddings()(ids)
        where = (ids == audio_id)[..., None].expand_as(emb)
        return emb.masked_scatter(where, audio_emb.to(emb.dtype))

    @torch.inference_mode()
    def run(audio: np.ndarray, tokens: int) -> Timings:
        t0 = time.perf_counter()
        x = inputs(audio)
        t1 = time.perf_counter()
        audio_emb, ids = embeds(x)
        t2 = time.perf_counter()
        mask = x["attention_mask"]
        out = model(inputs_embeds=prompt_embeds(audio_emb, ids), attention_mask=mask, use_cache=True, logits_to_keep=1)
        nxt = out.logits[:, -1].argmax(-1)
        t3 = time.perf_counter()
        cache = out.cache
        for _ in range(tokens - 1):
            mask = torch.cat([mask, mask.new_ones((1, 1))], dim=1)
            out = model(input_ids=nxt[:, None], attention_mask=mask, cache=cache, use_cache=True)
            cache, nxt = out.cache, out.logits[:, -1].argmax(-1)
        t4 = time.perf_counter()
        return _timings(t0, t1, t2, t3, t4, tokens, ids.shape[1])

    @torch.inference_mode()
    def forced(audio: np.ndarray, seq: list[int]) -> tuple[np.ndarray, int]:
        x = inputs(audio)
        audio_emb, ids = embeds(x)
        full = torch.cat([ids, torch.tensor([seq[:-1]], dtype=ids.dtype)], dim=1)
        logits = model(inputs_embeds=prompt_embeds(audio_emb, full), use_cache=False, logits_to_keep=len(seq)).logits
        return logits[0, -len(seq) :].float().numpy(), ids.shape[1]

    e = Engine()
    e.run, e.forced = run, forced
    kv_elem = 2 if mode == "bf16" else 4
    e.info = {
        "weights_mb": weights / 1e6,
        "decoder_bytes": _torch_decoder_bytes(model),
        "kv_bytes_per_position": text.num_hidden_layers * 2 * text.num_key_value_heads * text.head_dim * kv_elem,
        "runtime": f"torch {torch.__version__}",
    }
    return e


def optimum_engine(path: str, threads: int, hint: str) -> Engine:
    """optimum-intel's OVModelForSpeechSeq2Seq on its own export, with the qwen-asr processor the
    export saved; its own forward() is called step by step (the same calls generate() makes)."""
    import openvino as ov
    import qwen_asr  # noqa: F401  registers qwen3_asr with transformers 4.57 (config, model, processor)
    import torch
    from optimum.intel import OVModelForSpeechSeq2Seq
    from transformers import AutoProcessor

    torch.set_num_threads(threads)
    cfg = {"INFERENCE_NUM_THREADS": str(threads), "PERFORMANCE_HINT": "LATENCY", "CACHE_DIR": ""}
    if hint:  # e.g. f32: OpenVINO otherwise computes in bf16 on CPUs that have it, even for fp32 weights
        cfg["INFERENCE_PRECISION_HINT"] = hint
    model = OVModelForSpeechSeq2Seq.from_pretrained(path, ov_config=cfg, compile=True)
    processor = AutoProcessor.from_pretrained(path)
    msgs = [{"role": "system", "content": ""}, {"role": "user", "content": [{"type": "audio", "audio": ""}]}]
    text = (
        processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False) + "language English<asr_text>"
    )

    def inputs(audio: np.ndarray) -> Any:
        return processor(text=text, audio=[audio], return_tensors="pt", padding=True)

    def run(audio: np.ndarray, tokens: int) -> Timings:
        t0 = time.perf_counter()
        x = inputs(audio)
        t1 = time.perf_counter()
        enc = model.encoder(x["input_features"])
        t2 = time.perf_counter()
        ids = x["input_ids"]
        out = model(encoder_outputs=enc, decoder_input_ids=ids, decoder_attention_mask=torch.ones_like(ids))
        nxt = out.logits[:, -1].argmax(-1)
        t3 = time.perf_counter()
        past, n_prompt = out.past_key_values, int(enc.last_hidden_state.shape[1]) + _non_audio(x, model)
        for _ in range(tokens - 1):
            step = nxt[:, None]  # what generate() passes once there is a cache: the last token and its mask
            out = model(
                encoder_outputs=enc,
                decoder_input_ids=step,
                decoder_attention_mask=torch.ones_like(step),
                past_key_values=past,
            )
            past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1)
        t4 = time.perf_counter()
        return _timings(t0, t1, t2, t3, t4, tokens, n_prompt)

    def forced(audio: np.ndarray, seq: list[int]) -> tuple[np.ndarray, int]:
        x = inputs(audio)
        enc = model.encoder(x["input_features"])
        full = torch.cat([x["input_ids"], torch.tensor([seq[:-1]], dtype=x["input_ids"].dtype)], dim=1)
        logits = model(encoder_outputs=enc, decoder_input_ids=full, decoder_attention_mask=torch.ones_like(full)).logits
        return logits[0, -len(seq) :].float().numpy(), int(enc.last_hidden_state.shape[1]) + _non_audio(x, model)

    dec = os.path.join(path, "openvino_decoder_model.bin")
    compiled = (
        model.decoder.request.get_compiled_model() if hasattr(model.decoder.request, "get_compiled_model") else None
    )
    props = {}
    for key in ("INFERENCE_PRECISION_HINT", "KV_CACHE_PRECISION"):
        try:
            v = (compiled or model.decoder.request).get_property(key)
            props[key] = v.get_type_name() if hasattr(v, "get_type_name") else str(v)
        except Exception:  # not every OpenVINO build exposes both
            props[key] = "?"
    kv_elem = {"f32": 4, "f16": 2, "bf16": 2, "u8": 1, "i8": 1}.get(props["KV_CACHE_PRECISION"], 4)
    t = model.config.thinker_config.text_config
    e = Engine()
    e.run, e.forced = run, forced
    e.info = {
        "weights_mb": sum(  # the model graphs' weights, not the tokenizer graphs the export adds
            os.path.getsize(os.path.join(path, f)) for f in os.listdir(path) if f.endswith("_model.bin")
        )
        / 1e6,
        "decoder_bytes": os.path.getsize(dec),
        "kv_bytes_per_position": t.num_hidden_layers * 2 * t.num_key_value_heads * t.head_dim * kv_elem,
        "runtime": f"openvino {ov.get_version()}; {props}",
    }
    return e


def _non_audio(x: Any, model: Any) -> int:
    """Prompt tokens that are not audio placeholders (the model resizes the audio run to the encoder output)."""
    audio_id = model.config.thinker_config.audio_token_id
    return int((x["input_ids"][0] != audio_id).sum())


def edgeasr_engine(path: str, threads: int, precision: str = "") -> Engine:
    """An edgeasr artifact through its runtime: per-stage timings come from transcribe_batch and
    teacher-forced logits from the decoder step graph (the KV-cache path, one token per call)."""
    from edgeasr.runtime import load_model
    from edgeasr.runtime.decoding import forced_logits
    from edgeasr.runtime.perf import graph_bytes, kv_bytes_per_position

    m = load_model(path, threads=threads, precision=precision or None)
    rt = m.runtime

    def run(audio: np.ndarray, tokens: int) -> Timings:
        t = rt.transcribe_batch([audio], language="en", max_new_tokens=tokens, ignore_eos=True)[0].timings
        return {
            "features_ms": t["features_s"] * 1000,
            "encoder_ms": t["encoder_s"] * 1000,
            "prefill_ms": t["prefill_s"] * 1000,
            "decode_ms_per_token": t["decode_s"] * 1000 / max(t["decode_steps"], 1),
            "prompt_tokens": t["prompt_tokens"],
            "e2e_s": t["total_s"],
        }

    def forced(audio: np.ndarray, seq: list[int]) -> tuple[np.ndarray, int]:
        p = rt.prepare(audio, "en")
        return forced_logits(p.step, p.prompt, seq[:-1], rt.kv_shape), len(p.prompt)

    e = Engine()
    e.run, e.forced = run, forced
    e.info = {
        "weights_mb": rt.artifact.size_mb,
        "decoder_bytes": graph_bytes(rt.artifact, "decoder"),
        "kv_bytes_per_position": kv_bytes_per_position(rt.artifact),
        "runtime": f"edgeasr {m.backend}; " + ", ".join(f"{g}: {x.precision}" for g, x in rt.graphs.items()),
    }
    return e


def _timings(t0: float, t1: float, t2: float, t3: float, t4: float, tokens: int, prompt: int) -> Timings:
    return {
        "features_ms": (t1 - t0) * 1000,
        "encoder_ms": (t2 - t1) * 1000,
        "prefill_ms": (t3 - t2) * 1000,
        "decode_ms_per_token": (t4 - t3) * 1000 / max(tokens - 1, 1),
        "prompt_tokens": prompt,
        "e2e_s": t4 - t0,
    }


def main() -> None:
    kind, spec, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    hint = sys.argv[4] if len(sys.argv) > 4 else ""
    # The protocol keeps the real stdout; anything a library prints (Python or C) goes to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    t0 = time.perf_counter()
    if kind.startswith("torch-"):
        engine = torch_engine(spec, kind.removeprefix("torch-"), threads)
    elif kind == "optimum":
        engine = optimum_engine(spec, threads, hint)
    elif kind == "edgeasr":
        engine = edgeasr_engine(spec, threads, hint)
    else:
        raise SystemExit(f"unknown engine kind {kind!r}")
    out.write(json.dumps({"load_s": time.perf_counter() - t0, **engine.info}) + "\n")
    out.flush()
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("quit"):
            out.write(json.dumps({"peak_rss_mb": peak_rss_mb()}) + "\n")
            out.flush()
            return
        audio = np.load(req["audio"])
        if "forced" in req:
            logits, prompt = engine.forced(audio, req["forced"])
            np.save(req["out"], logits.astype(np.float32))
            answer: dict[str, Any] = {"prompt_tokens": prompt}
        else:
            answer = engine.run(audio, req["tokens"])
            answer["rss_mb"] = peak_rss_mb()  # so far
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
