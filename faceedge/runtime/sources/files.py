"""File sources: image files (:class:`ImageSource`) and a video file (:class:`VideoSource`), which
the shipped demo clip (:data:`DEMO_CLIP`) is. Every frame is delivered, in order, in the caller's
thread; image files and video frames are turned into BGR uint8 by :mod:`faceedge.imaging.decode`."""

from __future__ import annotations

import glob
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from faceedge.errors import ImageDecodeError, SourceError
from faceedge.imaging.decode import MAX_PIXELS, decode_image, to_bgr8
from faceedge.runtime.sources.base import Frame, FrameSource, native_fps

log = logging.getLogger(__name__)

DEMO_CLIP = Path(__file__).resolve().parent.parent / "media" / "demo.mp4"
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
_IMAGE_KINDS = ", ".join(sorted(IMAGE_EXTENSIONS))  # for messages


class ImageSource(FrameSource):
    """Image files in sorted order; each unreadable one is logged, counted in ``stats.skipped`` and skipped.

    A file is read as what its bytes are, not what its name says; one whose header announces more
    than ``max_pixels`` pixels, or in a format without a size in its header (see
    :func:`~faceedge.imaging.decode.decode_image`), is skipped before it is decoded.

    ``spec`` is a file (read whatever its extension), a folder (its files with an image extension,
    not recursive) or a glob pattern (its matches with an image extension; ``**`` recurses).

    Raises:
        SourceError: no such file or folder, or a folder or pattern without an image file.
    """

    def __init__(self, spec: str | Path, max_pixels: int = MAX_PIXELS) -> None:
        super().__init__(str(spec))
        self.paths = image_files(str(spec))
        self._max_pixels = max_pixels
        self._closed = False

    def _frames(self) -> Iterator[Frame]:
        """Each file that decodes, as a frame; the others go to :meth:`_skip`."""
        for path in self.paths:
            if self._closed:
                return
            try:
                # The server's rule: only formats whose header states the size are decoded, so a
                # few bytes announcing a huge canvas (a GIF named .jpg) are refused before OpenCV
                # allocates it, whatever the file is called.
                image = decode_image(path.read_bytes(), self._max_pixels, sized_formats_only=True)
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


def image_files(spec: str) -> list[Path]:
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
        self.fps = native_fps(self._capture)

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


def open_demo(loop: int = 1) -> VideoSource:
    """The shipped demo clip as a :class:`VideoSource` named ``"demo"``, played ``loop`` times.

    Raises:
        SourceError: the clip is missing from this installation, or ``loop`` is below 1.
    """
    if not DEMO_CLIP.is_file():
        raise SourceError(
            f"the demo clip is missing from this installation ({DEMO_CLIP}); reinstall faceedge"
        )
    return VideoSource(DEMO_CLIP, name="demo", loop=loop)
