"""The bundled face detector (MediaPipe BlazeFace, exported to ONNX by `faceedge export detector`).

Everything that decides how its input is made and its output read (input scaling, anchor grid,
box scale, score threshold, suppression) comes from the artifact's manifest; this module holds
the arithmetic only. numpy and OpenCV, nothing heavier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceedge.errors import ModelError
from faceedge.manifest import Manifest
from faceedge.runtime.backends import open_backend
from faceedge.runtime.detection import Detection

# The detector's six landmarks, in the order of its outputs (left/right as the person sees them).
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear", "left_ear")


def ssd_anchors(input_size: int, strides: list[int], offset: float, anchors_per_layer: int) -> np.ndarray:
    """Anchor centres ``(n, 2)`` as fractions of the input, in the detector's output order.

    Consecutive layers with the same stride share one feature map: each of its cells holds
    ``anchors_per_layer`` anchors per such layer. Cells run row by row.
    """
    centres = []
    layer = 0
    while layer < len(strides):
        stride, same = strides[layer], 0
        while layer + same < len(strides) and strides[layer + same] == stride:
            same += 1
        cells = math.ceil(input_size / stride)
        axis = (np.arange(cells) + offset) / cells
        ys, xs = np.meshgrid(axis, axis, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, same * anchors_per_layer, axis=0))
        layer += same
    return np.concatenate(centres).astype(np.float32)


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Fit an image into ``size`` x ``size`` keeping its aspect ratio, padded with black around it.

    Returns the square image, the scale applied, and the padding ``(left, top)`` in pixels.
    """
    height, width = rgb.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=interpolation)
    left, top = (size - new_w) // 2, (size - new_h) // 2
    square = np.zeros((size, size, 3), dtype=rgb.dtype)
    square[top : top + new_h, left : left + new_w] = resized
    return square, scale, (float(left), float(top))


def decode(
    regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray, box_scale: float, score_clip: float
) -> tuple[np.ndarray, np.ndarray]:
    """Raw outputs -> ``(points (n, 8, 2), scores (n,))``, points as fractions of the input side.

    Point 0 is the box centre, point 1 its width and height, points 2-7 the keypoints; centre
    and keypoints are offsets from the anchor, all in input pixels (hence ``box_scale``).
    """
    points = regressors.reshape(len(anchors), -1, 2) / box_scale
    points[:, 0] += anchors
    points[:, 2:] += anchors[:, None, :]
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(-1), -score_clip, score_clip)))
    return points, scores


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(x0, y0, x1, y1)`` box with many."""
    x0, y0 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x1, y1 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def weighted_nms(points: np.ndarray, scores: np.ndarray, iou: float) -> list[tuple[np.ndarray, float]]:
    """Merge overlapping detections: each cluster around the best remaining one becomes the
    score-weighted mean of its members, with the best member's score."""
    corners = np.concatenate([points[:, 0] - points[:, 1] / 2, points[:, 0] + points[:, 1] / 2], axis=1)
    remaining = np.argsort(-scores)
    kept = []
    while len(remaining):
        overlaps = _iou(corners[remaining[0]], corners[remaining]) > iou
        overlaps[0] = True  # the best one always belongs to its own cluster, even with an empty box
        cluster = remaining[overlaps]
        weights = scores[cluster] / scores[cluster].sum()
        kept.append((np.tensordot(weights, points[cluster], axes=1), float(scores[remaining[0]])))
        remaining = remaining[~overlaps]
    return kept


@dataclass(frozen=True)
class DetectorInput:
    """A frame made ready for the detector, and the letterbox that maps its boxes back."""

    tensor: np.ndarray
    scale: float
    pad: tuple[float, float]


class BlazeFaceDetector:
    """A BlazeFace ONNX artifact on one of the inference backends: ``detect(bgr)`` gives the faces.

    The file is checked against its manifest when the detector is created. ``min_score`` and
    ``nms_iou`` default to the manifest's values.
    """

    def __init__(
        self,
        path: str | Path,
        min_score: float | None = None,
        nms_iou: float | None = None,
        backend: str = "cpu",
        cache_dir: Path | None = None,
    ) -> None:
        self.backend = open_backend(path, "face-detection", backend, cache_dir)
        self.manifest = self.backend.manifest
        self.name = self.manifest.model_id
        self.params = _Params.from_manifest(self.manifest)
        self.min_score = self.params.min_score if min_score is None else min_score
        self.nms_iou = self.params.nms_iou if nms_iou is None else nms_iou

    def prepare(self, bgr: np.ndarray) -> DetectorInput:
        """The detector's input for one BGR image: letterboxed, in RGB, scaled as its manifest says.

        Separate from :meth:`detect` so that a frame reader thread can do this resize while the
        previous frame is being classified.
        """
        spec = self.manifest.inputs[0]
        # Shrink first, then swap the channels of the small image: a channel swap of a whole frame
        # costs more than the detector itself.
        square, scale, pad = letterbox(bgr, self.params.input_size)
        x = ((cv2.cvtColor(square, cv2.COLOR_BGR2RGB).astype(np.float32) - spec.mean) * spec.scale)[None]
        return DetectorInput(x, scale, pad)

    def raw(
        self, bgr: np.ndarray, prepared: DetectorInput | None = None
    ) -> tuple[dict[str, np.ndarray], float, tuple[float, float]]:
        """The detector's raw outputs on one BGR image, with the letterbox that made its input."""
        prepared = prepared or self.prepare(bgr)
        outputs = self.backend.run({self.manifest.inputs[0].name: prepared.tensor})
        return outputs, prepared.scale, prepared.pad

    def detect(self, bgr: np.ndarray, prepared: DetectorInput | None = None) -> list[Detection]:
        """Faces in a BGR image, best first (an empty list when there are none). ``prepared`` is
        :meth:`prepare`'s result for this image, where it was made ahead."""
        outputs, scale, (left, top) = self.raw(bgr, prepared)
        p = self.params
        points, scores = decode(outputs[p.boxes], outputs[p.scores], p.anchors, p.box_scale, p.score_clip)
        # Boxes without area are not faces (MediaPipe drops them too).
        keep = (scores >= self.min_score) & np.all(points[:, 1] > 0, axis=1)
        faces = []
        for merged, score in weighted_nms(points[keep], scores[keep], self.nms_iou):
            image_points = (merged * p.input_size - (left, top)) / scale
            (cx, cy), (w, h) = image_points[0], merged[1] * p.input_size / scale
            keypoints = tuple((float(x), float(y)) for x, y in image_points[2:])
            faces.append(
                Detection(
                    (float(cx - w / 2), float(cy - h / 2), float(w), float(h)), score, keypoints, KEYPOINTS
                )
            )
        return faces

    def close(self) -> None:
        """Free the backend (a GPU backend holds device memory)."""
        self.backend.close()


@dataclass(frozen=True)
class _Params:
    """What the manifest says about the anchors and the decoding."""

    input_size: int
    anchors: np.ndarray
    boxes: str
    scores: str
    box_scale: float
    score_clip: float
    min_score: float
    nms_iou: float

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> _Params:
        try:
            anchors, decision = manifest.extra["anchors"], manifest.decision
            size = int(anchors["input_size"])
            grid = ssd_anchors(size, list(anchors["strides"]), anchors["offset"], anchors["per_layer"])
            if len(grid) != anchors["count"]:
                raise ModelError(f"the manifest's anchors make {len(grid)} boxes, not {anchors['count']}")
            return cls(
                size,
                grid,
                decision["boxes"],
                decision["output"],
                float(decision["box_scale"]),
                float(decision["score_clip"]),
                float(decision["threshold"]),
                float(decision["nms_iou"]),
            )
        except (KeyError, TypeError) as exc:
            raise ModelError(
                f"the detector manifest {manifest.model_id} lacks its decoding data: {exc}"
            ) from exc
