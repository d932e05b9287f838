"""`edgeasr serve`: OpenAI-compatible transcription over HTTP (FastAPI + uvicorn, the `[serve]`
extra). One model instance; requests wait in a bounded queue and are batched through the
encoder and decoder when several are waiting; a full queue answers 429 with Retry-After, an
oversized upload 413, undecodable or too-long audio 400; a client that disconnects while
waiting gives its place back.

No `from __future__ import annotations` here: FastAPI reads the route functions' annotations
at run time, and `Request` is imported inside `create_app` (the [serve] extra is optional).
"""

import asyncio
import math
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeasr.runtime.audio import SAMPLE_RATE, load_audio
from edgeasr.runtime.errors import EdgeASRError
from edgeasr.runtime.families.base import Transcript
from edgeasr.runtime.formats import FORMATS, render
from edgeasr.runtime.model import Model


@dataclass
class Limits:
    max_batch: int = 4
    max_queue: int = 16
    max_upload_mb: float = 25.0
    max_audio_seconds: float = 1800.0


@dataclass
class Job:
    audio: np.ndarray
    language: str | None
    context: str | None
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    queued_at: float = field(default_factory=time.perf_counter)
    cancelled: bool = False


class QueueFull(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after


class Batcher:
    """A worker thread that runs waiting jobs through the model, several at a time."""

    def __init__(self, model: Model, limits: Limits, metrics: "Metrics") -> None:
        self.model, self.limits, self.metrics = model, limits, metrics
        self.jobs: deque[Job] = deque()
        self.cond = threading.Condition()
        self.busy_s = 1.0  # moving average of seconds per batch, for Retry-After
        threading.Thread(target=self._run, name="edgeasr-batcher", daemon=True).start()

    def submit(self, job: Job) -> None:
        with self.cond:
            if len(self.jobs) >= self.limits.max_queue:
                waves = math.ceil((len(self.jobs) + 1) / self.limits.max_batch)
                raise QueueFull(max(1, math.ceil(waves * self.busy_s)))
            self.jobs.append(job)
            self.metrics.queue.set(len(self.jobs))
            self.cond.notify()

    def cancel(self, job: Job) -> None:
        """The client went away: free its place if it is still waiting."""
        with self.cond:
            job.cancelled = True
            if job in self.jobs:
                self.jobs.remove(job)
                self.metrics.queue.set(len(self.jobs))

    def _take(self) -> list[Job]:
        """The oldest job and up to max_batch-1 more with the same language and context."""
        with self.cond:
            while not self.jobs:
                self.cond.wait()
            first = self.jobs.popleft()
            batch = [first]
            for j in list(self.jobs):
                if len(batch) >= self.limits.max_batch:
                    break
                if (j.language, j.context) == (first.language, first.context):
                    self.jobs.remove(j)
                    batch.append(j)
            self.metrics.queue.set(len(self.jobs))
            return batch

    def _run(self) -> None:
        while True:
            batch = [j for j in self._take() if not j.cancelled]
            if not batch:
                continue
            t0 = time.perf_counter()
            try:
                results: list[Any] = self.model.transcribe(
                    [j.audio for j in batch], batch[0].language, batch[0].context, batch_size=len(batch)
                )
            except Exception as exc:
                results = [exc] * len(batch)
            self.busy_s = 0.8 * self.busy_s + 0.2 * (time.perf_counter() - t0)
            self.metrics.batch.observe(len(batch))
            for job, res in zip(batch, results):
                setter = job.future.set_exception if isinstance(res, Exception) else job.future.set_result
                job.loop.call_soon_threadsafe(_settle, job.future, setter, res)


def _settle(future: asyncio.Future, setter: Any, value: Any) -> None:
    if not future.done():
        setter(value)


class Metrics:
    """Prometheus metrics in a registry of this server's own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "edgeasr_requests", "Transcription requests by HTTP status", ["status"], registry=self.registry
        )
        self.queue = Gauge("edgeasr_queue_depth", "Requests waiting for the model", registry=self.registry)
        self.latency = Histogram(
            "edgeasr_request_latency_seconds",
            "Time from upload received to response, successful requests",
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.audio = Counter("edgeasr_audio_seconds", "Seconds of audio transcribed", registry=self.registry)
        self.batch = Histogram(
            "edgeasr_batch_size", "Requests per model call", buckets=(1, 2, 4, 8, 16, 32), registry=self.registry
        )


def create_app(model: Model, limits: Limits | None = None, model_name: str | None = None) -> Any:
    """The FastAPI application around one loaded model."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, PlainTextResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    limits = limits or Limits()
    metrics = Metrics()
    batcher = Batcher(model, limits, metrics)
    name = model_name or model.artifact.path.name
    app = FastAPI(title="edgeasr", version="0.1.0")

    def error(status: int, message: str, kind: str = "invalid_request_error", headers: dict | None = None) -> Response:
        metrics.requests.labels(status=str(status)).inc()
        return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status, headers=headers)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": name, "queue": len(batcher.jobs), "backend": model.backend}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "edgeasr"}]}

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> Response:
        t0 = time.perf_counter()
        limit = int(limits.max_upload_mb * 1e6)
        if int(request.headers.get("content-length") or 0) > limit + 65536:
            return error(413, f"upload larger than {limits.max_upload_mb:g} MB")
        form = await request.form(max_part_size=limit + 1)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return error(400, "missing multipart field 'file'")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            return error(413, f"upload larger than {limits.max_upload_mb:g} MB")
        fmt = str(form.get("response_format") or "json")
        if fmt not in FORMATS:
            return error(400, f"response_format must be one of {', '.join(FORMATS)}")
        try:
            audio = await asyncio.to_thread(_decode, data, upload.filename or "upload")
        except EdgeASRError as exc:
            return error(400, str(exc))
        seconds = audio.size / SAMPLE_RATE
        if seconds > limits.max_audio_seconds:
            return error(
                400, f"audio is {seconds:.0f} s long; this server takes at most {limits.max_audio_seconds:g} s"
            )
        language = str(form.get("language") or "") or None
        context = str(form.get("prompt") or "") or None
        loop = asyncio.get_running_loop()
        job = Job(audio, language, context, loop, loop.create_future())
        try:
            batcher.submit(job)
        except QueueFull as full:
            return error(429, "server busy: queue full", "rate_limit_error", {"Retry-After": str(full.retry_after)})
        while not job.future.done():
            if await request.is_disconnected():
                batcher.cancel(job)
                metrics.requests.labels(status="499").inc()
                return Response(status_code=499)
            await asyncio.wait([job.future], timeout=0.25)
        try:
            result: Transcript = job.future.result()
        except EdgeASRError as exc:
            return error(400, str(exc))
        metrics.requests.labels(status="200").inc()
        metrics.latency.observe(time.perf_counter() - t0)
        metrics.audio.inc(seconds)
        body = render(result, fmt)
        if fmt in ("json", "verbose_json"):
            return Response(body, media_type="application/json")
        return PlainTextResponse(body)

    app.state.batcher = batcher
    return app


def _decode(data: bytes, filename: str) -> np.ndarray:
    """Decode an upload through the same loader as files (any format libsndfile reads)."""
    suffix = "." + filename.rsplit(".", 1)[-1] if "." in filename else ".audio"
    with tempfile.NamedTemporaryFile(suffix=suffix[:10]) as f:
        f.write(data)
        f.flush()
        try:
            return load_audio(f.name)
        except EdgeASRError as exc:
            raise EdgeASRError(str(exc).replace(f.name, filename)) from None


def serve(model: Model, host: str, port: int, limits: Limits) -> None:
    """Run the server until interrupted."""
    import uvicorn

    uvicorn.run(create_app(model, limits), host=host, port=port, log_level="warning")
