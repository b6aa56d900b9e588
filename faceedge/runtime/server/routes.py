"""The server's routes: ``POST /v1/analyze``, ``GET /healthz``, ``GET /metrics`` and the upload page.

Every refusal is a :class:`Refusal`: its status, the reason it is counted under in the metrics, and
a ``{"detail": ...}`` that says what is wrong (the app turns it into the response).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from pathlib import Path

import anyio
from fastapi import APIRouter, Request, Security
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from starlette.requests import ClientDisconnect

from faceedge.errors import ImageDecodeError, ImageTooLargeError, ServerBusy, UnreadHeaderError
from faceedge.imaging import decode_image
from faceedge.runtime.pipeline import FacePipeline
from faceedge.runtime.server.batcher import BatchingAnalyzer
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
_KEY_HEADER = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="The server's API key.")


class Refusal(Exception):
    """A request the server will not serve: its status, a metrics reason, and what to tell the client;
    ``close``: the connection is closed after the answer (the rest of the request is not waited for)."""

    def __init__(self, status: int, reason: str, detail: str, close: bool = False) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail, self.close = status, reason, detail, close


class PageFiles(StaticFiles):
    """The page's files (under ``/page``), each served with the headers ``/`` has."""

    def file_response(self, *args, **kwargs) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(_PAGE_HEADERS)
        return response


class ServerRoutes:
    """The routes over one shared analyzer, made once per app: :meth:`router` registers them.

    At most ``options.queue_limit`` requests are admitted at once (503 beyond), and
    :data:`DECODERS` images are decoded at a time.
    """

    def __init__(
        self,
        options: ServeOptions,
        analyzer: BatchingAnalyzer,
        metrics: ServerMetrics,
        pipeline: FacePipeline,
    ) -> None:
        self.options = options
        self.analyzer = analyzer
        self.metrics = metrics
        self.pipeline = pipeline
        self.model_id = pipeline.classifier.manifest.model_id
        self.outputs = [output.name for output in pipeline.classifier.manifest.outputs]
        self.admitted = asyncio.Semaphore(options.queue_limit)  # requests between first byte and answer
        self.decoding = asyncio.Semaphore(DECODERS)  # a decode may briefly need several times its image

    def router(self) -> APIRouter:
        """The routes, with the API key asked for where one is set (and 401 in the schema only then)."""
        keyed = self.options.api_key is not None
        responses = {s: r for s, r in ERROR_RESPONSES.items() if s != 401 or keyed}
        guarded = [Security(self.check_key)] if keyed else []
        router = APIRouter()
        router.add_api_route(
            "/v1/analyze",
            self.analyze,
            methods=["POST"],
            response_model=AnalyzeResult,
            responses=responses,
            openapi_extra=REQUEST_BODY,
            dependencies=guarded,
            summary="Find the faces in an image, their gender and, where the model estimates it, their age",
        )
        router.add_api_route(
            "/healthz",
            self.healthz,
            methods=["GET"],
            response_model=Health,
            responses={503: {"model": Health, "description": "The pipeline's worker has stopped"}},
            summary="Whether the server is up, and what it runs",
        )
        router.add_api_route(
            "/metrics",
            self.prometheus,
            methods=["GET"],
            dependencies=guarded,
            summary="Prometheus metrics",
            response_class=Response,
            responses={
                200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
                **{status: r for status, r in responses.items() if status == 401},
            },
        )
        router.add_api_route("/", self.page, methods=["GET"], include_in_schema=False)
        return router

    def check_key(self, key: str | None = Security(_KEY_HEADER)) -> None:
        # Compared in constant time: how long a wrong key takes says nothing about the right one.
        if self.options.api_key is None:
            return
        if key is None or not hmac.compare_digest(key.encode(), self.options.api_key.encode()):
            raise Refusal(401, "unauthorized", f"a valid {API_KEY_HEADER} header is required")

    async def analyze(self, request: Request) -> AnalyzeResult:
        """The image is the body (`image/*` or `application/octet-stream`) or the `image` field of a
        `multipart/form-data` form."""
        content_type = _accepted_content_type(request)  # before reading a body it would refuse
        if self.admitted.locked():
            raise Refusal(
                503, "busy", f"{self.options.queue_limit} requests are already in progress; try again shortly"
            )
        async with self.admitted:
            return await self._analyze(request, content_type)

    async def _analyze(self, request: Request, content_type: str) -> AnalyzeResult:
        options = self.options
        body = await _read_body(request, options)
        started = time.perf_counter()  # the body is in: from here on the time is the server's
        try:
            async with self.decoding:  # a form is parsed off the event loop, as an image is decoded
                data = await asyncio.to_thread(_image_bytes, body, content_type)
                bgr = await asyncio.to_thread(decode_image, data, options.max_pixels, sized_formats_only=True)
        except ImageTooLargeError as exc:
            raise Refusal(413, "too_many_pixels", f"the image is too large: {exc}") from None
        except UnreadHeaderError as exc:
            raise Refusal(400, "not_an_image", f"the body is not an image faceedge takes: {exc}") from None
        except ImageDecodeError as exc:
            raise Refusal(400, "not_an_image", f"the body is not a readable image: {exc}") from None
        decoded = time.perf_counter()
        try:
            future = self.analyzer.submit(bgr)
        except ServerBusy as exc:
            raise Refusal(503, "busy", str(exc)) from None
        analysis = await asyncio.wrap_future(future)
        self.metrics.faces.inc(len(analysis.result.faces))
        timings = {
            "decode_ms": 1000 * (decoded - started),
            "total_ms": 1000 * (time.perf_counter() - started),
        }
        return to_result(bgr.shape, analysis, timings, self.model_id)

    async def healthz(self) -> Health | JSONResponse:
        analyzer, options = self.analyzer, self.options
        health = Health(
            status="ok" if analyzer.alive else "stopped",
            model=self.model_id,
            outputs=self.outputs,
            backends=self.pipeline.backends,
            api_key_required=options.api_key is not None,
            max_upload_bytes=options.max_upload_bytes,
            max_pixels=options.max_pixels,
            images_waiting=analyzer.waiting,
        )
        return health if analyzer.alive else JSONResponse(health.model_dump(), status_code=503)

    async def prometheus(self) -> Response:
        body, content_type = self.metrics.exposition()
        return Response(body, media_type=content_type)

    async def page(self) -> FileResponse:
        return FileResponse(PAGE_DIR / "index.html", headers=_PAGE_HEADERS)


async def _read_body(request: Request, options: ServeOptions) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed ``options.max_upload_bytes``,
    and (408) as soon as it arrives slower than ``options.min_body_rate`` bytes per second on average
    once ``options.body_timeout`` seconds have passed: a client that trickles its body would hold
    its slot for as long as it liked."""
    limit = options.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refusal(413, "too_large", f"the body is {int(declared)} bytes; the limit is {limit}")
    chunks, size = [], 0
    started = anyio.current_time()
    try:
        with anyio.CancelScope(deadline=started + options.body_timeout) as reading:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise Refusal(413, "too_large", f"the body is over the limit of {limit} bytes")
                chunks.append(chunk)
                reading.deadline = started + options.body_timeout + size / options.min_body_rate
    except ClientDisconnect:
        raise Refusal(400, "disconnected", "the client went away before the body was complete") from None
    if reading.cancelled_caught:
        raise Refusal(
            408,
            "slow_body",
            f"the body arrived too slowly ({size} bytes in {anyio.current_time() - started:.0f} s): it must "
            f"arrive at {options.min_body_rate} bytes/s or more after the first {options.body_timeout:g} s",
            close=True,
        )
    return b"".join(chunks)


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _accepted_content_type(request: Request) -> str:
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
    """The image in a request: the body itself, or the image field of a multipart form.

    Raises:
        Refusal: an empty body or image, or a form that is malformed or has no image field.
    """
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
