"""Live sources: a camera (:class:`CameraSource`) or a network stream (:class:`RtspSource`).

Each reads in its own daemon thread (a :class:`ThreadedReader` with one slot): the consumer always
gets the newest frame, and a pipeline slower than the camera skips frames instead of falling
further and further behind. A stream that drops is reopened, with a backoff between tries.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import cv2
import numpy as np

from faceedge.errors import ImageDecodeError, SourceError
from faceedge.imaging.decode import to_bgr8
from faceedge.runtime.sources.base import (
    Frame,
    FrameSource,
    ThreadedReader,
    native_fps,
)

log = logging.getLogger(__name__)

CaptureFactory = Callable[[int | str], cv2.VideoCapture]


@dataclass(frozen=True)
class Retry:
    """How a live source retries: at most ``max_retries`` tries in a row, after ``backoff_s``
    doubling up to ``max_backoff_s``."""

    max_retries: int
    backoff_s: float
    max_backoff_s: float

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (from 1): ``backoff_s`` doubling, capped."""
        return min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)


class LiveSource(FrameSource):
    """A camera or stream read in a daemon thread into a one-slot buffer: the newest frame wins.

    A frame the consumer has not taken when a newer one arrives is counted in ``stats.dropped``.
    When reads fail the reader releases the capture and opens a new one, after ``backoff_s``
    doubling up to ``max_backoff_s``; after ``max_retries`` failed attempts in a row iteration
    raises :class:`SourceError`. ``capture_factory`` makes the captures (tests pass fakes; by
    default the subclass's own). A subclass says how it names ``target``, how it opens it by
    default, and whether a first open that fails is retried.

    Raises:
        SourceError: the capture does not open, after ``max_retries`` more attempts when
            ``retry_first_open`` is set.
    """

    live = True
    retry_first_open = False

    def __init__(
        self,
        target: int | str,
        *,
        capture_factory: CaptureFactory | None = None,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        join_timeout_s: float = 2.0,
    ) -> None:
        super().__init__(self._name_of(target))
        self._target = target
        self._factory = capture_factory or self._default_capture
        self._retry = Retry(max_retries, backoff_s, max_backoff_s)
        self._join_timeout_s = join_timeout_s
        self._lock = threading.Lock()  # close() may come from another thread than the consumer's
        self._closed = False
        self._reader: ThreadedReader[Frame] | None = None
        self._capture = self._open_first(1 + (max_retries if self.retry_first_open else 0))
        self.fps = native_fps(self._capture)

    @staticmethod
    def _name_of(target: int | str) -> str:
        """The source's name for ``target``, as frames and messages show it."""
        return str(target)

    @staticmethod
    def _default_capture(target: int | str) -> cv2.VideoCapture:
        """A capture of ``target``, when no ``capture_factory`` is given."""
        return cv2.VideoCapture(target)

    def _not_open_message(self, tries: int) -> str:
        """The message of the :class:`SourceError` raised when the first open fails ``tries`` times."""
        return f"{self.name} does not open ({tries} tries)"

    def _open_first(self, tries: int) -> cv2.VideoCapture:
        """An open capture, after at most ``tries`` attempts with a backoff between them.

        Raises:
            SourceError: no attempt opens it.
        """
        for attempt in range(tries):
            if attempt:
                time.sleep(self._retry.delay(attempt))
            capture = self._open()
            if capture is not None:
                return capture
            if attempt + 1 < tries:
                log.warning("%s does not open; trying again (%d of %d)", self.name, attempt + 1, tries - 1)
        raise SourceError(self._not_open_message(tries))

    def _open(self) -> cv2.VideoCapture | None:
        """A new open capture, or None (logged when OpenCV raises) when it does not open."""
        try:
            capture = self._factory(self._target)
        except cv2.error as exc:
            log.warning("%s: OpenCV cannot open it: %s", self.name, exc.err or exc)
            return None
        if capture.isOpened():
            return capture
        capture.release()
        return None

    def _frames(self) -> Iterator[Frame]:
        """The newest frame each time the consumer asks, until closed or the reader ends.

        Raises:
            SourceError: the stream stayed down (or whatever else stopped the reader thread).
        """
        reader = self._start()
        if reader is None:
            return
        for frame in reader:
            self.stats.frames += 1
            yield frame

    def _start(self) -> ThreadedReader[Frame] | None:
        """Hand the capture to a new reader thread and start it, unless the source is closed."""
        with self._lock:
            if self._closed:
                return None
            capture, self._capture = self._capture, None  # the reader thread owns it from now on
            self._reader = ThreadedReader(
                partial(self._read_frames, capture),
                name=f"faceedge-source {self.name}",
                newest_wins=True,
                on_replace=self._count_dropped,
            ).start()
            return self._reader

    def _count_dropped(self) -> None:
        """Count a frame replaced by a newer one before it was taken (in the reader thread)."""
        self.stats.dropped += 1

    def _read_frames(self, capture: cv2.VideoCapture | None, reader: ThreadedReader[Frame]) -> None:
        """The reader thread: read, hand over, reconnect, until closed.

        Raises:
            SourceError: the stream stayed down (handed to the consumer by the reader).
        """
        failures = 0
        index = 0
        try:
            while not reader.stopping.is_set():
                image = self._grab(capture)
                if image is not None:
                    failures = 0
                    reader.put(Frame(image, index, self.name, time.monotonic()))
                    index += 1
                    continue
                if capture is not None:
                    capture.release()
                    capture = None  # so that finally does not release it again when _reconnect raises
                failures += 1
                capture = self._reconnect(failures, reader.stopping)  # None once closed: the loop ends
        finally:
            if capture is not None:
                capture.release()

    def _reconnect(self, attempt: int, stopping: threading.Event) -> cv2.VideoCapture | None:
        """Wait out the backoff before reconnection ``attempt`` (from 1), then open a new capture.

        Returns None when the capture does not open, or when ``stopping`` is set during the wait.

        Raises:
            SourceError: ``attempt`` is past ``max_retries``: the stream stayed down.
        """
        if attempt > self._retry.max_retries:
            raise SourceError(f"{self.name} stayed down: no frame after {attempt - 1} reconnection tries")
        delay = self._retry.delay(attempt)
        log.warning(
            "%s: no frame; reconnecting in %.1f s (try %d of %d)",
            self.name,
            delay,
            attempt,
            self._retry.max_retries,
        )
        if stopping.wait(delay):
            return None
        self.stats.reconnects += 1
        return self._open()

    def _grab(self, capture: cv2.VideoCapture | None) -> np.ndarray | None:
        """The next frame as BGR uint8, or None when there is none (no capture, failed read)."""
        if capture is None:
            return None
        try:
            ok, image = capture.read()
            return to_bgr8(image) if ok and image is not None else None
        except (cv2.error, ImageDecodeError) as exc:
            log.warning("%s: unreadable frame: %s", self.name, exc)
            return None

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            capture, self._capture = self._capture, None  # set only when the thread never started
            reader = self._reader
        if capture is not None:
            capture.release()
        if reader is not None and not reader.close(self._join_timeout_s):
            log.warning(
                "%s: the reader is still in a read; it releases the capture once that returns", self.name
            )


class CameraSource(LiveSource):
    """A local camera by index (see :class:`LiveSource`); it does not retry when it first does not open.

    Raises:
        SourceError: the camera does not open.
    """

    @staticmethod
    def _name_of(target: int | str) -> str:
        return f"camera:{target}"

    def _not_open_message(self, tries: int) -> str:
        return f"camera {self._target} does not open (is it connected, and not in use by another program?)"


class RtspSource(LiveSource):
    """A network stream (``rtsp://``, or any URL FFmpeg reads) that reconnects when it drops.

    A password in the URL is replaced by ``***`` in ``name``, in frames and in messages.

    Raises:
        SourceError: not a URL, or the stream does not open after ``max_retries`` more attempts.
    """

    retry_first_open = True

    @staticmethod
    def _name_of(target: int | str) -> str:
        return _redacted(str(target))

    @staticmethod
    def _default_capture(target: int | str) -> cv2.VideoCapture:
        """An FFmpeg capture that gives up on a silent stream after 10 s instead of waiting forever."""
        timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10_000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 10_000]
        return cv2.VideoCapture(target, cv2.CAP_FFMPEG, timeouts)

    def _not_open_message(self, tries: int) -> str:
        return f"stream {self.name} does not open ({tries} tries)"


def _redacted(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``.

    Raises:
        SourceError: ``url`` is not a URL with a scheme and a host.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise SourceError(f"not a stream URL: {url} ({exc})") from exc
    if not parts.scheme or not parts.netloc:
        raise SourceError(f"not a stream URL (expected rtsp://host/path): {url}")
    if parts.password is None:
        return url
    user_info, _, host = parts.netloc.rpartition("@")
    user = user_info.split(":", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
