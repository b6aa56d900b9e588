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

RTSP_TIMEOUT_S = 10.0  # how long one try waits for a stream to open, or for its next frame
RTSP_RETRY_FOR_S = 30.0  # how long a stream may stay down before the source gives up


@dataclass(frozen=True)
class Retry:
    """How a live source retries: after ``backoff_s`` doubling up to ``max_backoff_s``, at most
    ``max_retries`` tries in a row and, with ``for_s``, none starting later than ``for_s`` seconds
    after the source went down (None: no such limit)."""

    max_retries: int | None
    backoff_s: float
    max_backoff_s: float
    for_s: float | None = None

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (from 1): ``backoff_s`` doubling, capped."""
        return min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)

    def wait(self, attempt: int, down_since: float) -> float | None:
        """Seconds to wait before retry ``attempt`` (from 1) of a source down since the
        ``time.monotonic()`` ``down_since``; None when no retry is left. The wait is cut short so
        that the last retry starts when the time is up, not after."""
        if self.max_retries is not None and attempt > self.max_retries:
            return None
        if self.for_s is None:
            return self.delay(attempt)
        left = down_since + self.for_s - time.monotonic()
        return min(self.delay(attempt), left) if left > 0 else None


class _PendingOpen:
    """A capture being opened in a daemon thread while the caller waits for it.

    OpenCV opens a stream in C, where a KeyboardInterrupt (Ctrl-C, or SIGTERM in `faceedge run`)
    waits until the open returns, up to its whole timeout. Waiting for a thread instead can be
    interrupted at once; the abandoned capture is released when its open returns.
    """

    def __init__(self, open_capture: Callable[[], cv2.VideoCapture | None], name: str) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._capture: cv2.VideoCapture | None = None
        self._error: BaseException | None = None
        self._abandoned = False
        threading.Thread(
            target=self._run, args=(open_capture,), name=f"faceedge-open {name}", daemon=True
        ).start()

    def _run(self, open_capture: Callable[[], cv2.VideoCapture | None]) -> None:
        try:
            capture, error = open_capture(), None
        except BaseException as exc:  # handed to the waiting thread, which raises it
            capture, error = None, exc
        with self._lock:
            abandoned = self._abandoned
            if not abandoned:
                self._capture, self._error = capture, error
        if abandoned and capture is not None:
            capture.release()
        self._done.set()

    def result(self) -> cv2.VideoCapture | None:
        """The open capture, or None when it did not open; whatever the open raised is raised.

        Raises:
            KeyboardInterrupt: while waiting (the open is abandoned).
        """
        try:
            self._done.wait()
        except BaseException:
            with self._lock:
                self._abandoned = True
                capture, self._capture = self._capture, None
            if capture is not None:
                capture.release()
            raise
        if self._error is not None:
            raise self._error
        return self._capture


class LiveSource(FrameSource):
    """A camera or stream read in a daemon thread into a one-slot buffer: the newest frame wins.

    A frame the consumer has not taken when a newer one arrives is counted in ``stats.dropped``.
    When reads fail the reader releases the capture and opens a new one, after ``backoff_s``
    doubling up to ``max_backoff_s``; after ``max_retries`` failed attempts in a row (None: no
    such limit), or once ``retry_for_s`` seconds have passed since the reads began to fail (None:
    no such limit), iteration raises :class:`SourceError`. ``capture_factory`` makes the captures
    (tests pass fakes; by default the subclass's own). A subclass says how it names ``target``,
    how it opens it by default, and whether a first open that fails is retried.

    Raises:
        SourceError: the capture does not open, after the same retries when
            ``retry_first_open`` is set.
        KeyboardInterrupt: while the capture opens, at once (see :class:`_PendingOpen`).
    """

    live = True
    retry_first_open = False

    def __init__(
        self,
        target: int | str,
        *,
        capture_factory: CaptureFactory | None = None,
        max_retries: int | None = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        retry_for_s: float | None = None,
        join_timeout_s: float = 2.0,
    ) -> None:
        super().__init__(self._name_of(target))
        self._target = target
        self._factory = capture_factory or self._default_capture
        self._retry = Retry(max_retries, backoff_s, max_backoff_s, retry_for_s)
        self._join_timeout_s = join_timeout_s
        self._lock = threading.Lock()  # close() may come from another thread than the consumer's
        self._closed = False
        self._reader: ThreadedReader[Frame] | None = None
        self._capture = self._open_first()
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

    def _open_first(self) -> cv2.VideoCapture:
        """An open capture, retried as :class:`Retry` says when ``retry_first_open`` is set.

        Raises:
            SourceError: no attempt opens it.
            KeyboardInterrupt: at once, also while OpenCV is opening (see :class:`_PendingOpen`).
        """
        down_since = time.monotonic()
        tries = 0
        while True:
            capture = _PendingOpen(self._open, self.name).result()
            tries += 1
            if capture is not None:
                return capture
            wait = self._retry.wait(tries, down_since) if self.retry_first_open else None
            if wait is None:
                raise SourceError(self._not_open_message(tries))
            log.warning("%s does not open; trying again in %.1f s", self.name, wait)
            time.sleep(wait)

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
        down_since = 0.0
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
                if failures == 0:
                    down_since = time.monotonic()
                failures += 1
                # A failed read is a frame lost: the indices after a reconnection leave a gap, as for
                # dropped frames, so that the tracker knows the picture may have changed.
                index += 1
                # None once closed: the loop ends
                capture = self._reconnect(failures, down_since, reader.stopping)
        finally:
            if capture is not None:
                capture.release()

    def _reconnect(
        self, attempt: int, down_since: float, stopping: threading.Event
    ) -> cv2.VideoCapture | None:
        """Wait out the backoff before reconnection ``attempt`` (from 1) of a source down since
        ``down_since``, then open a new capture.

        Returns None when the capture does not open, or when ``stopping`` is set during the wait.

        Raises:
            SourceError: no retry is left (see :meth:`Retry.wait`): the stream stayed down.
        """
        delay = self._retry.wait(attempt, down_since)
        if delay is None:
            down_for = time.monotonic() - down_since
            tries = attempt - 1
            raise SourceError(
                f"{self.name} stayed down: no frame after {tries} reconnection tries in {down_for:.0f} s"
            )
        log.warning("%s: no frame; reconnecting in %.1f s (try %d)", self.name, delay, attempt)
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

    A password in the URL is replaced by ``***`` in ``name``, in frames and in messages. Each try
    to open the stream, and each wait for its next frame, ends after ``timeout_s``; a stream that
    does not open, or stops sending, is retried for ``retry_for_s`` seconds (the last try may take
    ``timeout_s`` more), and without a limit on the number of tries unless ``max_retries`` is given.

    Raises:
        SourceError: not a URL, or the stream does not open within its retries.
        KeyboardInterrupt: at once, also while the stream opens.
    """

    retry_first_open = True

    def __init__(
        self,
        target: str,
        *,
        timeout_s: float = RTSP_TIMEOUT_S,
        retry_for_s: float | None = RTSP_RETRY_FOR_S,
        max_retries: int | None = None,
        **options,
    ) -> None:
        self._timeout_ms = max(1, round(timeout_s * 1000))
        self._started = time.monotonic()
        super().__init__(target, retry_for_s=retry_for_s, max_retries=max_retries, **options)

    @staticmethod
    def _name_of(target: int | str) -> str:
        return _redacted(str(target))

    def _default_capture(self, target: int | str) -> cv2.VideoCapture:
        """An FFmpeg capture that gives up on a silent stream after ``timeout_s``, not never."""
        timeouts = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            self._timeout_ms,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            self._timeout_ms,
        ]
        return cv2.VideoCapture(target, cv2.CAP_FFMPEG, timeouts)

    def _not_open_message(self, tries: int) -> str:
        took = time.monotonic() - self._started
        return f"stream {self.name} does not open ({tries} tries in {took:.0f} s)"


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
