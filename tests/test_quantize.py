"""Every shipped profile builds on both tiny random models (Whisper and Qwen3-ASR) and its
decoder follows the fp32 build: the mean KL divergence of its next-token distributions from
the fp32 build's, teacher-forced along a 16-token greedy decode of the fp32 artifact, stays
within the bound below for the profile's lowest precision. Random weights give nearly flat
distributions whose argmax flips on tiny changes, so top-1 agreement is only required of the
fp32 profiles here; the profiles' own `verify` tolerances (top-1 and KL) apply to trained
models."""

from __future__ import annotations

import json

import pytest

from edgeasr.quantize.build import build
from edgeasr.quantize.profiles import load_profile, profile_names
from edgeasr.runtime import load_model
from edgeasr.runtime.audio import load_audio
from edgeasr.runtime.fidelity import compare
from edgeasr.runtime.perf import kv_bytes_per_position

# (min top-1 agreement, max mean KL in nats) by the lowest precision in the profile
BOUNDS = {"fp32": (1.0, 1e-6), "fp16": (0.0, 1e-3), "int8": (0.0, 5e-3), "int4": (0.0, 5e-2)}


def _bound(profile: str) -> tuple[float, float]:
    precisions = {r.precision for r in load_profile(profile).graphs.values()}
    for key in ("int4", "int8", "fp16"):
        if any(p.startswith(key) for p in precisions):
            return BOUNDS[key]
    return BOUNDS["fp32"]


@pytest.fixture(scope="session")
def calibration(speech):
    return speech[0].audio.parent.parent / "manifest.jsonl"


@pytest.mark.parametrize("profile", profile_names())
@pytest.mark.parametrize("family", ["whisper", "qwen3_asr"])
def test_profile_builds_and_follows_fp32(profile, family, fp32_bases, calibration, speech, tmp_path):
    out = tmp_path / profile
    manifest = build(str(fp32_bases[family]), profile, out, calibration=calibration)
    assert manifest["profile"]["name"] == profile and manifest["family"] == family
    assert json.loads((out / "manifest.json").read_text())["files"] == manifest["files"]
    decoder = manifest["graphs"]["decoder"]  # ONNX Runtime builds take the export's ONNX Runtime form
    assert "variants" not in decoder
    in_place = family == "qwen3_asr" and manifest["backend"] == "onnxruntime"
    assert decoder["cache"] == ("in_place" if in_place else "returned")
    half = in_place and load_profile(profile).recipe("decoder").params.get("kv_cache") == "fp16"
    assert decoder.get("kv_dtype", "float32") == ("float16" if half else "float32")
    if (
        load_profile(profile).recipe("encoder").needs_calibration
        or load_profile(profile).recipe("decoder").needs_calibration
    ):
        assert len(manifest["calibration"]["sha256"]) == 64
    ref = load_model(fp32_bases[family], threads=2)
    cand = load_model(out, threads=2)
    if family == "qwen3_asr":  # the cache buffer's dtype follows the graph's inputs
        assert cand.runtime.kv_dtype == ("float16" if half else "float32")
    for g in manifest["graphs"]:  # a graph built for the other backend runs on it
        kind = {"onnxruntime": "OrtGraph", "openvino": "OvGraph"}[load_profile(profile).graph_backend(g)]
        assert type(cand.runtime.graphs[g]).__name__ == kind
    f = compare(ref, cand, [load_audio(speech[1].audio)], tokens=16)
    top1, kl = _bound(profile)
    print(f"{family} {profile}: top-1 {f['top1']:.3f}, KL {f['kl_mean']:.5f}")
    assert f["top1"] >= top1 and f["kl_mean"] <= kl, f


def test_static_conv_reaches_qlinearconv(fp32_bases, calibration, speech, tmp_path):
    """`static_conv` on the Qwen3-ASR tiny model: every convolution of the stem ends up as
    ONNX Runtime's QLinearConv (a shared bias would block the fusion), and the decoder's
    distributions stay within the int8 bound."""
    import onnx
    import onnxruntime as ort

    (tmp_path / "conv8.yaml").write_text(
        "name: conv8\ndescription: d\nbackend: onnxruntime\ngraphs:\n"
        "  encoder: {method: matmul_nbits, bits: 8, block_size: 128, static_conv: true, calibration_clips: 2}\n"
        "  decoder: {method: matmul_nbits, bits: 8, block_size: 128}\n"
    )
    out = tmp_path / "art"
    manifest = build(str(fp32_bases["qwen3_asr"]), load_profile(tmp_path / "conv8.yaml"), out, calibration=calibration)
    assert manifest["graphs"]["encoder"]["precision"] == "int8-weights+int8-conv"
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "opt.onnx")
    ort.InferenceSession(str(out / "encoder.onnx"), opts, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(str(tmp_path / "opt.onnx"), load_external_data=False).graph.node]
    assert ops.count("QLinearConv") == 3 and "Conv" not in ops
    f = compare(
        load_model(fp32_bases["qwen3_asr"], threads=2),
        load_model(out, threads=2),
        [load_audio(speech[1].audio)],
        tokens=16,
    )
    assert f["kl_mean"] <= BOUNDS["int8"][1] and f["encoder_cosine"] > 0.99, f


def test_fp16_kv_cache_follows_fp32_cache(fp32_bases, calibration, speech, tmp_path):
    """`kv_cache: fp16` on the Qwen3-ASR tiny model: the decoder's cache inputs become fp16, the
    runtime's buffer too, and the distributions barely move (fp16 keeps ~3 decimal digits)."""
    import onnx

    arts = {}
    for cache in ("fp32", "fp16"):
        (tmp_path / f"kv{cache}.yaml").write_text(
            f"name: kv{cache}\ndescription: d\nbackend: onnxruntime\ngraphs:\n"
            f"  default: {{method: matmul_nbits, bits: 8, block_size: 128, kv_cache: {cache}}}\n"
        )
        arts[cache] = tmp_path / cache
        build(str(fp32_bases["qwen3_asr"]), load_profile(tmp_path / f"kv{cache}.yaml"), arts[cache])
    graph = onnx.load(str(arts["fp16"] / "decoder.onnx"), load_external_data=False).graph
    kinds = {i.name: i.type.tensor_type.elem_type for i in graph.input}
    assert kinds["past_key.0"] == onnx.TensorProto.FLOAT16 and kinds["input_ids"] == onnx.TensorProto.INT64
    half, full = load_model(arts["fp16"], threads=2), load_model(arts["fp32"], threads=2)
    assert half.runtime.kv_dtype == "float16"
    assert 2 * kv_bytes_per_position(half.runtime.artifact) == kv_bytes_per_position(full.runtime.artifact)
    f = compare(full, half, [load_audio(speech[1].audio)], tokens=16)
    assert f["top1"] == 1.0 and f["kl_mean"] < 1e-4, f


def test_unquantized_copy_renames_its_external_data(tmp_path):
    """Method `none` on a graph with external data under another name (an export's
    `decoder.onnxruntime.onnx` built into `decoder.onnx`): the copy must find its weights."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from edgeasr.quantize import ort as ort_methods
    from edgeasr.quantize.profiles import GraphRecipe

    w = numpy_helper.from_array(np.arange(64, dtype=np.float32).reshape(8, 8), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [w],
    )
    src = tmp_path / "src" / "decoder.onnxruntime.onnx"
    src.parent.mkdir()
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(src), save_as_external_data=True, location=f"{src.name}.data", size_threshold=0)
    dst = tmp_path / "out" / "decoder.onnx"
    dst.parent.mkdir()
    ort_methods.apply(GraphRecipe("none"), src, dst, None)
    assert sorted(p.name for p in dst.parent.iterdir()) == ["decoder.onnx", "decoder.onnx.data"]
    y = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"]).run(None, {"x": np.ones((1, 8), np.float32)})
    assert np.allclose(y[0], np.arange(64, dtype=np.float32).reshape(8, 8).sum(0))
