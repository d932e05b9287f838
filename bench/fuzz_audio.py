"""Coverage-guided fuzzing (atheris) of audio decoding and feature extraction: any input must
either decode to finite 16 kHz samples or raise EdgeASRError.

    python bench/fuzz_audio.py -runs=100000        # or: make fuzz
"""

from __future__ import annotations

import os
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    import numpy as np

    from edgeasr.runtime.audio import load_audio
    from edgeasr.runtime.errors import EdgeASRError
    from edgeasr.runtime.features import log_mel

FD, PATH = tempfile.mkstemp(suffix=".audio")


def test_one_input(data: bytes) -> None:
    with open(PATH, "wb") as f:
        f.write(data)
    try:
        x = load_audio(PATH)
    except EdgeASRError:
        return
    assert x.dtype == np.float32 and np.isfinite(x).all()
    f = log_mel(x[: 16000 * 5], 80)
    assert np.isfinite(f).all()


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    try:
        atheris.Fuzz()
    finally:
        os.close(FD)
        os.unlink(PATH)
