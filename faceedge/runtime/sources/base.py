"""What every source is: :class:`Frame`, :class:`SourceStats`, :class:`FrameSource`, and the one
threaded reader (:class:`ThreadedReader`) that both live sources and file prefetching hand frames
over with."""

from __future__ import annotations

import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

import cv2
import numpy as np

log = logging.getLogger(__name__)

T = TypeVar("T")

Prepare = Callable[[np.ndarray], object]  # the part of a frame's work that can be done ahead

PREFETCH_STOP_S = 5.0  # how long closing waits for a prefetching thread that is still decoding


@dataclass(frozen=True)
class Frame:
    """One image from a source.

    ``index`` counts from 0 in its source: delivered images for an image source, frames read for a
    video or a live source (so the gaps in a live source's indices are the frames it dropped, and
    each failed read of a stream that reconnects leaves one).
    ``source`` is the image's own path, the video's path, the source's name for a live source, or
    ``"demo"``; ``timestamp`` is the ``time.monotonic()`` at which it was read.
    """

    image: np.ndarray
    index: int
    source: str
    timestamp: float


@dataclass
class SourceStats:
    """What a source has done so far; a live source updates it from its reader thread."""

    frames: int = 0  # frames delivered
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason) of unreadable images
    reconnects: int = 0  # reconnection attempts, successful or not
    dropped: int = 0  # live frames replaced by a newer one before they were consumed


class TimedFrame(NamedTuple):
    """A frame, the milliseconds it took to read and decode (and prepare), and what was prepared."""

    frame: Frame
    read_ms: float
    prepared: object  # what ``prepare`` returned, or None when nothing was prepared


class ThreadedReader(Generic[T]):
    """Items made by ``produce`` in a daemon thread and handed over to one consuming thread.

    ``produce(reader)`` calls :meth:`put` for each item and returns when it has no more, or once
    :attr:`stopping` is set. Items are handed over in one of two ways: at most ``depth`` waiting, in
    order, nothing dropped (``put`` waits for room); or, with ``newest_wins``, in one slot where a new
    item replaces one not taken yet (``on_replace`` is called for each one replaced), so that a slow
    consumer skips items instead of falling further and further behind. Whatever ``produce`` raises
    is raised in the consumer once it has taken the items put before. Start it with :meth:`start`,
    stop it with :meth:`close`.
    """

    def __init__(
        self,
        produce: Callable[[ThreadedReader[T]], None],
        *,
        name: str,
        depth: int = 1,
        newest_wins: bool = False,
        on_replace: Callable[[], None] | None = None,
    ) -> None:
        if depth < 1 or (newest_wins and depth != 1):
            raise ValueError(f"depth must be at least 1 (exactly 1 when the newest wins), not {depth}")
        self._produce = produce
        self._depth = depth
        self._newest_wins = newest_wins
        self._on_replace = on_replace
        self._condition = threading.Condition()
        self._items: deque[T] = deque()
        self._error: BaseException | None = None
        self._finished = False
        self.stopping = threading.Event()  # set by close(); a producer waits on it between retries
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> ThreadedReader[T]:
        """Start the producing thread; returns the reader itself."""
        self._thread.start()
        return self

    def _run(self) -> None:
        """The thread: produce, then tell the consumer that nothing more comes, and why."""
        try:
            self._produce(self)
        except BaseException as exc:  # handed to the consumer, which raises it
            with self._condition:
                self._error = exc
        finally:
            with self._condition:
                self._finished = True
                self._condition.notify_all()

    def put(self, item: T) -> bool:
        """Hand ``item`` over (the producer's side); False, without it, once the reader is closed."""
        with self._condition:
            if not self._newest_wins:
                self._condition.wait_for(lambda: self.stopping.is_set() or len(self._items) < self._depth)
            if self.stopping.is_set():
                return False
            if self._newest_wins and self._items:  # the item not taken yet is replaced
                self._items.clear()
                if self._on_replace is not None:
                    self._on_replace()
            self._items.append(item)
            self._condition.notify_all()
            return True

    def __iter__(self) -> Iterator[T]:
        """The items as they come (the consumer's side), until the producer is done or the reader
        is closed.

        Raises:
            Exception: whatever ``produce`` raised, after the items put before it.
        """
        while True:
            with self._condition:
                self._condition.wait_for(self._consumer_has_news)
                if self.stopping.is_set():
                    return
                if self._items:
                    item = self._items.popleft()
                    self._condition.notify_all()  # room for a producer waiting in put()
                elif self._error is not None:
                    raise self._error
                else:
                    return
            yield item

    def _consumer_has_news(self) -> bool:
        """Whether the consumer has something to act on; called with the condition held."""
        return self.stopping.is_set() or bool(self._items) or self._error is not None or self._finished

    def close(self, timeout_s: float) -> bool:
        """Stop handing items over, ask the producer to stop, and wait up to ``timeout_s`` for its
        thread; whether the thread ended (it cannot be interrupted in the middle of a read)."""
        with self._condition:
            self.stopping.set()
            self._condition.notify_all()
        if self._thread.ident is None:  # never started
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()


class TimedFrames:
    """A source's frames as :class:`TimedFrame`, read once; :meth:`close` stops a prefetching thread."""

    def __init__(self, frames: Iterable[TimedFrame], reader: ThreadedReader[TimedFrame] | None = None):
        self._frames = frames
        self._reader = reader  # the thread that reads them ahead, if any

    def __iter__(self) -> Iterator[TimedFrame]:
        return iter(self._frames)

    def close(self) -> None:
        """Stop the prefetching thread, if any, waiting a few seconds for it; closing twice does nothing."""
        if self._reader is not None and not self._reader.close(PREFETCH_STOP_S):
            log.warning("the frame reader did not stop within %.0f s", PREFETCH_STOP_S)


def timed(source: Iterable[Frame], prepare: Prepare | None = None) -> Iterator[TimedFrame]:
    """The frames of ``source``, each with the milliseconds it took to read and decode and, given
    ``prepare``, what it returned for the frame's image (timed with the decoding).

    ``source`` is iterated when the first frame is asked for, not before.
    """
    frames = iter(source)
    while True:
        start = time.perf_counter_ns()
        try:
            frame = next(frames)
        except StopIteration:
            return
        prepared = prepare(frame.image) if prepare is not None else None
        yield TimedFrame(frame, (time.perf_counter_ns() - start) / 1e6, prepared)


class FrameSource(ABC):
    """Frames from one place, read once: iterate it, then close it (or use it in a ``with``).

    ``name`` is what the user asked for, ``live`` is true for cameras and streams, ``fps`` is the
    native frame rate when known.
    """

    live: bool = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.stats = SourceStats()
        self.fps: float | None = None
        self._iterated = False

    def __iter__(self) -> Iterator[Frame]:
        """The source's frames, once.

        Raises:
            RuntimeError: the source was iterated before.
        """
        if self._iterated:
            raise RuntimeError(f"source {self.name} is read once; open it again to read it again")
        self._iterated = True
        return self._frames()

    @abstractmethod
    def _frames(self) -> Iterator[Frame]:
        """The frames, until the source ends or is closed; what ``__iter__`` returns."""

    @abstractmethod
    def close(self) -> None:
        """Stop reading and release what the source holds; closing twice does nothing."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def native_fps(capture: cv2.VideoCapture) -> float | None:
    """The frame rate ``capture`` reports, or None when it reports none that makes sense."""
    fps = capture.get(cv2.CAP_PROP_FPS)
    return fps if math.isfinite(fps) and fps > 0 else None


def prefetched(source: FrameSource, depth: int, prepare: Prepare | None = None) -> TimedFrames:
    """The frames of ``source`` as :class:`TimedFrame`, read by a thread ahead of the consumer.

    A file source is read, decoded and given to ``prepare`` up to ``depth`` frames ahead in a thread
    of its own, so that decoding overlaps the consumer's work; nothing is dropped, and an error in
    the thread is raised where the frames are taken. A live source reads in its own thread already
    and hands over its newest frame: it is timed from the consumer's ask (the wait for a frame), and
    nothing is prepared (``prepared`` is None), since only the newest frame is worth the work. Close
    the result to stop the prefetching thread; the source is closed apart.

    Raises:
        RuntimeError: ``source`` was iterated before (raised where the frames are taken).
    """
    if source.live:
        return TimedFrames(timed(source))
    frames = timed(source, prepare)

    def produce(reader: ThreadedReader[TimedFrame]) -> None:
        for frame in frames:
            if not reader.put(frame):
                return

    reader = ThreadedReader(produce, name="faceedge-reader", depth=depth).start()
    return TimedFrames(reader, reader)
