"""`faceedge run`: frames from a source through the pipeline to the outputs, and a summary.

Files (video, images, the demo clip) are read frame by frame with nothing dropped, up to
:data:`PREFETCH` frames ahead in a reader thread, so that decoding overlaps inference on a second
core. Live sources read in
their own thread and hand over their newest frame (see :mod:`faceedge.runtime.sources`).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from faceedge.errors import FaceedgeError, OutputError, SourceError
from faceedge.paths import check_writable, refuse_overwriting
from faceedge.runtime.config import PipelineConfig
from faceedge.runtime.outputs import (
    Display,
    JsonLinesWriter,
    VideoSaver,
    check_video_path,
    display_available,
    draw,
)
from faceedge.runtime.pipeline import STAGES, FacePipeline, FrameResult
from faceedge.runtime.sources import FrameSource, SourceSpec, open_source, prefetched

log = logging.getLogger(__name__)

PREFETCH = 4  # frames a file source may decode ahead


class Terminated(KeyboardInterrupt):
    """SIGTERM (``docker stop``, systemd, ``timeout``) during :func:`run`, raised in the main thread
    as Ctrl-C raises KeyboardInterrupt, so that the run ends in the same way."""


@dataclass
class RunSummary:
    """What a run did: counts, throughput, and the mean milliseconds of each stage per frame."""

    source: str
    frames: int = 0
    faces: int = 0
    events: int = 0
    detector_skipped: int = 0  # frames the detector skipped, their faces where the tracks expected them
    seconds: float = 0.0
    first_frame_s: float | None = None  # from the start of the run to the first frame's result
    stage_ms: dict[str, float] = field(default_factory=dict)  # summed; see mean_ms
    skipped: list[tuple[str, str]] = field(default_factory=list)
    reconnects: int = 0
    dropped: int = 0
    interrupted: bool = False  # by Ctrl-C or SIGTERM
    terminated: bool = False  # by SIGTERM
    error: FaceedgeError | None = None  # what ended the run early, if anything did
    started: float = field(default_factory=time.perf_counter)

    def add(self, result: FrameResult, read_ms: float, read_stage: str, since_start: float) -> None:
        """Count one processed frame."""
        self.frames += 1
        self.faces += len(result.faces)
        self.events += len(result.events)
        self.detector_skipped += not result.detected
        self.stage_ms[read_stage] = self.stage_ms.get(read_stage, 0.0) + read_ms
        for stage, ms in result.timings_ms.items():
            self.stage_ms[stage] = self.stage_ms.get(stage, 0.0) + ms
        if self.first_frame_s is None:
            self.first_frame_s = since_start

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def mean_ms(self) -> dict[str, float]:
        return {stage: total / max(self.frames, 1) for stage, total in self.stage_ms.items()}

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "frames": self.frames,
            "faces": self.faces,
            "events": self.events,
            "detector_skipped": self.detector_skipped,
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 1),
            "first_frame_s": None if self.first_frame_s is None else round(self.first_frame_s, 3),
            "stage_ms": {k: round(v, 3) for k, v in self.mean_ms().items()},
            "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
            "reconnects": self.reconnects,
            "dropped": self.dropped,
            "interrupted": self.interrupted,
            "terminated": self.terminated,
            "error": None if self.error is None else str(self.error),
        }

    def lines(self) -> list[str]:
        """The summary as a few lines of text for the terminal."""
        stages = "  ".join(f"{stage} {ms:.2f}" for stage, ms in self.mean_ms().items())
        lines = [
            f"{self.frames} frames, {self.faces} faces, {self.events} track events in {self.seconds:.2f} s: "
            f"{self.fps:.1f} FPS"
            + (" (terminated)" if self.terminated else " (interrupted)" if self.interrupted else "")
            + (" (stopped by an error)" if self.error is not None else ""),
            f"per frame (ms): {stages}",
        ]
        if self.detector_skipped:
            lines.append(
                f"detector skipped {self.detector_skipped} of {self.frames} frames, every tracked face steady"
            )
        if self.first_frame_s is not None:
            lines.append(f"first frame after {self.first_frame_s * 1000:.0f} ms")
        if self.skipped:
            lines.append(
                f"{len(self.skipped)} unreadable images skipped: "
                + ", ".join(n for n, _ in self.skipped[:5])
                + (" ..." if len(self.skipped) > 5 else "")
            )
        if self.reconnects or self.dropped:
            lines.append(
                f"stream: {self.reconnects} reconnects, {self.dropped} frames replaced by newer ones"
            )
        return lines


def run_pipeline(
    source: FrameSource,
    pipeline: FacePipeline,
    json_out: JsonLinesWriter | None = None,
    save: VideoSaver | None = None,
    display: Display | None = None,
    max_frames: int | None = None,
    on_frame=None,
) -> RunSummary:
    """Run every frame of ``source`` through ``pipeline`` and into the outputs; close the source and
    the outputs, whatever happens.

    ``on_frame(result)`` is called after each frame (a progress bar, a test). Ctrl-C (or SIGTERM,
    see :func:`run`) ends the run early, and so does a source that fails mid-run (a stream that
    stays down): either way the tracks still alive get their "end" events, the outputs are closed
    properly, and the summary says what happened (``interrupted``, ``terminated``, ``error``). A
    source that delivered no frame because every input was unreadable is an ``error`` too.
    """
    read_stage = "wait" if source.live else "decode"  # a live source's time is waiting for a frame
    summary = RunSummary(source.name, stage_ms={read_stage: 0.0, **dict.fromkeys(STAGES, 0.0)})
    # A file source is read, decoded and made ready for the detector a few frames ahead, in a thread.
    frames = prefetched(source, PREFETCH, prepare=pipeline.prepare)
    current = None
    try:
        for frame, read_ms, prepared in frames:
            if frame.source != current:  # a new image or stream: its faces are new tracks
                _end_tracks(pipeline, json_out, summary, current)
                current = frame.source
            result = pipeline.process(frame.image, frame.index, frame.source, prepared)
            summary.add(result, read_ms, read_stage, time.perf_counter() - summary.started)
            if json_out is not None:
                json_out.write(result)
            drawn = save is not None or display is not None
            if drawn and not _show(frame.image, result, summary, save, display):
                break
            if on_frame is not None:
                on_frame(result)
            if max_frames is not None and summary.frames >= max_frames:
                break
    except KeyboardInterrupt as exc:
        summary.interrupted = True
        summary.terminated = isinstance(exc, Terminated)
    except SourceError as exc:
        summary.error = exc
    finally:
        with _sigterm_deferred(summary):  # the end events and the outputs are finished, whatever comes
            frames.close()
            source.close()
            try:
                _end_tracks(pipeline, json_out, summary, current)
            finally:
                summary.seconds = time.perf_counter() - summary.started
                summary.skipped = list(source.stats.skipped)
                summary.reconnects, summary.dropped = source.stats.reconnects, source.stats.dropped
                for output in (json_out, save, display):
                    if output is not None:
                        output.close()
    if summary.frames == 0 and summary.skipped and summary.error is None and not summary.interrupted:
        # Scripts must be able to tell a run that read nothing from one that found no face.
        summary.error = SourceError(
            f"nothing could be read: all {len(summary.skipped)} inputs were skipped as unreadable"
        )
    return summary


def _show(image, result, summary: RunSummary, save: VideoSaver | None, display: Display | None) -> bool:
    """Draw the frame's results into the saved video and the window; False when the user quits."""
    tick = time.perf_counter_ns()
    canvas = draw(image, result, summary.frames / max(time.perf_counter() - summary.started, 1e-9))
    if save is not None:
        save.write(canvas)
    keep_going = display.show(canvas) if display is not None else True
    summary.stage_ms["draw"] = summary.stage_ms.get("draw", 0.0) + (time.perf_counter_ns() - tick) / 1e6
    return keep_going


def _end_tracks(
    pipeline: FacePipeline, json_out: JsonLinesWriter | None, summary: RunSummary, source: str | None
) -> None:
    """The "end" events of the tracks still alive, into the summary and the JSON output."""
    if source is None:
        return
    for event in pipeline.finish():
        summary.events += 1
        if json_out is not None:
            json_out.write_event(event, source)


@dataclass(frozen=True)
class RunOptions:
    """Everything `faceedge run` takes; see :func:`run`. ``source`` says what to read, ``pipeline``
    how the frames are analysed (still images are never tracked, whatever it says)."""

    source: SourceSpec
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    json_path: str | None = None  # "-" is stdout
    events: bool = False
    save: Path | None = None
    display: bool | None = None  # None: a window when there is a display
    max_frames: int | None = None

    def check(self) -> None:
        """Refuse combinations that cannot work, and output files that cannot be written or that
        are an input (which writing them would destroy), before anything is opened.

        Raises:
            OutputError: outputs that cannot be made, or that are one of the source's files.
            SourceError: an image source that names no image (found listing the inputs).
        """
        # Options are named as this class names them; the CLI says its flags instead.
        if self.events and self.json_path is None:
            raise OutputError("`events` chooses what `json_path` writes: add `json_path`")
        if self.events and self.source.kind == "image":
            raise OutputError("`events` needs tracks, and still images are not tracked")
        if self.display and not display_available():
            raise OutputError("no display to show a window on; run with `display=False`")
        files = {
            "JSON output": None if self.json_path in (None, "-") else self.json_path,
            "video": self.save,
        }
        files = {what: path for what, path in files.items() if path is not None}
        inputs = self.source.files() if files else []
        for what, path in files.items():
            refuse_overwriting(path, inputs, what)
        if "JSON output" in files:
            check_writable(files["JSON output"], "JSON output")
        if self.save is not None:
            check_video_path(self.save)


def run(options: RunOptions, on_frame=None) -> RunSummary:
    """`faceedge run`: check the outputs, open the source (first, so that a missing camera is
    reported before any model loads), the pipeline and the outputs, run every frame, and close
    everything.

    Errors found before the first frame are raised; a source failing mid-run, or one whose every
    input was unreadable, is recorded in the summary's ``error`` (its end events and outputs are
    written first), as Ctrl-C is in ``interrupted``. Called from the main thread, it takes SIGTERM
    as Ctrl-C for its duration (``terminated`` says which it was), and restores the handler after.

    Raises:
        SourceError, OutputError, ModelError, BackendError, GpuError: before the first frame.
        KeyboardInterrupt: Ctrl-C before the first frame; :class:`Terminated`: SIGTERM then.
    """
    with _sigterm_as_interrupt():
        return _run(options, on_frame)


def _run(options: RunOptions, on_frame) -> RunSummary:
    """:func:`run`, without the signal handling."""
    options.check()
    show = display_available() if options.display is None else options.display
    if options.display is None and not show:
        log.info("no display found: running headless")
    source = open_source(options.source)
    with contextlib.ExitStack() as opened:
        opened.callback(source.close)
        still = options.source.kind == "image"
        config = replace(options.pipeline, track=False) if still else options.pipeline
        pipeline = opened.enter_context(FacePipeline(config))
        for stage, what in pipeline.backends.items():
            log.info("%s: %s", stage, what)
        if not pipeline.classifier.has_age:
            log.info("classifier: this model gives gender only (no age output): age and age_group are null")
        outputs = {
            "json_out": _opened(opened, JsonLinesWriter(options.json_path, options.events))
            if options.json_path is not None
            else None,
            "save": _opened(opened, VideoSaver(options.save, source.fps)) if options.save else None,
            "display": _opened(opened, Display()) if show else None,
        }
        return run_pipeline(source, pipeline, max_frames=options.max_frames, on_frame=on_frame, **outputs)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread while the block runs; only the first
    one, so that the outputs being closed after it are not cut short by a second. Outside the main
    thread, where Python cannot set handlers, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        # None: a handler set outside Python, which cannot be set back; the default is closest.
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _raise_terminated(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


@contextlib.contextmanager
def _sigterm_deferred(summary: RunSummary) -> Iterator[None]:
    """While a run closes its outputs, a first SIGTERM only marks the summary terminated instead of
    raising: the end events, the video and the summary are finished all the same. Only where
    :func:`run` took SIGTERM (a library caller's own handler is left alone)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not _raise_terminated
    ):
        yield
        return

    def mark(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        summary.interrupted = summary.terminated = True

    signal.signal(signal.SIGTERM, mark)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is mark:  # no signal came: run() keeps taking it
            signal.signal(signal.SIGTERM, _raise_terminated)


def _opened(stack: contextlib.ExitStack, output):
    """``output``, closed when ``stack`` unwinds (closing twice is harmless)."""
    stack.callback(output.close)
    return output
