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
import hmac
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Security
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from starlette.requests import ClientDisconnect

from faceedge.errors import ImageDecodeError, ImageTooLargeError, UnreadHeaderError
from faceedge.imaging import decode_image
from faceedge.runtime.server.batcher import BatchingAnalyzer, ServerBusy
from faceedge.runtime.server.metrics import ServerMetrics
from faceedge.runtime.server.multipart import FIELD, FormError, form_image
from faceedge.runtime.server.options import ServeOptions
from faceedge.runtime.server.schema import (
    ERROR_RESPONSES,
    RAW_TYPES,
    REQUEST_BODY,
    AnalyzeResult,
    Health,
    to_result,
)

log = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).with_name("page")
API_KEY_HEADER = "X-API-Key"
# Images decoded at once: few enough to bound memory, enough for requests to pile up into batches
# (measured on 2 cores with 32 clients: 2 at a time made batches of 2 and cost a fifth of the rate).
DECODERS = 6
_PAGE_HEADERS = {
    # Everything the page needs comes from this server; the photo is shown from a blob: URL.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; style-src 'self'",
    "X-Content-Type-Options": "nosniff",
}


class Refusal(Exception):
    """A request the server will not serve: its status, a metrics reason, and what to tell the client."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


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
        pipeline = FacePipeline(
            options.model,
            options.backend,
            options.detector,
            options.detector_model,
            options.min_score,
            options.nms_iou,
            track=False,
            min_face=options.min_face,
            cache_dir=options.cache_dir,
        )
    metrics = ServerMetrics()
    analyzer = BatchingAnalyzer(
        pipeline, options.max_batch, options.queue_limit, 4 * options.max_pixels, metrics.batch_images.observe
    )
    metrics.queue.set_function(lambda: analyzer.waiting)  # read when scraped, never stale
    model_id = pipeline.classifier.manifest.model_id
    admitted = asyncio.Semaphore(options.queue_limit)  # requests between their first byte and answer
    decoding = asyncio.Semaphore(DECODERS)  # a decode may briefly need several times its image
    responses = {s: r for s, r in ERROR_RESPONSES.items() if s != 401 or options.api_key is not None}

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
        summary="Faces and their gender in uploaded images.",
        lifespan=lifespan,
        # FastAPI's /docs and /redoc pages load their scripts from a CDN; nothing here is fetched
        # from elsewhere. The schema itself is at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.analyzer = analyzer
    app.state.metrics = metrics

    @app.exception_handler(Refusal)
    async def refused(_request: Request, refusal: Refusal) -> JSONResponse:
        metrics.errors.labels(refusal.reason).inc()
        headers = {"Retry-After": "1"} if refusal.status == 503 else None
        return JSONResponse({"detail": refusal.detail}, status_code=refusal.status, headers=headers)

    @app.exception_handler(Exception)
    async def failed(_request: Request, exc: Exception) -> JSONResponse:
        # Not the client's doing (a backend that failed mid-run, a bug): said as JSON, and counted.
        log.error("a request failed: %s", exc, exc_info=exc)
        metrics.errors.labels("internal").inc()
        return JSONResponse({"detail": f"the server failed on this request: {exc}"}, status_code=500)

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

    key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="The server's API key.")

    def check_key(key: str | None = Security(key_header)) -> None:
        if options.api_key is None:
            return
        if key is None or not hmac.compare_digest(key.encode(), options.api_key.encode()):
            raise Refusal(401, "unauthorized", f"a valid {API_KEY_HEADER} header is required")

    guarded = [Security(check_key)] if options.api_key is not None else []

    @app.post(
        "/v1/analyze",
        response_model=AnalyzeResult,
        responses=responses,
        openapi_extra=REQUEST_BODY,
        dependencies=guarded,
        summary="Find the faces in an image and their gender",
    )
    async def analyze(request: Request) -> AnalyzeResult:
        """The image is the body (`image/*` or `application/octet-stream`) or the `image` field of a
        `multipart/form-data` form."""
        content_type = _accepted_content_type(request)  # before reading a body it would refuse
        if admitted.locked():
            raise Refusal(
                503, "busy", f"{options.queue_limit} requests are already in progress; try again shortly"
            )
        async with admitted:
            return await _analyze(request, content_type)

    async def _analyze(request: Request, content_type: str) -> AnalyzeResult:
        data = _image_bytes(await _read_body(request, options.max_upload_bytes), content_type)
        started = time.perf_counter()  # the body is in: from here on the time is the server's
        try:
            async with decoding:
                bgr = await asyncio.to_thread(decode_image, data, options.max_pixels, sized_formats_only=True)
        except ImageTooLargeError as exc:
            raise Refusal(413, "too_many_pixels", f"the image is too large: {exc}") from None
        except UnreadHeaderError as exc:
            raise Refusal(400, "not_an_image", f"the body is not an image faceedge takes: {exc}") from None
        except ImageDecodeError as exc:
            raise Refusal(400, "not_an_image", f"the body is not a readable image: {exc}") from None
        decoded = time.perf_counter()
        try:
            future = analyzer.submit(bgr)
        except ServerBusy as exc:
            raise Refusal(503, "busy", str(exc)) from None
        analysis = await asyncio.wrap_future(future)
        metrics.faces.inc(len(analysis.result.faces))
        timings = {
            "decode_ms": 1000 * (decoded - started),
            "total_ms": 1000 * (time.perf_counter() - started),
        }
        return to_result(bgr.shape, analysis, timings, model_id)

    @app.get(
        "/healthz",
        response_model=Health,
        responses={503: {"model": Health, "description": "The pipeline's worker has stopped"}},
        summary="Whether the server is up, and what it runs",
    )
    async def healthz() -> Health | JSONResponse:
        health = Health(
            status="ok" if analyzer.alive else "stopped",
            model=model_id,
            backends=pipeline.backends,
            api_key_required=options.api_key is not None,
            max_upload_bytes=options.max_upload_bytes,
            max_pixels=options.max_pixels,
            images_waiting=analyzer.waiting,
        )
        return health if analyzer.alive else JSONResponse(health.model_dump(), status_code=503)

    @app.get(
        "/metrics",
        dependencies=guarded,
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
            **{status: r for status, r in responses.items() if status == 401},
        },
    )
    async def prometheus() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(PAGE_DIR / "index.html", headers=_PAGE_HEADERS)

    app.mount("/page", StaticFiles(directory=PAGE_DIR), name="page")
    return app


async def _read_body(request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refusal(413, "too_large", f"the body is {int(declared)} bytes; the limit is {limit}")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Refusal(413, "too_large", f"the body is over the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise Refusal(400, "disconnected", "the client went away before the body was complete") from None
    return b"".join(chunks)


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _accepted_content_type(request) -> str:
    """The request's content type, refused (415) unless it can carry an image."""
    content_type = request.headers.get("content-type", "")
    media_type = _media_type(content_type)
    if media_type != "multipart/form-data" and media_type not in RAW_TYPES:
        raise Refusal(
            415,
            "content_type",
            f"cannot take {media_type or 'a body without a content type'}: send the image as the body "
            f"(Content-Type image/jpeg, image/png, ... or application/octet-stream) or as the "
            f"{FIELD!r} field of a multipart/form-data form",
        )
    return content_type


def _image_bytes(body: bytes, content_type: str) -> bytes:
    """The image in a request: the body itself, or the image field of a multipart form."""
    if not body:
        raise Refusal(400, "empty", "the body is empty: it should be an image")
    data = body
    if _media_type(content_type) == "multipart/form-data":
        try:
            data = form_image(body, content_type)
        except FormError as exc:
            raise Refusal(400, "bad_form", str(exc)) from None
    if not data:
        raise Refusal(400, "empty", "the image is empty")
    return data
