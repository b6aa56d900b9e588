"""What evaluation adds to the runtime's :class:`~faceedge.runtime.classifier.GenderClassifier`:
opening a model file by its kind, and averaging with the mirror images.

Every artifact the project makes (the Keras model of the training stage, the ONNX and TensorRT
artifacts of the export stage) is measured through the same classifier on the same images, so their
numbers compare directly. A new kind of artifact is one row of the runtime's backend table and one
row in :data:`EVALUATED_ON`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceedge.errors import BackendError, MissingExtraError, ModelError
from faceedge.runtime.classifier import GenderClassifier

# Kind of model file (by suffix) -> the backend evaluation runs it on, and the most chips it feeds
# that backend at once (a Keras or CPU batch of a few hundred chips keeps memory small; None: the
# backend's own largest batch).
EVALUATED_ON: dict[str, tuple[str, int | None]] = {
    ".keras": ("keras", 128),
    ".onnx": ("cpu", 256),
    ".engine": ("trt-engine", None),
}


def open_classifier(path: str | Path) -> GenderClassifier:
    """Open a model file on the backend its suffix calls for (:data:`EVALUATED_ON`).

    Raises:
        ModelError: the file is missing, of a kind faceedge cannot run, or does not load.
        MissingExtraError: its backend needs an extra that is not installed (TensorFlow for a
            ``.keras`` model, TensorRT for an engine).
        BackendError: its backend cannot run here (a TensorRT engine without a GPU).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"no model file at {path}")
    backend = EVALUATED_ON.get(path.suffix.lower())
    if backend is None:
        raise ModelError(f"{path.name}: faceedge evaluates {', '.join(sorted(EVALUATED_ON))} files")
    name, batch_size = backend
    try:
        return GenderClassifier(path, name, batch_size=batch_size)
    except BackendError as exc:
        # A missing extra is told as such (its own exit code), not as a backend that cannot run.
        if isinstance(exc.__cause__, MissingExtraError):
            raise exc.__cause__ from None
        raise


def predict_with_flip(classifier: GenderClassifier, chips: np.ndarray) -> np.ndarray:
    """Average of P(female) on the chips and on their mirror images (test-time augmentation)."""
    return predict_heads_with_flip(classifier, chips)[0]


def predict_heads_with_flip(
    classifier: GenderClassifier, chips: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """:meth:`GenderClassifier.predict_heads` averaged over the chips and their mirror images."""
    p, ages = classifier.predict_heads(chips)
    p_mirror, ages_mirror = classifier.predict_heads(np.ascontiguousarray(chips[:, :, ::-1]))
    return (p + p_mirror) / 2, None if ages is None else (ages + ages_mirror) / 2
