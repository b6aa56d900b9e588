"""What every face detector returns, whichever model found the face."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np


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


class FaceDetector(Protocol):
    """Finds faces in a BGR image; an empty list when there are none, never None."""

    name: str

    def detect(self, bgr: np.ndarray) -> list[Detection]: ...


class DetectorChoice(str, Enum):
    """The face detectors ``faceedge run --detector`` offers."""

    short = "short"  # bundled BlazeFace short range: faces within about 2 m (kiosks, door cameras)
    full = "full"  # bundled BlazeFace full range: farther, smaller faces
    yunet = "yunet"  # OpenCV's YuNet, from an ONNX file the user brings
