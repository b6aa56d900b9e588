"""`faceedge run`, `faceedge serve` and `faceedge doctor`: thin commands over the runtime's library
functions."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from faceedge.errors import FaceedgeError, SourceError
from faceedge.runtime.config import (
    CLASSIFY_EVERY,
    DETECT_EVERY,
    MIN_FACE,
    PRECISIONS,
    PipelineConfig,
    pipeline_backends,
)
from faceedge.runtime.detection import DetectorChoice
from faceedge.runtime.server.options import ServeOptions
from faceedge.runtime.sources import RTSP_RETRY_FOR_S, RTSP_TIMEOUT_S

if TYPE_CHECKING:
    from faceedge.runtime.sources import SourceSpec

_SERVE = ServeOptions()  # the server's defaults, shown by --help

log = logging.getLogger(__name__)

# The values --backend takes: `auto` and the pipeline's rows of the backend table, fastest first.
BackendChoice = Enum("BackendChoice", [(name, name) for name in pipeline_backends()], type=str)
PrecisionChoice = Enum("PrecisionChoice", [(name, name) for name in PRECISIONS], type=str)


class SourceChoice(str, Enum):
    demo = "demo"


# The options `run` and `serve` share, defined once.
ModelOption = Annotated[
    Path | None,
    typer.Option(
        help="A classifier artifact (.onnx or .engine); the bundled one (gender and age) by default."
    ),
]
BackendOption = Annotated[
    BackendChoice, typer.Option(help="What runs the models; auto takes the fastest that works.")
]
DetectorOption = Annotated[
    DetectorChoice, typer.Option(help="Bundled BlazeFace short or full range, or YuNet.")
]
DetectorModelOption = Annotated[Path | None, typer.Option(help="The detector's file (required for yunet).")]
MinScoreOption = Annotated[
    float | None,
    typer.Option(min=0.0, max=1.0, help="Detection score threshold (the model's own by default)."),
]
NmsIouOption = Annotated[
    float | None,
    typer.Option(min=0.0, max=1.0, help="Overlap above which detections merge (the model's own by default)."),
]
MinFaceOption = Annotated[
    int, typer.Option(min=1, help="Faces narrower than this many pixels are not classified.")
]
CacheDirOption = Annotated[Path | None, typer.Option(help="Where the TensorRT provider caches its engines.")]
PrecisionOption = Annotated[
    PrecisionChoice,
    typer.Option(
        help="The bundled classifier: auto runs INT8 on a CPU with VNNI or ARM dot products, FP32 "
        "elsewhere and on GPUs; int8 runs on the CPU. Only auto with --model."
    ),
]


def pipeline_config(
    model: ModelOption = None,
    backend: BackendOption = BackendChoice.auto,
    detector: DetectorOption = DetectorChoice.short,
    detector_model: DetectorModelOption = None,
    min_score: MinScoreOption = None,
    nms_iou: NmsIouOption = None,
    min_face: MinFaceOption = MIN_FACE,
    precision: PrecisionOption = PrecisionChoice.auto,
    cache_dir: CacheDirOption = None,
) -> PipelineConfig:
    """The pipeline options `run` and `serve` share, as the one :class:`PipelineConfig` they make;
    its signature is those options (see :func:`_with_pipeline_options`)."""
    return PipelineConfig(
        model=model,
        backend=BackendChoice(backend).value,
        detector=detector,
        detector_model=detector_model,
        min_score=min_score,
        nms_iou=nms_iou,
        min_face=min_face,
        cache_dir=cache_dir,
        precision=PrecisionChoice(precision).value,
    )


def _with_pipeline_options(after: str) -> Callable[[Callable], Callable]:
    """A command taking ``pipeline: PipelineConfig`` becomes one with the options of
    :func:`pipeline_config` instead, listed after its option ``after`` (``--cache-dir`` last), and
    receives the config they make. Typer reads the options from the signature made here."""
    shared = list(inspect.signature(pipeline_config, eval_str=True).parameters.values())
    first, last = shared[:-1], shared[-1:]  # --cache-dir, the least used, stays at the end

    def decorate(command: Callable) -> Callable:
        own = [
            p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "pipeline"
        ]
        at = [p.name for p in own].index(after) + 1
        parameters = [*own[:at], *first, *own[at:], *last]

        @functools.wraps(command)
        def with_options(**options):
            with _in_flag_words():
                config = pipeline_config(**{p.name: options.pop(p.name) for p in shared})
            return command(pipeline=config, **options)

        with_options.__signature__ = inspect.Signature(parameters, return_annotation=None)
        with_options.__annotations__ = {p.name: p.annotation for p in parameters}
        return with_options

    return decorate


# Library messages name an option as the Python API does (`detector_model`); the CLI says its flag.
_FLAGS = {
    "`detector_model`": "--detector-model",
    "`precision`": "--precision",
    "`backend`": "--backend",
    "`model`": "--model",
    "`json_path`": "--json",
    "`events`": "--events",
    "`display=False`": "--no-display",
    "`api_key`": "--api-key",
    "`allow_anonymous`": "--allow-anonymous",
}


@contextlib.contextmanager
def _in_flag_words() -> Iterator[None]:
    """Re-raise a user error with the options it names written as this CLI's flags."""
    try:
        yield
    except FaceedgeError as exc:
        message = str(exc)
        for name, flag in _FLAGS.items():
            message = message.replace(name, flag)
        exc.args = (message,)
        raise


@_with_pipeline_options(after="loop")
def run(
    camera: Annotated[int | None, typer.Option(help="Read camera N (0 is the first).")] = None,
    video: Annotated[str | None, typer.Option(help="Read a video file.")] = None,
    image: Annotated[str | None, typer.Option(help="Read an image, a folder of images, or a glob.")] = None,
    rtsp: Annotated[str | None, typer.Option(help="Read an RTSP stream (rtsp://...).")] = None,
    rtsp_timeout: Annotated[
        float,
        typer.Option(min=0.1, help="Seconds a stream may take to open, or to send its next frame, per try."),
    ] = RTSP_TIMEOUT_S,
    rtsp_retry_for: Annotated[
        float,
        typer.Option(
            min=0.0, help="Seconds a stream may stay down, retried, before the run ends (0: no retry)."
        ),
    ] = RTSP_RETRY_FOR_S,
    source: Annotated[
        SourceChoice | None, typer.Option(help="`demo`: the short clip that ships with faceedge.")
    ] = None,
    loop: Annotated[int, typer.Option(min=1, help="Play the demo clip or the video this many times.")] = 1,
    classify_every: Annotated[
        int, typer.Option(min=1, help="Classify each tracked face every N frames (new faces at once).")
    ] = CLASSIFY_EVERY,
    detect_every: Annotated[
        int,
        typer.Option(
            min=1,
            help="Run the detector at least every N frames while every tracked face holds still; "
            "between, faces are where their tracks expect them (1: every frame).",
        ),
    ] = DETECT_EVERY,
    no_detect: Annotated[
        bool, typer.Option("--no-detect", help="Each image is one face crop already.")
    ] = False,
    json_path: Annotated[
        str | None,
        typer.Option(
            "--json",
            metavar="[PATH]",
            help="Write JSON lines, one per frame, to stdout (no PATH, or -) or to PATH.",
        ),
    ] = None,
    events: Annotated[
        bool, typer.Option("--events", help="With --json: one line per track event instead.")
    ] = False,
    save: Annotated[Path | None, typer.Option(help="Save the annotated frames as an MP4 video.")] = None,
    display: Annotated[
        bool | None,
        typer.Option("--display/--no-display", help="Show a window (default: when a display exists)."),
    ] = None,
    max_frames: Annotated[int | None, typer.Option(min=1, help="Stop after this many frames.")] = None,
    *,
    pipeline: PipelineConfig,
) -> None:
    """Detect faces, their gender and their age in a camera, video, stream, images or the demo clip."""
    from faceedge.runtime.run import RunOptions
    from faceedge.runtime.run import run as run_source

    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        _quiet_opencv()
    options = RunOptions(
        source=_source(
            camera, video, image, rtsp, source is SourceChoice.demo, loop, rtsp_timeout, rtsp_retry_for
        ),
        pipeline=dataclasses.replace(
            pipeline, classify_every=classify_every, detect_every=detect_every, detect=not no_detect
        ),
        json_path=json_path,
        events=events,
        save=save,
        display=display,
        max_frames=max_frames,
    )
    progress = _Progress() if sys.stderr.isatty() and display is False else None
    with _in_flag_words(), _terminated_exits():
        summary = run_source(options, on_frame=progress)
    if progress is not None:
        progress.clear()
    for line in summary.lines():
        typer.echo(line, err=True)
    if summary.error is not None:
        raise summary.error
    if summary.interrupted:  # the shell's convention: 128 + the signal's number
        raise typer.Exit(143 if summary.terminated else 130)


@contextlib.contextmanager
def _terminated_exits() -> Iterator[None]:
    """SIGTERM before the first frame (loading a model, opening a stream) ends the command as
    Ctrl-C would there, with SIGTERM's exit code."""
    from faceedge.runtime.run import Terminated

    try:
        yield
    except Terminated:
        typer.echo("faceedge: terminated", err=True)
        raise typer.Exit(143) from None


# How this command names each kind of source, for the message that asks for exactly one.
_SOURCE_FLAGS = {
    "camera": "--camera",
    "video": "--video",
    "image": "--image",
    "rtsp": "--rtsp",
    "demo": "--source demo",
}


def _source(
    camera: int | None,
    video: str | None,
    image: str | None,
    rtsp: str | None,
    demo: bool,
    loop: int,
    rtsp_timeout_s: float,
    rtsp_retry_for_s: float,
) -> SourceSpec:
    """The one source the flags give, as a :class:`SourceSpec`; when not exactly one, the error
    names the flags.

    Raises:
        SourceError: not exactly one source, or one that is not valid as given.
    """
    from faceedge.runtime.sources import SourceChoiceError, SourceSpec

    try:
        return SourceSpec.choose(
            camera=camera,
            video=video,
            image=image,
            rtsp=rtsp,
            demo=demo,
            loop=loop,
            rtsp_timeout_s=rtsp_timeout_s,
            rtsp_retry_for_s=rtsp_retry_for_s,
        )
    except SourceChoiceError as exc:
        got = f" (got {', '.join(_SOURCE_FLAGS[kind] for kind in exc.given)})" if exc.given else ""
        raise SourceError(
            "choose one source: --camera N, --video PATH, --image PATH, --rtsp URL or --source demo" + got
        ) from None


class _Progress:
    """A one-line frame counter on stderr, redrawn at most a few times a second."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.frames = 0

    def __call__(self, result) -> None:
        self.frames += 1
        now = time.perf_counter()
        if now - self.last >= 0.25:
            self.last = now
            rate = self.frames / (now - self.start)
            sys.stderr.write(f"\rframe {self.frames}  {rate:.0f} FPS  {len(result.faces)} faces ")
            sys.stderr.flush()

    def clear(self) -> None:
        if self.frames:
            sys.stderr.write("\r" + " " * 60 + "\r")


def _quiet_opencv() -> None:
    """Keep OpenCV's own warnings (a camera probe's, a codec's) and FFmpeg's log lines (a stream
    that times out) off the terminal; faceedge's errors say what failed. ``--verbose`` leaves them
    on, and so does an ``OPENCV_FFMPEG_LOGLEVEL`` the user set."""
    # OpenCV reads this once, when it first uses FFmpeg; -8 is FFmpeg's AV_LOG_QUIET.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    import cv2

    with contextlib.suppress(AttributeError):  # an OpenCV build without its logging module
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def doctor(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of the table.")] = False,
) -> None:
    """List what this machine can run: packages, GPUs, backends that open a session, models, I/O."""
    from faceedge.runtime.doctor import diagnose, findings_to_dicts

    findings = diagnose()
    if json_output:
        typer.echo(json.dumps(findings_to_dicts(findings), indent=2))
        return
    section = None
    for f in findings:
        if f.section != section:
            section = f.section
            typer.echo(f"{section}")
        typer.echo(f"  {'ok ' if f.ok else ' - '} {f.name:<16} {f.detail}")


@_with_pipeline_options(after="port")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback unless an API key is set).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    max_upload_mb: Annotated[float, typer.Option(min=0.01, help="Largest upload accepted, in MiB.")] = (
        _SERVE.max_upload_bytes / (1 << 20)
    ),
    max_megapixels: Annotated[
        float, typer.Option(min=0.01, help="Largest image accepted, in millions of pixels.")
    ] = _SERVE.max_pixels / 1e6,
    max_batch: Annotated[
        int, typer.Option(min=1, help="Most waiting images whose faces share one classifier call.")
    ] = _SERVE.max_batch,
    header_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds a connection has to send a request's headers.")
    ] = _SERVE.header_timeout,
    body_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds an upload may take before --min-body-rate applies.")
    ] = _SERVE.body_timeout,
    min_body_rate: Annotated[
        float, typer.Option(min=0.01, help="Slowest average upload rate accepted, in KiB/s (408 below).")
    ] = _SERVE.min_body_rate / (1 << 10),
    api_key: Annotated[
        str | None,
        typer.Option(
            help="Ask every API call for this key (header X-API-Key). Set FACEEDGE_API_KEY instead to "
            "keep the key out of the process list: a --api-key value is visible to every user in ps.",
            envvar="FACEEDGE_API_KEY",
            show_default=False,
        ),
    ] = None,
    allow_anonymous: Annotated[
        bool, typer.Option("--allow-anonymous", help="Serve a non-loopback address without an API key.")
    ] = False,
    *,
    pipeline: PipelineConfig,
) -> None:
    """Serve the runtime over HTTP: POST /v1/analyze, /healthz, /metrics, and an upload page at /."""
    from faceedge.errors import require

    require("fastapi", "serve")
    from faceedge.runtime.server.start import serve as serve_http

    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        _quiet_opencv()
    options = ServeOptions(
        pipeline=pipeline,
        max_upload_bytes=int(max_upload_mb * (1 << 20)),
        max_pixels=int(max_megapixels * 1_000_000),
        max_batch=max_batch,
        api_key=api_key or None,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        min_body_rate=int(min_body_rate * (1 << 10)),
    )
    with _in_flag_words():
        serve_http(options, host, port, allow_anonymous)
