"""`edgeasr serve` with the real `openai` client on loopback: every response format, the
models/health/metrics endpoints, and the limits (413, 400, 429 with Retry-After)."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from edgeasr.runtime import load_model
from edgeasr.runtime.metrics import error_rates, normalize
from edgeasr.runtime.server import Limits, create_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn in a thread, on a free loopback port."""

    def __init__(self, artifact: Path, limits: Limits) -> None:
        import uvicorn

        self.port = _free_port()
        app = create_app(load_model(artifact, threads=2), limits, model_name="tiny.en")
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started and time.time() < deadline:
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(tiny_artifacts):
    s = Server(tiny_artifacts["onnx"], Limits(max_batch=4, max_queue=8, max_upload_mb=2.0, max_audio_seconds=60))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    from openai import OpenAI

    return OpenAI(api_key="unused", base_url=server.url + "/v1", max_retries=0)


def test_every_response_format(client, speech):
    clip = speech[1]
    with open(clip.audio, "rb") as f:
        plain = client.audio.transcriptions.create(model="tiny.en", file=f)
    assert error_rates([normalize(clip.text)], [normalize(plain.text)])["wer"] < 0.2
    for fmt in ("text", "srt", "vtt"):
        with open(clip.audio, "rb") as f:
            out = client.audio.transcriptions.create(model="tiny.en", file=f, response_format=fmt)
        assert isinstance(out, str) and plain.text in out
    with open(clip.audio, "rb") as f:
        srt = client.audio.transcriptions.create(model="tiny.en", file=f, response_format="srt")
    assert srt.startswith("1\n00:00:00,000 --> ")
    with open(clip.audio, "rb") as f:
        vtt = client.audio.transcriptions.create(model="tiny.en", file=f, response_format="vtt")
    assert vtt.startswith("WEBVTT")
    with open(clip.audio, "rb") as f:
        verbose = client.audio.transcriptions.create(
            model="tiny.en",
            file=f,
            response_format="verbose_json",
            language="en",
            prompt="Travel plans.",
            temperature=0.0,
        )
    assert (
        verbose.text and verbose.language == "en" and verbose.duration == pytest.approx(clip.extra["seconds"], abs=0.05)
    )
    assert verbose.segments[0].start == 0.0 and verbose.segments[-1].end == pytest.approx(verbose.duration, abs=0.05)


def test_models_health_metrics(client, server, speech):
    assert [m.id for m in client.models.list().data] == ["tiny.en"]
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    with open(speech[0].audio, "rb") as f:
        client.audio.transcriptions.create(model="tiny.en", file=f)
    text = httpx.get(server.url + "/metrics").text
    for name in ("edgeasr_requests_total", "edgeasr_queue_depth", "edgeasr_request_latency_seconds_bucket",
                 "edgeasr_audio_seconds_total", "edgeasr_batch_size_bucket"):  # fmt: skip
        assert name in text


def test_bad_requests(server, tmp_path):
    url = server.url + "/v1/audio/transcriptions"
    r = httpx.post(url, files={"file": ("big.wav", b"\0" * 2_100_000)}, data={"model": "m"})
    assert r.status_code == 413 and "larger than 2 MB" in r.json()["error"]["message"]
    r = httpx.post(url, files={"file": ("notes.mp3", b"hello, not audio")}, data={"model": "m"})
    assert r.status_code == 400 and "notes.mp3: cannot decode audio" in r.json()["error"]["message"]
    r = httpx.post(url, data={"model": "m"})
    assert r.status_code == 400
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "long.wav", np.zeros(16000 * 61, np.int16), 16000, subtype="PCM_16")  # 61 s, 1.95 MB
    r = httpx.post(url, files={"file": ("long.wav", (tmp_path / "long.wav").read_bytes())}, data={"model": "m"})
    assert r.status_code == 400 and "at most 60 s" in r.json()["error"]["message"]
    r = httpx.post(url, files={"file": ("x.wav", b"x")}, data={"model": "m", "response_format": "mp4"})
    assert r.status_code == 400


def test_full_queue_answers_429_and_the_server_stays_up(tiny_artifacts, speech):
    s = Server(tiny_artifacts["onnx"], Limits(max_batch=1, max_queue=1))
    try:
        audio = Path(speech[-1].audio).read_bytes()

        def post(_: int) -> httpx.Response:
            return httpx.post(
                s.url + "/v1/audio/transcriptions", files={"file": ("a.wav", audio)}, data={"model": "m"}, timeout=120
            )

        with ThreadPoolExecutor(8) as pool:
            codes = [r.status_code for r in pool.map(post, range(8))]
        busy = [r for r in codes if r == 429]
        assert busy and codes.count(200) >= 2 and set(codes) <= {200, 429}, codes
        r = post(0)
        assert r.status_code == 200 and json.loads(r.text)["text"]
    finally:
        s.stop()


def test_retry_after_header(tiny_artifacts, speech):
    s = Server(tiny_artifacts["onnx"], Limits(max_batch=1, max_queue=0))
    try:
        r = httpx.post(
            s.url + "/v1/audio/transcriptions",
            files={"file": ("a.wav", Path(speech[0].audio).read_bytes())},
            data={"model": "m"},
        )
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    finally:
        s.stop()


def test_a_client_that_disconnects_frees_its_place(tiny_artifacts, speech, tmp_path):
    import numpy as np
    import soundfile as sf

    from edgeasr.runtime.audio import load_audio

    long = np.concatenate([load_audio(c.audio) for c in speech] * 2)  # ~80 s: keeps the worker busy
    sf.write(tmp_path / "long.wav", long, 16000)
    s = Server(tiny_artifacts["onnx"], Limits(max_batch=1, max_queue=1))
    url = s.url + "/v1/audio/transcriptions"
    short = Path(speech[0].audio).read_bytes()
    try:
        with ThreadPoolExecutor(1) as pool:
            busy = pool.submit(
                httpx.post, url, files={"file": ("long.wav", (tmp_path / "long.wav").read_bytes())}, timeout=300
            )
            time.sleep(1.0)  # the long request is now in the model
            with pytest.raises(httpx.ReadTimeout):  # waits in the only queue slot, then gives up
                httpx.post(url, files={"file": ("a.wav", short)}, timeout=1.0)
            time.sleep(0.6)  # the server notices the disconnect within 0.25 s
            assert httpx.get(s.url + "/health").json()["queue"] == 0
            r = httpx.post(url, files={"file": ("b.wav", short)}, timeout=300)  # the freed slot takes it
            assert r.status_code == 200, r.text
            assert busy.result().status_code == 200
    finally:
        s.stop()
