"""`faceedge run`: frames from a source through the pipeline to the outputs, and a summary.

Files (video, images, the demo clip) are read frame by frame with nothing dropped, one frame ahead
in a reader thread so that decoding overlaps inference on a second core. Live sources read in
their own thread and hand over their newest frame (see :mod:`faceedge.runtime.sources`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from faceedge.runtime.outputs import Display, JsonLinesWriter, VideoSaver, draw
from faceedge.runtime.pipeline import STAGES, FacePipeline
from faceedge.runtime.sources import Frame, FrameSource

log = logging.getLogger(__name__)

PREFETCH = 4  # frames a file source may decode ahead


@dataclass
class RunSummary:
    """What a run did: counts, throughput, and the mean milliseconds of each stage per frame."""

    source: str
    frames: int = 0
    faces: int = 0
    events: int = 0
    seconds: float = 0.0
    first_frame_s: float | None = None  # from the start of the run to the first frame's result
    stage_ms: dict[str, float] = field(default_factory=dict)  # summed; see mean_ms
    skipped: list[tuple[str, str]] = field(default_factory=list)
    reconnects: int = 0
    dropped: int = 0
    interrupted: bool = False

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
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 1),
            "first_frame_s": None if self.first_frame_s is None else round(self.first_frame_s, 3),
            "stage_ms": {k: round(v, 3) for k, v in self.mean_ms().items()},
            "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
            "reconnects": self.reconnects,
            "dropped": self.dropped,
            "interrupted": self.interrupted,
        }

    def lines(self) -> list[str]:
        """The summary as a few lines of text for the terminal."""
        stages = "  ".join(f"{stage} {ms:.2f}" for stage, ms in self.mean_ms().items())
        lines = [
            f"{self.frames} frames, {self.faces} faces, {self.events} track events in {self.seconds:.2f} s: "
            f"{self.fps:.1f} FPS" + (" (interrupted)" if self.interrupted else ""),
            f"per frame (ms): {stages}",
        ]
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


def _timed(
    source: FrameSource, pipeline: FacePipeline | None = None
) -> Iterator[tuple[Frame, float, object]]:
    """The source's frames with the milliseconds each took to read and decode and, given a
    pipeline, the part of its work that can be done ahead (timed with the decoding)."""
    frames = iter(source)
    while True:
        start = time.perf_counter_ns()
        try:
            frame = next(frames)
        except StopIteration:
            return
        prepared = pipeline.prepare(frame.image) if pipeline is not None else None
        yield frame, (time.perf_counter_ns() - start) / 1e6, prepared


def _prefetched(items: Iterator, depth: int, stop: threading.Event) -> Iterator:
    """``items`` produced in a thread, at most ``depth`` ahead, in order, nothing dropped.

    An exception in the thread is raised here, where the items are consumed.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((done, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            buffer.put((done, exc))

    thread = threading.Thread(target=produce, name="faceedge-reader", daemon=True)
    thread.start()
    while True:
        item, error = buffer.get()
        if item is done:
            if error is not None:
                raise error
            return
        yield item


def run_pipeline(
    source: FrameSource,
    pipeline: FacePipeline,
    json_out: JsonLinesWriter | None = None,
    save: VideoSaver | None = None,
    display: Display | None = None,
    max_frames: int | None = None,
    on_frame=None,
) -> RunSummary:
    """Run every frame of ``source`` through ``pipeline`` and into the outputs; close them all.

    ``on_frame(result)`` is called after each frame (a progress bar, a test). Ctrl-C ends the run
    early: the outputs are closed properly all the same, and the summary says it was interrupted.
    """
    summary = RunSummary(source.name, stage_ms={"decode": 0.0, **dict.fromkeys(STAGES, 0.0)})
    stop = threading.Event()
    start = time.perf_counter()
    # A file source is read, decoded and made ready for the detector one step ahead, in a thread.
    frames = _timed(source) if source.live else _prefetched(_timed(source, pipeline), PREFETCH, stop)
    current, fps = None, None
    try:
        for frame, decode_ms, prepared in frames:
            image = frame.image
            if frame.source != current:  # a new image or stream: its faces are new tracks
                _end_tracks(pipeline, json_out, summary, current)
                current = frame.source
            result = pipeline.process(image, frame.index, frame.source, prepared)
            summary.frames += 1
            summary.faces += len(result.faces)
            summary.events += len(result.events)
            summary.stage_ms["decode"] += decode_ms
            for stage, ms in result.timings_ms.items():
                summary.stage_ms[stage] = summary.stage_ms.get(stage, 0.0) + ms
            if summary.first_frame_s is None:
                summary.first_frame_s = time.perf_counter() - start
            if json_out is not None:
                json_out.write(result)
            if save is not None or display is not None:
                tick = time.perf_counter_ns()
                elapsed = time.perf_counter() - start
                fps = summary.frames / elapsed if elapsed > 0 else None
                canvas = draw(image, result, fps)
                if save is not None:
                    save.write(canvas)
                keep_going = display.show(canvas) if display is not None else True
                summary.stage_ms["draw"] = (
                    summary.stage_ms.get("draw", 0.0) + (time.perf_counter_ns() - tick) / 1e6
                )
                if not keep_going:
                    break
            if on_frame is not None:
                on_frame(result)
            if max_frames is not None and summary.frames >= max_frames:
                break
        _end_tracks(pipeline, json_out, summary, current)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        stop.set()
        summary.seconds = time.perf_counter() - start
        summary.skipped = list(source.stats.skipped)
        summary.reconnects, summary.dropped = source.stats.reconnects, source.stats.dropped
        source.close()
        for output in (json_out, save, display):
            if output is not None:
                output.close()
    return summary


def _end_tracks(
    pipeline: FacePipeline, json_out: JsonLinesWriter | None, summary: RunSummary, source
) -> None:
    if source is None:
        return
    for event in pipeline.finish():
        summary.events += 1
        if json_out is not None:
            json_out.write_event(event, source)
