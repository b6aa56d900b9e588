"""Where results go: JSON lines (each face's and event's age and age group too, null for a
gender-only model), an annotated video file, a window. Each is closed properly, also
when a run is interrupted, so a file written so far stays readable."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from faceedge.ages import whole_years
from faceedge.errors import OutputError
from faceedge.paths import check_writable
from faceedge.runtime.pipeline import Face, FrameResult
from faceedge.runtime.tracker import TrackEvent

# BGR colours of the labels.
COLOURS = {"female": (180, 80, 240), "male": (230, 160, 40)}


class JsonLinesWriter:
    """One JSON object per line, to stdout (``path`` None or ``-``) or a file; flushed per line, so
    a consumer reading the stream sees each frame as it is done."""

    def __init__(self, path: str | Path | None = None, events: bool = False) -> None:
        self.events = events
        self._own = path not in (None, "-")
        try:
            self._out: TextIO = open(path, "w", encoding="utf-8") if self._own else sys.stdout  # noqa: SIM115
        except OSError as exc:
            raise OutputError(f"cannot write JSON to {path}: {exc.strerror}") from exc

    def write(self, result: FrameResult) -> None:
        """The frame's line, or with ``events`` one line per track event of the frame."""
        if self.events:
            for event in result.events:
                self.write_event(event, result.source)
        else:
            self._line(result.to_dict())

    def write_event(self, event: TrackEvent, source: str) -> None:
        if self.events:
            self._line({"source": source, **event.to_dict()})

    def _line(self, record: dict) -> None:
        self._out.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._out.flush()

    def close(self) -> None:
        if self._own and not self._out.closed:
            self._out.close()


# The containers OpenCV's writer makes from the file name's extension that take the MPEG-4 video
# the saver writes; with another name it opens no writer, which would only show at the first frame.
VIDEO_CONTAINERS = (".mp4", ".m4v", ".mov", ".mkv", ".avi")


def check_video_path(path: str | Path) -> Path:
    """Refuse, before any work, a path the annotated video cannot be saved to; return it as a Path.

    Raises:
        OutputError: a name without a video extension (:data:`VIDEO_CONTAINERS`), a folder, a
            missing folder, or a file that cannot be written (see :func:`faceedge.paths.check_writable`).
    """
    path = Path(path)
    if path.suffix.lower() not in VIDEO_CONTAINERS and not path.is_dir():
        raise OutputError(
            f"cannot save the video to {path}: the name must end in {', '.join(VIDEO_CONTAINERS)}"
        )
    return check_writable(path, "video")


class VideoSaver:
    """The annotated frames as an MP4 file. The size is taken from the first frame; frames of
    another size (a folder of images) are letterboxed into it.

    Raises:
        OutputError: ``path`` cannot take the video (see :func:`check_video_path`).
    """

    def __init__(self, path: str | Path, fps: float | None) -> None:
        self.path = check_video_path(path)
        self.fps = fps if fps and 1 <= fps <= 240 else 30.0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None

    def write(self, bgr: np.ndarray) -> None:
        if self._writer is None:
            self._size = (bgr.shape[1], bgr.shape[0])
            self._writer = cv2.VideoWriter(
                str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._size
            )
            if not self._writer.isOpened():
                raise OutputError(f"OpenCV cannot write an MP4 video to {self.path}")
        if (bgr.shape[1], bgr.shape[0]) != self._size:
            bgr = _fit(bgr, self._size)
        self._writer.write(bgr)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


def display_available() -> bool:
    """Whether a window can be shown: on Linux, only with an X11 or Wayland display."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class Display:
    """A window showing the annotated frames; ``q`` or Esc asks to stop."""

    WINDOW = "faceedge"

    def __init__(self) -> None:
        self._open = False

    def show(self, bgr: np.ndarray) -> bool:
        """Show a frame; False when the user asked to quit."""
        try:
            cv2.imshow(self.WINDOW, bgr)
            self._open = True
            key = cv2.waitKey(1) & 0xFF
        except cv2.error as exc:
            raise OutputError(f"cannot open a window ({exc.err}); run with `display=False`") from exc
        return key not in (ord("q"), 27)

    def close(self) -> None:
        if self._open:
            cv2.destroyWindow(self.WINDOW)
            self._open = False


def label(face: Face) -> str:
    """What is written above a face: ``female 34 (87%) #3`` (gender, age in whole years, the
    confidence in the gender, track), ``female 87% #3`` for a gender-only model."""
    confidence = face.p_female if face.gender == "female" else 1 - face.p_female
    if face.age is None:
        text = f"{face.gender} {confidence:.0%}"
    else:
        # Whole years as a person says an age, held to 0-MAX_AGE as its age group is: an estimate
        # a little below 0 reads "0", not "-0".
        text = f"{face.gender} {whole_years(face.age)} ({confidence:.0%})"
    return text + (f" #{face.track}" if face.track is not None else "")


def draw(bgr: np.ndarray, result: FrameResult, fps: float | None = None) -> np.ndarray:
    """A copy of the frame with each face's box and :func:`label`, and the FPS."""
    canvas = bgr.copy()
    thickness = max(1, round(max(canvas.shape[:2]) / 600))
    for face in result.faces:
        x, y, w, h = (round(v) for v in face.box)
        colour = COLOURS.get(face.gender, (200, 200, 200))
        text = label(face)
        cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, thickness + 1)
        _text(canvas, text, (x, max(y - 6 * thickness, 12 * thickness)), colour, thickness)
    if fps is not None:
        _text(canvas, f"{fps:.0f} FPS", (10, 24 * thickness), (255, 255, 255), thickness)
    return canvas


def _text(canvas: np.ndarray, text: str, origin: tuple[int, int], colour, thickness: int) -> None:
    scale = 0.5 * thickness
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


def _fit(bgr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    scale = min(width / bgr.shape[1], height / bgr.shape[0])
    resized = cv2.resize(bgr, (max(1, round(bgr.shape[1] * scale)), max(1, round(bgr.shape[0] * scale))))
    out = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    out[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return out
