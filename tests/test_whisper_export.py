"""Whisper tiny.en exported to ONNX and OpenVINO: graphs against PyTorch, transcripts,
batching, the eval contract and the artifact manifest.

Tolerances (fp32 artifacts, OpenVINO run with the f32 precision hint): encoder cross-attention
K/V within 2e-4 and teacher-forced logits within 1e-3 of PyTorch (max |diff|); greedy tokens
identical to transformers' generate. Measured here: ~1e-5 and ~5e-5.
"""

from __future__ import annotations

import json

import pytest

from edgeasr.export.verify import verify_artifact
from edgeasr.runtime import load_model
from edgeasr.runtime.audio import load_audio
from edgeasr.runtime.metrics import error_rates, normalize
from edgeasr.runtime.ov_cache import summary
from tests.conftest import manifest_of


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_graphs_match_pytorch(fmt, tiny_en, tiny_artifacts, speech):
    clips = sorted(speech, key=lambda c: c.extra["seconds"])
    picked = [clips[0].audio, clips[len(clips) // 2].audio, clips[-1].audio]  # three lengths
    report = verify_artifact(tiny_en, tiny_artifacts[fmt], audio=picked)
    assert report.ok, report.summary()
    for row in report.clips:
        assert row["encoder_max_abs"] < 2e-4 and row["logits_max_abs"] < 1e-3
        assert row["greedy_match"] and row["tokens"] > 3


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_transcripts_are_accurate(fmt, tiny_artifacts, speech):
    model = load_model(tiny_artifacts[fmt], threads=2)
    hyps = [r.text for r in model.transcribe([c.audio for c in speech], batch_size=4)]
    scores = error_rates([normalize(c.text) for c in speech], [normalize(h) for h in hyps])
    assert scores["wer"] < 0.15, list(zip([c.text for c in speech], hyps))


def test_batched_equals_one_by_one(tiny_artifacts, speech):
    model = load_model(tiny_artifacts["onnx"], threads=2)
    audios = [load_audio(c.audio) for c in speech[:5]]
    single = [model.transcribe(a)[0].tokens for a in audios]
    batched = [r.tokens for r in model.transcribe(audios, batch_size=5)]
    assert batched == single


def test_context_prompt_and_language(tiny_artifacts, speech):
    model = load_model(tiny_artifacts["onnx"], threads=2)
    plain = model.transcribe(speech[0].audio)[0]
    biased = model.transcribe(speech[0].audio, context="Meeting notes.", language="en")[0]
    assert plain.language == biased.language == "en"
    assert biased.text  # a prompt must not break decoding
    from edgeasr.runtime import EdgeASRError

    with pytest.raises(EdgeASRError, match="English-only"):
        model.transcribe(speech[0].audio, language="fr")


def test_eval_contract(tmp_path, tiny_artifacts, speech):
    from edgeasr.runtime.cli import main

    manifest = speech[0].audio.parent.parent / "manifest.jsonl"
    out = tmp_path / "eval.json"
    argv = ["eval", "--artifact", str(tiny_artifacts["openvino"]), "--manifest", str(manifest)]
    assert main([*argv, "--json", str(out), "--threads", "2", "--quiet"]) == 0
    res = json.loads(out.read_text())
    for key in (
        "wer",
        "cer",
        "rtf",
        "audio_seconds",
        "wall_seconds",
        "peak_rss_mb",
        "artifact_mb",
        "backend",
        "threads",
    ):
        assert key in res
    assert res["backend"] == "openvino" and res["threads"] == 2
    assert len(res["clips"]) == len(speech)
    assert set(res["clips"][0]) >= {"audio", "reference", "hypothesis", "seconds"}
    assert 0 <= res["wer"] < 0.15 and 0 < res["rtf"] < 2
    assert res["artifact_mb"] == pytest.approx(
        sum(f["bytes"] for f in manifest_of(tiny_artifacts["openvino"])["files"].values()) / 1e6, abs=0.01
    )


def test_manifest_records_what_the_runtime_needs(tiny_artifacts):
    m = manifest_of(tiny_artifacts["onnx"])
    assert m["family"] == "whisper" and m["backend"] == "onnxruntime"
    assert m["tokens"]["sot"] == 50257 and m["tokens"]["eot"] == 50256 and m["tokens"]["no_timestamps"] == 50362
    assert m["decoder"] == {**m["decoder"], "layers": 4, "heads": 6, "head_dim": 64, "max_positions": 448}
    assert m["features"]["n_mels"] == 80
    assert m["export"]["opset"] == 17 and "torch" in m["tools"] and "onnxruntime" in m["tools"]
    # the decoder's 118 MB of weights are external (memory-mapped by ONNX Runtime), the 33 MB encoder inline
    assert set(m["files"]) == {"encoder.onnx", "decoder.onnx", "decoder.onnx.data", "tokenizer.json", "vad.onnx"}
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in m["files"].values())
    # the tied embedding is stored once: the decoder is ~30 M fp32 parameters, not ~50 M
    assert m["files"]["decoder.onnx.data"]["bytes"] < 130e6
    ov = manifest_of(tiny_artifacts["openvino"])
    assert set(ov["files"]) == {
        "encoder.xml",
        "encoder.bin",
        "decoder.xml",
        "decoder.bin",
        "tokenizer.json",
        "vad.onnx",
    }


def test_export_from_a_transformers_directory(tmp_path, tiny_en, speech):
    """The from_pretrained path, on a local directory (the hub is not reachable here)."""
    from edgeasr.export.ct2 import save_transformers
    from edgeasr.export.exporter import export_model
    from edgeasr.export.sources import detect

    src = save_transformers(tiny_en.model, tiny_en.tokenizer_json, tmp_path / "hf")
    assert detect(str(src)) == "transformers-dir"
    export_model(str(src), "onnx", tmp_path / "art")
    report = verify_artifact(str(src), tmp_path / "art", audio=[speech[1].audio])
    assert report.ok, report.summary()
    assert manifest_of(tmp_path / "art")["source"]["kind"] == "transformers-dir"


def test_openvino_compiled_cache(tmp_path, monkeypatch, tiny_artifacts, speech):
    """A second OpenVINO load comes from the compiled-model cache and transcribes the same; each
    graph has its own stamped folder, which a changed graph file empties and a deleted one loses;
    `edgeasr cache` lists it; with the cache turned off nothing is written."""
    import shutil

    from edgeasr.runtime.cli import main

    audio = load_audio(speech[0].audio)
    cache = tmp_path / "cache"
    monkeypatch.setenv("EDGEASR_OV_CACHE", str(cache))
    art = tmp_path / "art"
    shutil.copytree(tiny_artifacts["openvino"], art)
    first = load_model(art, threads=1).transcribe(audio)[0].text
    blobs = sorted(cache.glob("*/*.blob"))
    assert len(blobs) == 2 and len({b.parent for b in blobs}) == 2  # encoder and decoder, a folder each
    stamps = [b.stat().st_mtime_ns for b in blobs]
    assert load_model(art, threads=1).transcribe(audio)[0].text == first
    assert [b.stat().st_mtime_ns for b in blobs] == stamps  # read, not rewritten
    assert main(["cache"]) == 0
    # A rebuilt artifact (new files at the same paths) replaces its blobs instead of adding to them.
    for f in art.glob("*.bin"):
        f.write_bytes(f.read_bytes())
    assert load_model(art, threads=1).transcribe(audio)[0].text == first
    assert len(sorted(cache.glob("*/*.blob"))) == 2
    # A deleted artifact's folders go at the next load of anything else.
    other = tmp_path / "other"
    shutil.copytree(art, other)
    shutil.rmtree(art)
    load_model(other, threads=1)
    assert len(sorted(cache.glob("*/*.blob"))) == 2 and all("other" in str(r["graph"]) for r in summary(cache))
    monkeypatch.setenv("EDGEASR_OV_CACHE", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert load_model(other, threads=1).transcribe(audio)[0].text == first
    assert not (tmp_path / "xdg").exists()


def test_arm_refuses_openvino_static_int8(tmp_path, monkeypatch, capsys, tiny_artifacts, speech):
    """On aarch64 an OpenVINO artifact with an NNCF static int8 graph is refused with one line
    (make arm-check found its transcripts wrong there); the override runs it; x86 is unaffected."""
    import platform
    import shutil

    from edgeasr.runtime.errors import EdgeASRError

    art = tmp_path / "ov-static"
    shutil.copytree(tiny_artifacts["openvino"], art)
    m = json.loads((art / "manifest.json").read_text())
    m["profile"] = {"name": "ov-int8-static", "graphs": {"encoder": {"method": "nncf_static"}}}
    (art / "manifest.json").write_text(json.dumps(m))
    load_model(art, threads=1)  # x86: fine
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    with pytest.raises(EdgeASRError, match="NNCF static int8 \\(encoder\\).*OpenVINO on ARM"):
        load_model(art, threads=1)
    load_model(tiny_artifacts["onnx"], threads=1)  # other artifacts load on ARM
    # a board's bench skips it with one line instead of stopping before the other artifacts
    from edgeasr.runtime.cli import main

    manifest = speech[0].audio.parent.parent / "manifest.jsonl"
    assert main(["bench", "--artifacts", str(art), "--manifest", str(manifest), "--out", str(tmp_path / "runs")]) == 0
    assert f"skipped {art}: NNCF static int8" in capsys.readouterr().out
    monkeypatch.setenv("EDGEASR_ALLOW_ARM_UNVERIFIED", "1")
    load_model(art, threads=1)
