"""Where frames come from: image files, a video file, a camera, an RTSP stream, or the shipped demo clip.

Every source is iterated the same way and yields :class:`Frame` objects holding BGR uint8 images.
File sources (images, video, demo) deliver every frame, in order, in the caller's thread. Live
sources (camera, RTSP) read in their own daemon thread into a one-slot buffer: the consumer always
gets the newest frame, and a pipeline slower than the camera skips frames instead of falling
further and further behind. Open one with :func:`open_source`; close it, or use it as a context
manager, to stop its thread and release its capture.

Image bytes go through :func:`decode_image`, which turns anything that is not a complete image into
:class:`~faceedge.data.images.ImageDecodeError` and reads the size a file announces from its header
before decoding it, so that a small file cannot make it allocate gigabytes.
"""

from __future__ import annotations

import glob
import logging
import math
import struct
import threading
import time
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from faceedge.data.images import ImageDecodeError, check_jpeg_structure
from faceedge.errors import SourceError

log = logging.getLogger(__name__)

DEMO_CLIP = Path(__file__).resolve().parent / "media" / "demo.mp4"
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
MAX_PIXELS = 100_000_000

# ANYDEPTH | ANYCOLOR rather than UNCHANGED: both keep 16-bit and grey images as they are, but only
# this one applies the EXIF orientation, without which a phone's portrait photo arrives on its side
# and its faces are missed. OpenCV drops an alpha channel under these flags, as to_bgr8 would.
_IMREAD_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR


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


# --- Decoding --------------------------------------------------------------------------------------


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any decoded image as BGR uint8, ``H x W x 3``, C-contiguous (the input itself when it already is).

    Grey (``H x W`` or ``H x W x 1``) is repeated into three channels, an alpha channel is dropped,
    16-bit values are scaled (65535 becomes 255) and floats are read as 0 to 1 (clipped, NaN as 0).

    Raises:
        ImageDecodeError: the array cannot be an image: empty, not 2-D or 3-D, 2 or more than 4
            channels, or of a pixel type other than uint8, uint16 and float.
    """
    if image.size == 0:
        raise ImageDecodeError(f"empty image (shape {image.shape})")
    if image.ndim == 3 and image.shape[2] in (1, 3, 4):
        channels = image.shape[2]
    elif image.ndim == 2:
        channels = 1
    else:
        raise ImageDecodeError(f"an array of shape {image.shape} is not an image")
    pixels = _to_uint8(image)
    if channels == 1:
        grey = pixels.reshape(pixels.shape[:2])
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.ascontiguousarray(pixels if channels == 3 else pixels[:, :, :3])


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        unit = np.clip(np.nan_to_num(image, nan=0.0), 0.0, 1.0)
        return (unit * 255.0 + 0.5).astype(np.uint8)
    raise ImageDecodeError(f"pixels of type {image.dtype} are not an image this runtime reads")


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an encoded image (any format OpenCV reads) into BGR uint8 (see :func:`to_bgr8`).

    PNG, JPEG, BMP, WebP and TIFF files are refused before decoding when their header announces
    more than ``max_pixels`` pixels; other formats are checked once decoded (OpenCV itself refuses
    more than 2**30 pixels). JPEG orientation metadata is applied.

    Raises:
        ImageDecodeError: and nothing else, for empty bytes, bytes in no format OpenCV reads, a
            corrupt or truncated image, or one with more than ``max_pixels`` pixels.
    """
    if not data:
        raise ImageDecodeError("empty file")
    if data.startswith(_JPEG_SIGNATURE):
        check_jpeg_structure(data)  # libjpeg decodes a truncated file into grey padding
    announced = _announced_size(data)
    if announced is not None:
        _check_pixels(*announced, max_pixels)
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), _IMREAD_FLAGS)
    except cv2.error as exc:
        raise ImageDecodeError(f"OpenCV cannot decode it ({exc.err or exc})") from exc
    if image is None or image.size == 0:
        raise ImageDecodeError("OpenCV cannot decode it (corrupt, or in no format it reads)")
    _check_pixels(image.shape[1], image.shape[0], max_pixels)
    return to_bgr8(image)


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageDecodeError(f"{width} x {height} pixels is more than the {max_pixels} allowed")


# Each header reader gets bytes that start with its signature and returns the announced
# (width, height), or None when the header does not say and the decoded size is checked instead.
# A header too short or malformed to hold a size is a broken file: ImageDecodeError.

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8"
# Start-of-frame markers, which carry the size: C0 to CF except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn stand alone
_JPEG_SOS, _JPEG_EOI = 0xDA, 0xD9


def _png_size(data: bytes) -> tuple[int, int] | None:
    # The IHDR chunk comes first: length (4), type (4), width (4), height (4), all big-endian.
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ImageDecodeError("corrupt PNG (no IHDR header)")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    position = 2
    while True:
        # Like libjpeg, skip stray bytes and fill bytes between segments.
        position = data.find(b"\xff", position)
        while 0 <= position < len(data) - 1 and data[position + 1] == 0xFF:
            position += 1
        if position < 0 or position + 4 > len(data):
            raise ImageDecodeError("corrupt JPEG (no frame header)")
        marker = data[position + 1]
        if marker in _JPEG_NO_LENGTH or marker == 0x00:
            position += 2
            continue
        if marker in (_JPEG_SOS, _JPEG_EOI):
            raise ImageDecodeError("corrupt JPEG (image data before the frame header)")
        if marker in _JPEG_SOF:
            if position + 9 > len(data):
                raise ImageDecodeError("truncated JPEG frame header")
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        raise ImageDecodeError("truncated BMP header")
    if int.from_bytes(data[14:18], "little") == 12:  # the old OS/2 header: 16-bit sizes
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])  # negative height: rows run top-down
    return abs(width), abs(height)


def _webp_size(data: bytes) -> tuple[int, int] | None:
    if data[8:12] != b"WEBP":
        return None  # a RIFF file of another kind, which OpenCV will refuse
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:  # lossy: 14-bit sizes after the key frame's start code
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:  # lossless: 14-bit sizes minus one, packed
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:  # extended: 24-bit canvas sizes minus one
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    raise ImageDecodeError("corrupt WebP header")


_TIFF_WIDTH, _TIFF_HEIGHT = 256, 257
_TIFF_INTEGERS = {3: "H", 4: "I", 16: "Q"}  # SHORT, LONG, LONG8 (BigTIFF)


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    # Classic TIFF: 4-byte IFD offsets, 2-byte entry counts, 12-byte entries with a 4-byte value;
    # BigTIFF doubles all three. The first IFD describes the image that OpenCV decodes.
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    offset_format, count_format, entry_size = ("Q", "Q", 20) if big else ("I", "H", 12)
    try:
        (ifd,) = struct.unpack_from(order + offset_format, data, 8 if big else 4)
        if ifd >= len(data):
            raise ImageDecodeError("truncated TIFF header")
        (count,) = struct.unpack_from(order + count_format, data, ifd)
        first = ifd + struct.calcsize(count_format)
        sizes = {}
        for entry in range(first, first + entry_size * min(count, len(data) // entry_size), entry_size):
            tag, kind = struct.unpack_from(order + "HH", data, entry)
            if tag in (_TIFF_WIDTH, _TIFF_HEIGHT):
                if kind not in _TIFF_INTEGERS:
                    raise ImageDecodeError("corrupt TIFF (an image size that is not an integer)")
                (sizes[tag],) = struct.unpack_from(
                    order + _TIFF_INTEGERS[kind], data, entry + entry_size - (8 if big else 4)
                )
                if len(sizes) == 2:
                    return sizes[_TIFF_WIDTH], sizes[_TIFF_HEIGHT]
    except struct.error as exc:
        raise ImageDecodeError("truncated TIFF header") from exc
    raise ImageDecodeError("corrupt TIFF (no image size)")


_HEADER_READERS: tuple[tuple[bytes, Callable[[bytes], tuple[int, int] | None]], ...] = (
    (_PNG_SIGNATURE, _png_size),
    (_JPEG_SIGNATURE, _jpeg_size),
    (b"BM", _bmp_size),
    (b"RIFF", _webp_size),
    (b"II*\x00", _tiff_size),
    (b"MM\x00*", _tiff_size),
    (b"II+\x00", _tiff_size),
    (b"MM\x00+", _tiff_size),
)


def _announced_size(data: bytes) -> tuple[int, int] | None:
    for signature, reader in _HEADER_READERS:
        if data.startswith(signature):
            return reader(data)
    return None


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
        if self._iterated:
            raise RuntimeError(f"source {self.name} is read once; open it again to read it again")
        self._iterated = True
        return self._frames()

    @abstractmethod
    def _frames(self) -> Iterator[Frame]: ...

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
        log.warning("skipping %s: %s", path, reason)
        self.stats.skipped.append((str(path), reason))

    def close(self) -> None:
        self._closed = True


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _image_files(spec: str) -> list[Path]:
    path = Path(spec)
    kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
    if path.is_dir():
        try:
            files = sorted(p for p in path.iterdir() if p.is_file() and _is_image_name(p))
        except OSError as exc:
            raise SourceError(f"cannot list folder {spec}: {exc.strerror or exc}") from exc
        if not files:
            raise SourceError(f"folder {spec} holds no image file ({kinds})")
        return files
    if path.exists():
        return [path]
    if any(character in spec for character in "*?["):
        matches = sorted(Path(match) for match in glob.glob(spec, recursive=True))
        files = [match for match in matches if match.is_file() and _is_image_name(match)]
        if not files:
            others = f"; it matches {len(matches)} other paths" if matches else ""
            raise SourceError(f"no image file ({kinds}) matches {spec}{others}")
        return files
    raise SourceError(f"no such file or folder: {spec}")


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
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if math.isfinite(fps) and fps > 0 else None

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
        for lap in range(self._loop):
            read = self._first if lap == 0 else self._restart()
            self._first = None
            while read is not None:
                image, timestamp = read
                frame = Frame(to_bgr8(image), self.stats.frames, self.name, timestamp)
                self.stats.frames += 1
                yield frame
                read = self._read()

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
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if math.isfinite(fps) and fps > 0 else None

    def _not_open_message(self, tries: int) -> str:
        return f"{self.name} does not open ({tries} tries)"

    def _backoff(self, attempt: int) -> float:
        return min(self._backoff_s * 2 ** (attempt - 1), self._max_backoff_s)

    def _open_first(self, tries: int) -> cv2.VideoCapture:
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
        self._start()
        while True:
            with self._condition:
                self._condition.wait_for(
                    lambda: (
                        self._closed or self._latest is not None or self._error is not None or self._finished
                    )
                )
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

    def _start(self) -> None:
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
                    capture = None
                if failures == self._max_retries:
                    raise SourceError(
                        f"{self.name} stayed down: no frame after {failures} reconnection tries"
                    )
                failures += 1
                delay = self._backoff(failures)
                log.warning(
                    "%s: no frame; reconnecting in %.1f s (try %d of %d)",
                    self.name,
                    delay,
                    failures,
                    self._max_retries,
                )
                if self._stop.wait(delay):
                    break
                self.stats.reconnects += 1
                capture = self._open()
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


# --- Opening ---------------------------------------------------------------------------------------


def _open_camera(index: int, loop: int) -> FrameSource:
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise SourceError(f"a camera is a number from 0, not {index!r}")
    return CameraSource(index)


def _open_demo(_: bool, loop: int) -> FrameSource:
    if not DEMO_CLIP.is_file():
        raise SourceError(
            f"the demo clip is missing from this installation ({DEMO_CLIP}); reinstall faceedge"
        )
    return VideoSource(DEMO_CLIP, name="demo", loop=loop)


_OPENERS: dict[str, Callable[..., FrameSource]] = {
    "camera": _open_camera,
    "video": lambda path, loop: VideoSource(path, loop=loop),
    "image": lambda spec, loop: ImageSource(spec),
    "rtsp": lambda url, loop: RtspSource(url),
    "demo": _open_demo,
}
_LOOPED = ("video", "demo")


def open_source(
    *,
    camera: int | None = None,
    video: str | None = None,
    image: str | None = None,
    rtsp: str | None = None,
    demo: bool = False,
    loop: int = 1,
) -> FrameSource:
    """Open the one source given: a camera index, a video file, images, an RTSP URL, or the demo clip.

    ``image`` is a file, a folder or a glob pattern (see :class:`ImageSource`). ``loop`` plays a
    video or the demo clip that many times.

    Raises:
        SourceError: not exactly one source is given, ``loop`` is below 1 or given to a source that
            cannot loop, or the source cannot be opened.
    """
    given = {"camera": camera, "video": video, "image": image, "rtsp": rtsp, "demo": demo or None}
    chosen = [kind for kind, value in given.items() if value is not None]
    if len(chosen) != 1:
        got = f"; got {' and '.join(chosen)}" if chosen else ""
        raise SourceError(f"give exactly one source: camera, video, image, rtsp or demo{got}")
    (kind,) = chosen
    if loop < 1:
        raise SourceError(f"loop must be at least 1, not {loop}")
    if loop != 1 and kind not in _LOOPED:
        raise SourceError(f"loop plays a video or the demo clip again; a {kind} source cannot loop")
    if given[kind] == "":
        raise SourceError(f"the {kind} source is an empty string")
    return _OPENERS[kind](given[kind], loop)
