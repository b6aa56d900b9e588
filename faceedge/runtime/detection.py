"""What every face detector returns, whichever model found the face."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from faceedge.runtime.backends import Backend


@dataclass(frozen=True)
class Detection:
    """One face: box ``(x, y, w, h)`` and named keypoints ``((x, y), ...)``, all in image pixels."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: tuple[tuple[float, float], ...]
    keypoint_names: tuple[str, ...]

    def point(self, name: str) -> tuple[float, float]:
        """The keypoint called ``name``; ``mouth_centre`` is also the middle of two mouth corners.

        Raises:
            KeyError: this detector does not give that point.
        """
        if name in self.keypoint_names:
            return self.keypoints[self.keypoint_names.index(name)]
        if name == "mouth_centre" and {"mouth_right", "mouth_left"} <= set(self.keypoint_names):
            (x0, y0), (x1, y1) = self.point("mouth_right"), self.point("mouth_left")
            return ((x0 + x1) / 2, (y0 + y1) / 2)
        raise KeyError(f"this detection has no {name!r} point (it has {', '.join(self.keypoint_names)})")

    def moved(self, dx: float, dy: float) -> Detection:
        """The same face ``dx`` pixels to the right and ``dy`` down: box and keypoints, same score."""
        x, y, w, h = self.box
        keypoints = tuple((px + dx, py + dy) for px, py in self.keypoints)
        return Detection((x + dx, y + dy, w, h), self.score, keypoints, self.keypoint_names)


class FaceDetector(Protocol):
    """Finds faces in a BGR image; an empty list when there are none, never None.

    ``backend`` is the inference backend that runs the detector's model, or None where the
    detector runs on OpenCV's own inference (YuNet).
    """

    name: str
    backend: Backend | None

    def prepare(self, bgr: np.ndarray) -> object | None:
        """The part of :meth:`detect`'s work on ``bgr`` that can be done ahead, in another thread
        (a resize), for :meth:`detect` only; None for a detector with nothing to do ahead."""
        ...

    def detect(self, bgr: np.ndarray, prepared: object | None = None) -> list[Detection]:
        """The faces in ``bgr``; ``prepared`` is :meth:`prepare`'s result for it, or None."""
        ...

    def close(self) -> None:
        """Free what the detector holds (device memory); a no-op for one that holds nothing."""
        ...


class DetectorChoice(str, Enum):
    """The face detectors ``faceedge run --detector`` offers."""

    short = "short"  # bundled BlazeFace short range: faces within about 2 m (kiosks, door cameras)
    full = "full"  # bundled BlazeFace full range: farther, smaller faces
    yunet = "yunet"  # OpenCV's YuNet, from an ONNX file the user brings
