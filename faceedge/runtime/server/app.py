"""The runtime behind an HTTP API: ``POST /v1/analyze``, ``GET /healthz``, ``GET /metrics`` and an
upload page at ``/``.

One pipeline is loaded when the app is made and shared by every request (see :mod:`.batcher`).
Uploads are read into memory, capped at ``max_upload_bytes`` while they stream in, and never written
to disk; an image whose header announces more than ``max_pixels`` pixels is refused before its
pixels are decoded. Memory stays bounded under load: at most ``queue_limit`` requests are admitted
at once (503 beyond), six images are decoded at a time, and the decoded images waiting for the
pipeline hold at most ``4 * max_pixels`` pixels. Every refusal has a ``{"detail": ...}`` body that
says what is wrong: a 4xx for a request the server will never take, 503 for one it cannot take now.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import replace

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from faceedge.runtime.server.batcher import BatchingAnalyzer
from faceedge.runtime.server.metrics import ServerMetrics
from faceedge.runtime.server.options import ServeOptions
from faceedge.runtime.server.routes import PAGE_DIR, PageFiles, Refusal, ServerRoutes

log = logging.getLogger(__name__)


def create_app(options: ServeOptions | None = None, pipeline=None):
    """The ASGI app. ``pipeline`` (a :class:`FacePipeline` without tracking) is built from ``options``
    when not given; ``options`` default to :class:`ServeOptions`' defaults.

    Raises:
        ModelError, BackendError: the models do not load or the backend cannot run here.
    """
    from faceedge import __version__
    from faceedge.runtime.pipeline import FacePipeline

    options = options or ServeOptions()
    if pipeline is None:
        pipeline = FacePipeline(replace(options.pipeline, track=False))  # each request is one image
    metrics = ServerMetrics()
    analyzer = BatchingAnalyzer(
        pipeline, options.max_batch, options.queue_limit, 4 * options.max_pixels, metrics.batch_images.observe
    )
    metrics.queue.set_function(lambda: analyzer.waiting)  # read when scraped, never stale

    @asynccontextmanager
    async def lifespan(_app):
        # The pipeline lives as long as the app (loaded above, so that a model that does not load
        # fails before the server listens; freed by start.serve()); its worker runs while the app serves.
        analyzer.start()
        yield
        await asyncio.to_thread(analyzer.stop)

    app = FastAPI(
        title="faceedge",
        version=__version__,
        summary="Faces, their gender and their age in uploaded images.",
        lifespan=lifespan,
        # FastAPI's /docs and /redoc pages load their scripts from a CDN; nothing here is fetched
        # from elsewhere. The schema itself is at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.analyzer = analyzer
    app.state.metrics = metrics
    _answer_errors(app, metrics)
    _measure_requests(app, metrics)
    app.include_router(ServerRoutes(options, analyzer, metrics, pipeline).router())
    app.mount("/page", PageFiles(directory=PAGE_DIR), name="page")
    return app


def _answer_errors(app: FastAPI, metrics: ServerMetrics) -> None:
    """Refusals and failures answered as ``{"detail": ...}`` JSON, each counted by its reason."""

    @app.exception_handler(Refusal)
    async def refused(_request: Request, refusal: Refusal) -> JSONResponse:
        metrics.errors.labels(refusal.reason).inc()
        headers = {"Retry-After": "1"} if refusal.status == 503 else {}
        if refusal.close:
            headers["Connection"] = "close"
        return JSONResponse({"detail": refusal.detail}, status_code=refusal.status, headers=headers)

    @app.exception_handler(Exception)
    async def failed(_request: Request, exc: Exception) -> JSONResponse:
        # Not the client's doing (a backend that failed mid-run, a bug): said as JSON, and counted.
        log.error("a request failed: %s", exc, exc_info=exc)
        metrics.errors.labels("internal").inc()
        return JSONResponse({"detail": f"the server failed on this request: {exc}"}, status_code=500)


def _measure_requests(app: FastAPI, metrics: ServerMetrics) -> None:
    """Every request counted by route and status, and timed by route."""

    @app.middleware("http")
    async def measure(request: Request, call_next):
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = getattr(request.scope.get("route"), "path", "unmatched")  # bounded labels, not raw paths
            metrics.requests.labels(route, str(status)).inc()
            metrics.latency.labels(route).observe(time.perf_counter() - started)
