"""Distillation: training targets that blend the labels with what trained models predict.

A teacher is a trained faceedge model (or several, averaged). Its predictions on the training
images are made once, before training, on each image and its mirror image (the augmentation flips
images, so the target must not depend on the side a face looks to). The student learns
``(1 - weight) * label + weight * teacher``: where the teachers are unsure (small children, most of
all) it is not pushed to a certainty the data cannot support.

A teacher must not have trained on the student's validation or test images: its predictions would
carry their labels into the student's training and inflate what the student is measured at.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from faceedge.data.split import SPLIT_FILE_NAME, Split, read_split
from faceedge.data.utkface import UtkFace
from faceedge.errors import ModelError
from faceedge.evaluate.predictors import open_classifier, predict_with_flip
from faceedge.imaging import decode_chips

log = logging.getLogger(__name__)


def check_teachers(teachers: tuple[str, ...], weight: float) -> None:
    """Refuse, before anything is written, teachers that are missing or a weight outside [0, 1].

    Raises:
        ModelError: a teacher file or the split file beside it is missing, or ``weight`` is invalid.
    """
    if teachers and not 0.0 <= weight <= 1.0:
        raise ModelError(f"the distillation weight must lie in [0, 1], not {weight}")
    for path in map(Path, teachers):
        if not path.is_file():
            raise ModelError(f"no teacher model at {path}")
        if not (path.parent / SPLIT_FILE_NAME).is_file():
            raise ModelError(
                f"the teacher {path} has no {SPLIT_FILE_NAME} beside it: faceedge cannot tell whether it "
                "trained on the student's validation or test images"
            )


def _check_no_leak(path: Path, student: Split) -> None:
    """The teacher's split covers the student's images, and neither trained on nor selected its
    epoch with the images the student is validated or tested on."""
    teacher = read_split(path.parent / SPLIT_FILE_NAME)
    if set(teacher.assignment) != set(student.assignment):
        raise ModelError(
            f"the teacher {path} was split over other images than the student: faceedge cannot tell "
            "what it learned from; distil from teachers trained on the same split"
        )
    seen = {
        "trained on": (set(teacher.names("train")), set(student.names("val")) | set(student.names("test"))),
        "chose its best epoch on": (set(teacher.names("val")), set(student.names("test"))),
    }
    for what, (teacher_images, student_held_out) in seen.items():
        leaked = teacher_images & student_held_out
        if leaked:
            raise ModelError(
                f"the teacher {path} {what} {len(leaked)} of the images the student is measured on "
                f"(for example {sorted(leaked)[0]}): distil from teachers trained on the same split"
            )


def distillation_targets(
    teachers: tuple[str, ...], weight: float, train_set: UtkFace, split: Split
) -> np.ndarray:
    """One training target per image of ``train_set``: the label blended with the teachers' mean.

    Raises:
        ModelError: a teacher cannot be loaded or trained on the student's held-out images.
    """
    labels = train_set.genders.astype(np.float64)
    predicted = np.zeros(len(train_set))
    for path in map(Path, teachers):
        _check_no_leak(path, split)
        teacher = open_classifier(path)
        log.info("teacher %s: predicting %d training images and their mirror images", path, len(train_set))
        chips = decode_chips([s.data for s in train_set.samples], teacher.input_size)
        p = predict_with_flip(teacher, chips)
        log.info(
            "teacher %s: %.2f %% of the training images right (mirror-averaged)",
            path,
            100 * float(((p > 0.5) == (labels > 0.5)).mean()),
        )
        predicted += p
    predicted /= len(teachers)
    return ((1.0 - weight) * labels + weight * predicted).astype(np.float32)
