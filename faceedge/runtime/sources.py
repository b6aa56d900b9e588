"""Where frames come from: image files, a video file, a camera, an RTSP stream, or the shipped demo clip.

Every source is iterated the same way and yields :class:`Frame` objects holding BGR uint8 images.
File sources (images, video, demo) deliver every frame, in order, in the caller's thread. Live
sources (camera, RTSP) read in their own daemon thread into a one-slot buffer: the consumer always
gets the newest frame, and a pipeline slower than the camera skips frames instead of falling
further and further behind. Open one with :func:`open_source`; close it, or use it as a context
manager, to stop its thread and release its capture.

Image files and video frames are turned into BGR uint8 by :mod:`faceedge.runtime.decode`, whose
:func:`decode_image`, :func:`to_bgr8` and ``MAX_PIXELS`` this module also offers under its own name.
"""

from __future__ import annotations

import glob
import logging
import math
import threading
import time
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from faceedge.data.images import ImageDecodeError
from faceedge.errors import SourceError

# Imported for the sources below, and re-exported: code that imported them from here still works.
from faceedge.runtime.decode import MAX_PIXELS, decode_image, to_bgr8

log = logging.getLogger(__name__)

DEMO_CLIP = Path(__file__).resolve().parent / "media" / "demo.mp4"
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
_IMAGE_KINDS = ", ".join(sorted(IMAGE_EXTENSIONS))  # for messages


@dataclass(frozen=True)
class Frame:
    """One image from a source.

    ``index`` counts from 0 in its source: delivered images for an image source, frames read for a
    video or a live source (so the gaps in a live source's indices are the frames it dropped).
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


# --- Sources ---------------------------------------------------------------------------------------


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


class ImageSource(FrameSource):
    """Image files in sorted order; each unreadable one is logged, counted in ``stats.skipped`` and skipped.

    ``spec`` is a file (read whatever its extension), a folder (its files with an image extension,
    not recursive) or a glob pattern (its matches with an image extension; ``**`` recurses).

    Raises:
        SourceError: no such file or folder, or a folder or pattern without an image file.
    """

    def __init__(self, spec: str | Path, max_pixels: int = MAX_PIXELS) -> None:
        super().__init__(str(spec))
        self.paths = _image_files(str(spec))
        self._max_pixels = max_pixels
        self._closed = False

    def _frames(self) -> Iterator[Frame]:
        """Each file that decodes, as a frame; the others go to :meth:`_skip`."""
        for path in self.paths:
            if self._closed:
                return
            try:
                image = decode_image(path.read_bytes(), self._max_pixels)
            except ImageDecodeError as exc:
                self._skip(path, str(exc))
                continue
            except OSError as exc:
                self._skip(path, exc.strerror or str(exc))
                continue
            frame = Frame(image, self.stats.frames, str(path), time.monotonic())
            self.stats.frames += 1
            yield frame

    def _skip(self, path: Path, reason: str) -> None:
        """Log an unreadable file and record it in ``stats.skipped``."""
        log.warning("skipping %s: %s", path, reason)
        self.stats.skipped.append((str(path), reason))

    def close(self) -> None:
        self._closed = True


def _image_files(spec: str) -> list[Path]:
    """The files an :class:`ImageSource` reads for ``spec``, sorted; never empty.

    Raises:
        SourceError: no such file or folder, or a folder or pattern without an image file.
    """
    path = Path(spec)
    if path.is_dir():
        return _folder_images(spec)
    if path.exists():
        return [path]
    if any(character in spec for character in "*?["):
        return _matching_images(spec)
    raise SourceError(f"no such file or folder: {spec}")


def _folder_images(folder: str) -> list[Path]:
    """The files directly in ``folder`` with an image extension, sorted; never empty.

    Raises:
        SourceError: the folder cannot be listed or holds no such file.
    """
    try:
        files = sorted(p for p in Path(folder).iterdir() if p.is_file() and _is_image_name(p))
    except OSError as exc:
        raise SourceError(f"cannot list folder {folder}: {exc.strerror or exc}") from exc
    if not files:
        raise SourceError(f"folder {folder} holds no image file ({_IMAGE_KINDS})")
    return files


def _matching_images(pattern: str) -> list[Path]:
    """The files matching the glob ``pattern`` (``**`` recursing) with an image extension, sorted.

    Raises:
        SourceError: no such file matches, saying how many other paths do.
    """
    matches = sorted(Path(match) for match in glob.glob(pattern, recursive=True))
    files = [match for match in matches if match.is_file() and _is_image_name(match)]
    if not files:
        others = f"; it matches {len(matches)} other paths" if matches else ""
        raise SourceError(f"no image file ({_IMAGE_KINDS}) matches {pattern}{others}")
    return files


def _is_image_name(path: Path) -> bool:
    """Whether ``path`` ends in one of :data:`IMAGE_EXTENSIONS`, in any case."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _native_fps(capture: cv2.VideoCapture) -> float | None:
    """The frame rate ``capture`` reports, or None when it reports none that makes sense."""
    fps = capture.get(cv2.CAP_PROP_FPS)
    return fps if math.isfinite(fps) and fps > 0 else None


class VideoSource(FrameSource):
    """A video file, every frame in order, read in the caller's thread; ``loop`` plays it that many times.

    Frame indices keep counting across the loops. ``close`` may come from another thread than the
    one iterating (a lock keeps it from releasing the capture in the middle of a read).

    Raises:
        SourceError: ``loop`` is below 1, the file is missing, OpenCV cannot open it, or it yields
            no first frame.
    """

    def __init__(self, path: str | Path, *, name: str | None = None, loop: int = 1) -> None:
        super().__init__(name or str(path))
        if loop < 1:
            raise SourceError(f"loop must be at least 1, not {loop}")
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"no such video file: {path}")
        self._loop = loop
        self._lock = threading.Lock()
        self._closed = False
        self._capture: cv2.VideoCapture | None = None
        self._first = self._restart()
        if self._first is None:
            self.close()
            raise SourceError(f"{path} opens as a video but yields no frame")
        self.fps = _native_fps(self._capture)

    def _restart(self) -> tuple[np.ndarray, float] | None:
        """Open the file again from its start and read its first frame (None once closed)."""
        with self._lock:
            if self._closed:
                return None
            if self._capture is not None:
                self._capture.release()
            self._capture = cv2.VideoCapture(str(self.path))
            if not self._capture.isOpened():
                self._capture.release()
                self._capture = None
                raise SourceError(f"OpenCV cannot open {self.path} as a video")
        return self._read()

    def _read(self) -> tuple[np.ndarray, float] | None:
        """The next frame and when it was read; None at the end of the file or once closed."""
        with self._lock:
            if self._capture is None:
                return None
            ok, image = self._capture.read()
            if not ok or image is None:
                return None
            return image, time.monotonic()

    def _frames(self) -> Iterator[Frame]:
        """Every frame of every lap, indices counting on across laps, until the end or a close."""
        for lap in range(self._loop):
            read = self._first if lap == 0 else self._restart()
            self._first = None
            frames = 0
            while read is not None:
                image, timestamp = read
                frame = Frame(to_bgr8(image), self.stats.frames, self.name, timestamp)
                self.stats.frames += 1
                frames += 1
                yield frame
                read = self._read()
            self._warn_if_cut_short(frames)

    def _warn_if_cut_short(self, frames: int) -> None:
        """Say so when a file ends before the frame count its container announces: OpenCV reports a
        frame it cannot decode as the end of the file."""
        with self._lock:
            if self._closed or self._capture is None:
                return
            announced = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if announced > frames + 1:  # containers may count one frame more than they hold
            log.warning(
                "%s ended after %d of the %d frames its container announces: the rest could not be decoded",
                self.name,
                frames,
                announced,
            )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._first = None
            if self._capture is not None:
                self._capture.release()
                self._capture = None


CaptureFactory = Callable[[int | str], cv2.VideoCapture]


class LiveSource(FrameSource):
    """A camera or stream read in a daemon thread into a one-slot buffer: the newest frame wins.

    A frame the consumer has not taken when a newer one arrives is counted in ``stats.dropped``.
    When reads fail the reader releases the capture and opens a new one, after ``backoff_s``
    doubling up to ``max_backoff_s``; after ``max_retries`` failed attempts in a row iteration
    raises :class:`SourceError`. ``capture_factory`` makes the captures (tests pass fakes).

    Raises:
        SourceError: the capture does not open, after ``max_retries`` more attempts when
            ``retry_first_open`` is set.
    """

    live = True

    def __init__(
        self,
        target: int | str,
        name: str,
        *,
        capture_factory: CaptureFactory,
        max_retries: int,
        backoff_s: float,
        max_backoff_s: float,
        retry_first_open: bool,
        join_timeout_s: float = 2.0,
    ) -> None:
        super().__init__(name)
        self._target = target
        self._factory = capture_factory
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._join_timeout_s = join_timeout_s
        self._condition = threading.Condition()
        self._stop = threading.Event()
        self._closed = False
        self._finished = False
        self._latest: Frame | None = None
        self._error: Exception | None = None
        self._thread: threading.Thread | None = None
        self._capture = self._open_first(1 + (max_retries if retry_first_open else 0))
        self.fps = _native_fps(self._capture)

    def _not_open_message(self, tries: int) -> str:
        """The message of the :class:`SourceError` raised when the first open fails ``tries`` times."""
        return f"{self.name} does not open ({tries} tries)"

    def _backoff(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (from 1): ``backoff_s`` doubling, capped."""
        return min(self._backoff_s * 2 ** (attempt - 1), self._max_backoff_s)

    def _open_first(self, tries: int) -> cv2.VideoCapture:
        """An open capture, after at most ``tries`` attempts with a backoff between them.

        Raises:
            SourceError: no attempt opens it.
        """
        for attempt in range(tries):
            if attempt:
                time.sleep(self._backoff(attempt))
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
        self._start()
        while True:
            with self._condition:
                self._condition.wait_for(self._consumer_has_news)
                if self._closed:
                    return
                frame, self._latest, error = self._latest, None, self._error
            if frame is not None:
                self.stats.frames += 1
                yield frame
            elif error is not None:
                raise error
            else:
                return

    def _consumer_has_news(self) -> bool:
        """Whether the consumer has something to act on; called with the condition held."""
        return self._closed or self._latest is not None or self._error is not None or self._finished

    def _start(self) -> None:
        """Hand the capture to a new reader thread and start it, unless the source is closed."""
        with self._condition:
            if self._closed:
                return
            capture, self._capture = self._capture, None  # the reader thread owns it from now on
            self._thread = threading.Thread(
                target=self._read_frames, args=(capture,), name=f"faceedge-source {self.name}", daemon=True
            )
            self._thread.start()

    def _read_frames(self, capture: cv2.VideoCapture | None) -> None:
        """The reader thread: read, publish, reconnect; an error is handed to the consumer."""
        failures = 0
        index = 0
        try:
            while not self._stop.is_set():
                image = self._grab(capture)
                if image is not None:
                    failures = 0
                    self._publish(Frame(image, index, self.name, time.monotonic()))
                    index += 1
                    continue
                if capture is not None:
                    capture.release()
                    capture = None  # so that finally does not release it again when _reconnect raises
                failures += 1
                capture = self._reconnect(failures)  # None once closed: the loop ends
        except Exception as exc:  # handed to the consumer, which raises it
            with self._condition:
                self._error = exc
                self._condition.notify_all()
        finally:
            if capture is not None:
                capture.release()
            with self._condition:
                self._finished = True
                self._condition.notify_all()

    def _reconnect(self, attempt: int) -> cv2.VideoCapture | None:
        """Wait out the backoff before reconnection ``attempt`` (from 1), then open a new capture.

        Returns None when the capture does not open, or when the source is closed during the wait.

        Raises:
            SourceError: ``attempt`` is past ``max_retries``: the stream stayed down.
        """
        if attempt > self._max_retries:
            raise SourceError(f"{self.name} stayed down: no frame after {attempt - 1} reconnection tries")
        delay = self._backoff(attempt)
        log.warning(
            "%s: no frame; reconnecting in %.1f s (try %d of %d)",
            self.name,
            delay,
            attempt,
            self._max_retries,
        )
        if self._stop.wait(delay):
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

    def _publish(self, frame: Frame) -> None:
        """Put ``frame`` in the one-slot buffer, counting the unconsumed frame it replaces as dropped."""
        with self._condition:
            if self._latest is not None:
                self.stats.dropped += 1
            self._latest = frame
            self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            if self._closed:
                return
            self._closed = True
            self._condition.notify_all()
            capture, self._capture = self._capture, None  # set only when the thread never started
        self._stop.set()
        if capture is not None:
            capture.release()
        if self._thread is not None:
            self._thread.join(self._join_timeout_s)
            if self._thread.is_alive():
                log.warning(
                    "%s: the reader is still in a read; it releases the capture once that returns", self.name
                )


class CameraSource(LiveSource):
    """A local camera by index (see :class:`LiveSource`); it does not retry when it first does not open.

    Raises:
        SourceError: the camera does not open.
    """

    def __init__(
        self,
        index: int,
        *,
        capture_factory: CaptureFactory = cv2.VideoCapture,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
    ) -> None:
        super().__init__(
            index,
            f"camera:{index}",
            capture_factory=capture_factory,
            max_retries=max_retries,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            retry_first_open=False,
        )

    def _not_open_message(self, tries: int) -> str:
        return f"camera {self._target} does not open (is it connected, and not in use by another program?)"


def _ffmpeg_stream(url: int | str) -> cv2.VideoCapture:
    """An FFmpeg capture that gives up on a silent stream after 10 s instead of waiting forever."""
    timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10_000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 10_000]
    return cv2.VideoCapture(url, cv2.CAP_FFMPEG, timeouts)


class RtspSource(LiveSource):
    """A network stream (``rtsp://``, or any URL FFmpeg reads) that reconnects when it drops.

    A password in the URL is replaced by ``***`` in ``name``, in frames and in messages.

    Raises:
        SourceError: not a URL, or the stream does not open after ``max_retries`` more attempts.
    """

    def __init__(
        self,
        url: str,
        *,
        capture_factory: CaptureFactory = _ffmpeg_stream,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
    ) -> None:
        super().__init__(
            url,
            _redacted(url),
            capture_factory=capture_factory,
            max_retries=max_retries,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            retry_first_open=True,
        )

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


# --- Choosing and opening -------------------------------------------------------------------------

SOURCE_KINDS = ("camera", "video", "image", "rtsp", "demo")
_LOOPED = ("video", "demo")


class SourceChoiceError(SourceError):
    """Not exactly one source was given; ``given`` holds the kinds that were (none, or several)."""

    def __init__(self, given: tuple[str, ...]) -> None:
        got = f"; got {' and '.join(given)}" if given else ""
        super().__init__(f"give exactly one source: camera, video, image, rtsp or demo{got}")
        self.given = given


@dataclass(frozen=True)
class SourceSpec:
    """Which source to read, checked when made: its ``kind``, its ``target``, and how often to play it.

    ``target`` is the camera index for ``"camera"``, the file for ``"video"``, a file, folder or glob
    pattern for ``"image"`` (see :class:`ImageSource`), the URL for ``"rtsp"``, and None for
    ``"demo"`` (the clip that ships with faceedge). ``loop`` plays a video or the demo clip that many
    times.

    Raises:
        SourceError: an unknown kind, a target that does not fit the kind, ``loop`` below 1 or given
            to a source that cannot loop.
    """

    kind: str
    target: int | str | None = None
    loop: int = 1

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise SourceError(f"no source kind {self.kind!r}; the kinds are {', '.join(SOURCE_KINDS)}")
        if isinstance(self.target, Path):
            object.__setattr__(self, "target", str(self.target))
        self._check_target()
        if self.loop < 1:
            raise SourceError(f"loop must be at least 1, not {self.loop}")
        if self.loop != 1 and self.kind not in _LOOPED:
            raise SourceError(f"loop plays a video or the demo clip again; a {self.kind} source cannot loop")

    def _check_target(self) -> None:
        """Raise :class:`SourceError` unless ``target`` is what ``kind`` reads."""
        target = self.target
        if self.kind == "demo":
            if target is not None:
                raise SourceError(f"the demo source reads the shipped clip, not {target!r}")
        elif self.kind == "camera":
            if isinstance(target, bool) or not isinstance(target, int) or target < 0:
                raise SourceError(f"a camera is a number from 0, not {target!r}")
        elif not isinstance(target, str):
            raise SourceError(f"the {self.kind} source needs a path or URL as text, not {target!r}")
        elif target == "":
            raise SourceError(f"the {self.kind} source is an empty string")

    @classmethod
    def choose(
        cls,
        *,
        camera: int | None = None,
        video: str | Path | None = None,
        image: str | Path | None = None,
        rtsp: str | None = None,
        demo: bool = False,
        loop: int = 1,
    ) -> SourceSpec:
        """The spec of the one source given, as a command line gives them (None: not given).

        Raises:
            SourceChoiceError: not exactly one source is given.
            SourceError: the one given does not make a valid spec (see :class:`SourceSpec`).
        """
        given = {"camera": camera, "video": video, "image": image, "rtsp": rtsp, "demo": demo or None}
        chosen = tuple(kind for kind, value in given.items() if value is not None)
        if len(chosen) != 1:
            raise SourceChoiceError(chosen)
        (kind,) = chosen
        return cls(kind, None if kind == "demo" else given[kind], loop)


def _open_demo(spec: SourceSpec) -> FrameSource:
    """The shipped demo clip as a :class:`VideoSource` named ``"demo"``, played ``spec.loop`` times.

    Raises:
        SourceError: the clip is missing from this installation.
    """
    if not DEMO_CLIP.is_file():
        raise SourceError(
            f"the demo clip is missing from this installation ({DEMO_CLIP}); reinstall faceedge"
        )
    return VideoSource(DEMO_CLIP, name="demo", loop=spec.loop)


_OPENERS: dict[str, Callable[[SourceSpec], FrameSource]] = {
    "camera": lambda spec: CameraSource(spec.target),
    "video": lambda spec: VideoSource(spec.target, loop=spec.loop),
    "image": lambda spec: ImageSource(spec.target),
    "rtsp": lambda spec: RtspSource(spec.target),
    "demo": _open_demo,
}


def open_source(spec: SourceSpec) -> FrameSource:
    """Open the source ``spec`` names, ready to iterate.

    Raises:
        SourceError: the source cannot be opened (no such file, a camera or stream that does not
            open, a clip without frames...).
    """
    return _OPENERS[spec.kind](spec)
