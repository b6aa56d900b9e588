"""Face crops framed like the training chips, so the classifier sees what it learned from.

UTKFace chips are aligned: the eyes and mouth sit at nearly the same spots in every chip. The
export stage measured those spots with the bundled detector and wrote them into the classifier's
manifest (``preprocessing.crop``). A detected face is mapped onto them by the similarity
transform (rotation, uniform scale, shift) that best places its eyes and mouth there, which also
levels the eyes; the chip is cut at the training chips' size, then resized exactly as training
resized chips. Parts of the chip outside the image are black, as in UTKFace chips of faces near
an image border.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceedge.errors import ModelError
from faceedge.imaging import chip_to_input
from faceedge.manifest import Manifest
from faceedge.runtime.config import MIN_FACE
from faceedge.runtime.detection import Detection

ANCHOR_POINTS = ("right_eye", "left_eye", "mouth_centre")


@dataclass(frozen=True)
class ChipTemplate:
    """Where the eyes and mouth sit in a training chip, in chip pixels (x right, y down)."""

    chip_size: int
    points: np.ndarray  # (3, 2): right eye, left eye, mouth centre

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> ChipTemplate:
        """Read ``preprocessing.crop`` of a gender manifest.

        Raises:
            ModelError: the manifest does not say how its training chips were framed.
        """
        try:
            crop = manifest.preprocessing["crop"]
            size = int(crop["chip_size"])
            (ex, ey), distance = crop["eye_centre"], float(crop["eye_distance"])
            mx, my = crop["mouth_centre"]
            roll = np.radians(float(crop.get("roll_degrees", 0.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(
                f"the manifest of {manifest.model_id} does not say how its training chips frame a face "
                f"(preprocessing.crop: {exc}); export the model again with this faceedge"
            ) from exc
        half = distance / 2 * np.array([np.cos(roll), np.sin(roll)])
        eyes = np.array([ex, ey])
        points = np.stack([eyes - half, eyes + half, np.array([mx, my])]) * size
        return cls(size, points.astype(np.float64))


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of the rotation, uniform scale and shift that best maps ``source`` points onto
    ``target`` points (least squares; both ``(n, 2)``, n >= 2, not all ``source`` points equal)."""
    # As complex numbers the map is w = a z + b, with a the scaled rotation: a closed form.
    z = source[:, 0] + 1j * source[:, 1]
    w = target[:, 0] + 1j * target[:, 1]
    zc, wc = z - z.mean(), w - w.mean()
    a = np.vdot(zc, wc) / max(np.vdot(zc, zc).real, 1e-12)
    b = w.mean() - a * z.mean()
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


class FaceCropper:
    """Detections -> classifier chips (RGB uint8, ``input_size`` square), framed like the training chips.

    Faces whose box is narrower than ``min_face`` pixels are not worth a chip: too few pixels to tell
    (see :meth:`large_enough`).
    """

    def __init__(self, template: ChipTemplate, input_size: int, min_face: int = MIN_FACE) -> None:
        self.template = template
        self.input_size = input_size
        self.min_face = min_face

    def transform(self, face: Detection) -> np.ndarray:
        """The 2x3 matrix that takes image pixels to chip pixels for ``face``."""
        source = np.array([face.point(name) for name in ANCHOR_POINTS], dtype=np.float64)
        return similarity(source, self.template.points)

    def crop(self, bgr: np.ndarray, face: Detection) -> np.ndarray:
        """One chip for ``face`` (its size is not checked here; see :meth:`crops`)."""
        matrix = self.transform(face)
        # A face much larger than the chip would alias under bilinear warping: warp it at up to 4x the
        # chip size, and let the area resize below average the pixels down.
        oversample = int(np.clip(1 / max(np.hypot(*matrix[:, 0]), 1e-6), 1, 4))
        size = self.template.chip_size * oversample
        chip = cv2.warpAffine(
            bgr, matrix * oversample, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        return chip_to_input(chip, self.input_size)

    def large_enough(self, faces: list[Detection]) -> list[int]:
        """The indices of the faces at least ``min_face`` pixels wide."""
        return [i for i, face in enumerate(faces) if face.box[2] >= self.min_face]

    def crops(self, bgr: np.ndarray, faces: list[Detection]) -> np.ndarray:
        """Chips ``(n, size, size, 3)`` of ``faces``, in their order."""
        chips = np.empty((len(faces), self.input_size, self.input_size, 3), dtype=np.uint8)
        for row, face in enumerate(faces):
            chips[row] = self.crop(bgr, face)
        return chips
