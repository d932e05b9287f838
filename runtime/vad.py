"""Voice activity: speech probability every 32 ms, from Silero VAD's ONNX model (copied into
the artifact at build time as `vad.onnx`; MIT licence) or, without it, from an energy
detector. Used to cut long audio at pauses and to recognise audio with no speech at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeasr.runtime.audio import as_float

FRAME = 512  # samples per decision at 16 kHz (32 ms), Silero's native window
CONTEXT = 64  # Silero v5+ sees the last 64 samples of the previous window too


class SileroVAD:
    """Silero VAD v5/v6 (16 kHz): one LSTM step per 512-sample frame, state carried along."""

    name = "silero"

    def __init__(self, path: Path, backend: str = "onnxruntime") -> None:
        from edgeasr.runtime.backends import open_graph

        # one thread: the model is tiny, and the ASR graphs keep the others
        self.graph = open_graph(path, backend, threads=1, precision="f32")
        self._sr = np.array(16000, dtype=np.int64)

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability of each 32 ms frame of 16 kHz mono audio (float32 or int16)."""
        n = audio.size // FRAME
        probs = np.empty(n, dtype=np.float32)
        state = np.zeros((2, 1, 128), dtype=np.float32)
        context = np.zeros(CONTEXT, dtype=np.float32)
        feeds = {"sr": self._sr}
        for i in range(n):
            frame = as_float(audio[i * FRAME : (i + 1) * FRAME])
            feeds["input"] = np.concatenate([context, frame])[None]
            feeds["state"] = state
            out = self.graph.run(feeds)
            probs[i] = out["output"][0, 0]
            state = out["stateN"]
            context = frame[-CONTEXT:]
        return probs


class EnergyVAD:
    """Fallback detector: frame energy against the file's own noise floor (its 10th percentile)
    and an absolute floor, mapped to a 0-1 score, so quiet rooms and noisy ones both work."""

    name = "energy"

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        n = audio.size // FRAME
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        frames = as_float(audio[: n * FRAME]).reshape(n, FRAME)
        db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
        floor = max(np.percentile(db, 10), -70.0)
        # 0.5 at 9 dB above the floor; never speech below -55 dBFS
        score = 1 / (1 + np.exp(-(db - floor - 9.0) / 2.0))
        score[db < -55.0] = 0.0
        return score.astype(np.float32)


def load_vad(artifact_dir: Path | None, backend: str = "onnxruntime") -> SileroVAD | EnergyVAD:
    """The artifact's Silero model if it has one (and ONNX Runtime is there), else energy."""
    if artifact_dir is not None and (artifact_dir / "vad.onnx").is_file():
        try:
            return SileroVAD(artifact_dir / "vad.onnx", "onnxruntime")
        except Exception:
            try:
                return SileroVAD(artifact_dir / "vad.onnx", "openvino")
            except Exception:
                pass
    return EnergyVAD()
