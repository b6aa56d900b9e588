"""YuNet, OpenCV's own face detector, for users who bring its ONNX file.

faceedge does not ship YuNet; ``faceedge run --detector yunet --detector-model FILE`` runs a copy
the user has (OpenCV Zoo's ``face_detection_yunet_2023mar.onnx``) through ``cv2.FaceDetectorYN``,
on OpenCV's own CPU inference.

YuNet misses faces much larger than its training faces, and takes seconds on a photograph of tens
of megapixels: measured on the astronaut portrait scaled to 4000 px, it found only a wrong, 62 px face
where it finds her at 1280 px, and spent 1.5 s instead of 0.1 s. Frames with a longer side than
``max_side`` are therefore shrunk before detection, and the faces mapped back to the frame's pixels.
In the same measurement YuNet still found her face 10 px wide, so at the default a frame up to 2560 px keeps a
face of the smallest width faceedge classifies (``MIN_FACE``, 20 px) within its reach.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from faceedge.errors import ModelError
from faceedge.manifest import sha256_file
from faceedge.runtime.detection import Detection

log = logging.getLogger(__name__)

# YuNet's five landmarks, in the order of its output rows (left/right as the person sees them).
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left")
MIN_SIDE = 32
MAX_SIDE = 1280  # longer frames are shrunk to this side before detection


class YuNetDetector:
    """``cv2.FaceDetectorYN`` on a YuNet ONNX file: ``detect(bgr)`` gives the faces, best first."""

    def __init__(
        self,
        path: str | Path,
        min_score: float = 0.7,
        nms_iou: float = 0.3,
        top_k: int = 5000,
        max_side: int = MAX_SIDE,
    ) -> None:
        if max_side < MIN_SIDE:
            raise ValueError(f"max_side must be at least {MIN_SIDE} pixels, not {max_side}")
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"no YuNet model at {path}: pass its ONNX file with `detector_model`")
        try:
            self.model = cv2.FaceDetectorYN.create(str(path), "", (320, 320), min_score, nms_iou, top_k)
        except cv2.error as exc:
            raise ModelError(f"OpenCV cannot load {path} as a YuNet face detector: {exc}") from exc
        self.name = f"yunet:{path.name}"
        self.backend = None  # OpenCV's own inference runs it, on the CPU
        self.max_side = max_side
        self.sha256 = sha256_file(path)
        self._size: tuple[int, int] | None = None
        log.info("YuNet detector %s (sha256 %s)", path, self.sha256[:12])

    def prepare(self, bgr: np.ndarray) -> None:
        """None: YuNet does all its work in :meth:`detect`."""
        return None

    def detect(self, bgr: np.ndarray, prepared: None = None) -> list[Detection]:
        """Faces in a BGR image, best first (an empty list when there are none)."""
        height, width = bgr.shape[:2]
        shrink = min(1.0, self.max_side / max(height, width))
        if shrink < 1.0:
            size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        size = (bgr.shape[1], bgr.shape[0])
        if min(size) < MIN_SIDE:  # too small to hold a face, and below what YuNet's grid accepts
            return []
        # Pixels of the detector's input -> pixels of the frame, per axis (rounding differs).
        sx, sy = width / size[0], height / size[1]
        if size != self._size:  # YuNet's anchors depend on the input size
            self.model.setInputSize(size)
            self._size = size
        _, rows = self.model.detect(bgr)
        if rows is None:
            return []
        faces = []
        for row in sorted(rows, key=lambda r: -r[14]):
            points = tuple((float(row[i] * sx), float(row[i + 1] * sy)) for i in range(4, 14, 2))
            box = (float(row[0] * sx), float(row[1] * sy), float(row[2] * sx), float(row[3] * sy))
            faces.append(Detection(box, float(row[14]), points, KEYPOINTS))
        return faces

    def close(self) -> None:
        """Nothing to free: OpenCV's detector holds no device memory."""
