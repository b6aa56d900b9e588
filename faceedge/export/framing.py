"""How the training chips frame a face, measured, so that the runtime can crop faces the same way.

UTKFace chips are aligned and cropped, but the dataset does not say how. Running the bundled face
detector on training chips answers it: where the eyes sit, how far apart they are, and where the
mouth is, as fractions of the chip side. The export stage writes these medians into the
classifier's manifest; the runtime places a detected face's eyes at the same spots, at the same
scale, so the classifier sees crops framed like the chips it learned from.
"""

from __future__ import annotations

import logging

import numpy as np

from faceedge.bundled import bundled_path
from faceedge.data.utkface import UtkFace
from faceedge.imaging import decode_bgr
from faceedge.runtime.blazeface import KEYPOINTS, BlazeFaceDetector

log = logging.getLogger(__name__)


class NoFacesError(ValueError):
    """The detector found no face in any of the chips: their framing cannot be measured."""


FRAMING_IMAGES = 1000  # training chips measured (a seeded random sample)
_RIGHT_EYE, _LEFT_EYE, _MOUTH = (KEYPOINTS.index(k) for k in ("right_eye", "left_eye", "mouth_centre"))


def measure_chip_framing(images: UtkFace, detector_name: str = "blazeface_short") -> dict:
    """The median framing of the faces in ``images`` (their chips as stored, before any resize).

    Returns fractions of the chip side (x to the right, y down): ``eye_centre``, ``eye_distance``
    and ``mouth_centre``, their interquartile ranges, the median roll, and how many chips the
    detector found a face in.

    Raises:
        NoFacesError: no face in any chip.
    """
    detector = BlazeFaceDetector(bundled_path(detector_name))
    rows, side = [], None
    for sample in images.samples:
        chip = decode_bgr(sample.data)
        faces = detector.detect(chip)
        if not faces:
            continue
        side = chip.shape[1]
        points = np.asarray(faces[0].keypoints) / np.array([chip.shape[1], chip.shape[0]])
        right, left, mouth = points[_RIGHT_EYE], points[_LEFT_EYE], points[_MOUTH]
        eyes = (right + left) / 2
        dx, dy = left - right
        rows.append([*eyes, np.hypot(dx, dy), *mouth, np.degrees(np.arctan2(dy, dx))])
    if not rows:
        raise NoFacesError("the detector found no face in any chip: cannot measure their framing")
    values = np.asarray(rows)
    median = np.median(values, axis=0)
    q1, q3 = np.percentile(values, [25, 75], axis=0)
    framing = {
        "reference": "UTKFace aligned and cropped chip",
        "chip_size": side,
        "eye_centre": [round(float(median[0]), 4), round(float(median[1]), 4)],
        "eye_distance": round(float(median[2]), 4),
        "mouth_centre": [round(float(median[3]), 4), round(float(median[4]), 4)],
        "roll_degrees": round(float(median[5]), 2),
        "iqr": {
            "eye_centre": [[round(float(q1[i]), 4), round(float(q3[i]), 4)] for i in (0, 1)],
            "eye_distance": [round(float(q1[2]), 4), round(float(q3[2]), 4)],
        },
        "measured_on": {
            "images": len(images),
            "faces_found": len(rows),
            "detector": detector.manifest.model_id,
        },
    }
    log.info(
        "chip framing: eyes at %s, %.3f of the side apart, on %d of %d chips",
        framing["eye_centre"],
        framing["eye_distance"],
        len(rows),
        len(images),
    )
    return framing
