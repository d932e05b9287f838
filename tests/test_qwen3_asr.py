"""Qwen3-ASR (tiny random checkpoint with the real tokenizer and the real chunking/windowing)
exported to ONNX and OpenVINO and checked against transformers' native implementation.

Tolerances (fp32; OpenVINO with the f32 hint): audio embeddings within 2e-4 and teacher-forced
logits within 1e-3 of PyTorch (max |diff|); prompt ids equal to Qwen3ASRProcessor's; greedy
tokens identical to `generate`. Measured here: ~4e-5 and ~2e-6.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edgeasr.export.verify import verify_artifact
from edgeasr.runtime import EdgeASRError, load_model
from edgeasr.runtime.audio import load_audio
from edgeasr.runtime.families import qwen3_asr


@pytest.fixture(scope="session")
def qwen_artifacts(tmp_path_factory, qwen_tiny):
    from edgeasr.export.exporter import export_loaded

    root = tmp_path_factory.mktemp("qwen-art")
    for fmt in ("onnx", "openvino"):
        export_loaded(qwen_tiny, fmt, root / fmt)
    return {fmt: root / fmt for fmt in ("onnx", "openvino")}


@pytest.fixture(scope="session")
def clips(tmp_path_factory, speech) -> list[Path]:
    """Under 1 s (one partial conv chunk), a few seconds, and ~20 s (three 8 s attention windows)."""
    d = tmp_path_factory.mktemp("qwen-clips")
    audios = [load_audio(c.audio) for c in speech]
    longest = np.concatenate(audios)[: 16000 * 20]
    out = []
    for name, a in (("short", audios[0][:9000]), ("mid", audios[1]), ("long", longest)):
        sf.write(d / f"{name}.wav", a, 16000)
        out.append(d / f"{name}.wav")
    return out


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
@pytest.mark.parametrize("language,context", [(None, None), ("en", "Anna, Friday, Boston")])
def test_matches_transformers(fmt, language, context, qwen_tiny, qwen_artifacts, clips):
    report = verify_artifact(qwen_tiny, qwen_artifacts[fmt], audio=clips, language=language, context=context)
    assert report.ok, report.summary()
    for row in report.clips:
        assert row["prompt_match"] and row["greedy_match"] and row["tokens"] > 0
        assert row["encoder_max_abs"] < 2e-4 and row["logits_max_abs"] < 1e-3


def test_batch_equals_single(qwen_artifacts, clips):
    model = load_model(qwen_artifacts["onnx"], threads=2)
    single = [model.transcribe(c, max_new_tokens=10)[0].tokens for c in clips]
    batched = [r.tokens for r in model.transcribe(clips, batch_size=3, max_new_tokens=10)]
    assert batched == single


def test_prefill_in_calls_equals_one_call(monkeypatch, qwen_artifacts, clips):
    """A prompt fed in calls of 16 tokens: each call must get the audio embeddings its audio
    tokens have not used yet (rows of a batch at different offsets), and the logits must not move."""
    from edgeasr.runtime import decoding

    model = load_model(qwen_artifacts["onnx"], threads=2)
    rt = model.runtime
    prep = rt.prepare(load_audio(clips[2]), context="Anna, Friday")
    whole = decoding.forced_logits(prep.step, prep.prompt, [11, 12, 13], rt.kv_shape)
    single = [model.transcribe(c, max_new_tokens=10)[0].tokens for c in clips]
    monkeypatch.setattr(decoding, "PREFILL_CHUNK", 16)
    prep = rt.prepare(load_audio(clips[2]), context="Anna, Friday")
    assert len(prep.prompt) > 10 * 16
    split = decoding.forced_logits(prep.step, prep.prompt, [11, 12, 13], rt.kv_shape)
    assert np.abs(split - whole).max() < 1e-4
    assert [r.tokens for r in model.transcribe(clips, batch_size=3, max_new_tokens=10)] == single


def test_in_place_decoder_equals_portable(qwen_artifacts, clips):
    """The ONNX export keeps ONNX Runtime's decoder (GroupQueryAttention nodes writing into the
    bound cache buffer) beside the portable one; both must give the same logits and tokens,
    left-padded batches included."""
    import onnx

    from edgeasr.runtime import decoding
    from edgeasr.runtime.perf import graph_bytes

    fast = load_model(qwen_artifacts["onnx"], threads=2)
    plain = load_model(qwen_artifacts["onnx"], threads=2)
    art = plain.runtime.artifact
    ops = {n.op_type for n in onnx.load(art.graph_path("decoder", "onnxruntime"), load_external_data=False).graph.node}
    assert "GroupQueryAttention" in ops and fast.runtime.cache_mode["decoder"] == "in_place"
    ort_form = [f for f in art.manifest["files"] if f.startswith("decoder.onnxruntime.onnx")]
    assert graph_bytes(art, "decoder") == sum(art.manifest["files"][f]["bytes"] for f in ort_form)  # one form only
    plain.runtime.use_portable_graphs()
    assert plain.runtime.cache_mode["decoder"] == "returned"
    logits = []
    for m in (fast, plain):
        prep = m.runtime.prepare(load_audio(clips[1]), context="Anna, Friday")
        logits.append(decoding.forced_logits(prep.step, prep.prompt, [11, 12, 13, 14], m.runtime.kv_shape))
    assert np.abs(logits[0] - logits[1]).max() < 1e-4
    tokens = [[r.tokens for r in m.transcribe(clips, batch_size=3, max_new_tokens=12)] for m in (fast, plain)]
    assert tokens[0] == tokens[1]


def test_audio_token_count_follows_the_encoder(qwen_artifacts, qwen_tiny):
    """Positions per clip equal transformers' own output length formula."""
    import torch
    from transformers.models.qwen3_asr.modeling_qwen3_asr import _get_feat_extract_output_lengths

    model = load_model(qwen_artifacts["onnx"], threads=1)
    rt = model.runtime
    for n in (8000, 16000 + 37, 16000 * 8, 16000 * 8 + 160 * 7, 16000 * 17 + 5):
        audio = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
        frames = rt.features(audio).shape[1]
        expected = int(_get_feat_extract_output_lengths(torch.tensor(frames)))
        assert rt.encode([audio])[0].shape == (expected, qwen_tiny.model.config.text_config.hidden_size)


def test_language_forcing_and_parsing(qwen_artifacts):
    rt = load_model(qwen_artifacts["onnx"], threads=1).runtime
    english = rt.prompt(5, "English", None)
    assert english == rt.prompt(5, "en", None)
    assert english[-1] == rt.tok["asr_text"]
    assert rt.prompt(5, None, None) == english[: -len(rt.languages["en"]["ids"])]
    ids = rt.tokenizer.encode("language French<asr_text>Bonjour tout le monde").ids
    assert rt.parse(ids, None) == ("fr", "Bonjour tout le monde")
    assert rt.parse(rt.tokenizer.encode("hello").ids, "en") == ("en", "hello")
    with pytest.raises(EdgeASRError, match="unknown language"):
        rt.prompt(5, "Klingon", None)


def test_manifest_has_the_prompt_as_ids(qwen_artifacts):
    import json

    m = json.loads((qwen_artifacts["openvino"] / "manifest.json").read_text())
    assert m["family"] == "qwen3_asr" and m["tokens"]["audio"] == 151676
    assert m["tokens"]["prompt"]["before_context"][0] == 151644  # <|im_start|>
    assert set(m["tokens"]["eos"]) == {151643, 151645}
    assert m["features"] == {
        **m["features"],
        "n_mels": 128,
        "chunk_frames": 100,
        "chunk_positions": 13,
        "window_chunks": 8,
    }


def test_trimmed_windows_equal_padded(monkeypatch, qwen_artifacts, clips):
    """A clip's partly filled last window runs with only the chunks it holds (the manifest says
    the graph takes them) and gives the embeddings of the padded 8 s window."""
    model = load_model(qwen_artifacts["onnx"], threads=2)
    rt = model.runtime
    assert rt.feat["trimmed_windows"] and rt.trim_windows
    audios = [load_audio(c) for c in clips]
    graph, widths = rt.graphs["encoder"], []
    run = graph.run
    graph.run = lambda feeds: widths.append(feeds["mel"].shape[:3:2]) or run(feeds)
    monkeypatch.setattr(qwen3_asr, "ENCODER_BATCH", 2)  # (the shipped value is 1: memory first)
    trimmed = rt.encode(audios)
    # widest first, up to ENCODER_BATCH windows of one width a call: long's two full windows,
    # then long's last (4 chunks), mid (3 chunks) and short (1 chunk) each alone
    assert widths == [(2, 800), (1, 400), (1, 300), (1, 100)]
    rt.trim_windows = False  # what an older artifact (and calibration) does
    padded = rt.encode(audios)
    graph.run = run
    for a, b in zip(trimmed, padded, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_older_cache_layout_is_refused(tmp_path, qwen_artifacts, clips):
    """An artifact whose decoder takes the earlier time-major cache cannot run on this loop:
    the CLI says to re-export, in one line, with a non-zero exit."""
    import json
    import shutil
    import subprocess
    import sys

    old = tmp_path / "old"
    shutil.copytree(qwen_artifacts["onnx"], old)
    m = json.loads((old / "manifest.json").read_text())
    m["decoder"]["kv_layout"] = ["time", "layer", "k_or_v", "batch", "head", "head_dim"]
    (old / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(EdgeASRError, match="export and quantize the model again"):
        load_model(old, threads=1)
    cli = [sys.executable, "-m", "edgeasr.runtime.cli", "transcribe", str(clips[0]), "--artifact", str(old)]
    proc = subprocess.run(cli, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "kv_layout" not in proc.stderr
