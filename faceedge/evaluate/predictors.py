"""A gender model, whatever runs it, seen as one function: face chips in, P(female) out.

Evaluation only talks to :class:`Predictor`, so every artifact the project makes (the Keras model of
the training stage, the ONNX and TensorRT artifacts of the export stage) is measured by the same
code on the same images, and their numbers compare directly. A new kind of artifact is one class and
one row in :data:`PREDICTORS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from faceedge.errors import ModelError, require


class Predictor(Protocol):
    """Takes RGB uint8 chips ``(n, size, size, 3)`` and returns P(female) as float ``(n,)``."""

    backend: str
    input_size: int

    def predict(self, chips: np.ndarray) -> np.ndarray: ...


class KerasPredictor:
    """A ``.keras`` model from the training stage, called in inference mode through a tf.function.

    ``model.predict`` re-enters Keras' training loop machinery on every call; a traced function that
    calls ``model(x, training=False)`` computes the same numbers much faster.
    """

    backend = "keras"

    def __init__(self, path: str | Path, batch_size: int = 128) -> None:
        keras = require("keras", "train")
        tf = require("tensorflow", "train")
        try:
            self.model = keras.models.load_model(path, compile=False)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the Keras model {path}: {exc}") from exc
        shape, out = tuple(self.model.input_shape), tuple(self.model.output_shape)
        if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3 or out[1:] != (1,):
            raise ModelError(
                f"{path} maps {shape} to {out}; a faceedge gender model maps (None, size, size, 3) "
                "to (None, 1)"
            )
        self.input_size = int(shape[1])
        self.batch_size = batch_size
        self._call = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def predict(self, chips: np.ndarray) -> np.ndarray:
        outputs = [
            np.asarray(self._call(chips[i : i + self.batch_size].astype(np.float32))).reshape(-1)
            for i in range(0, len(chips), self.batch_size)
        ]
        return np.concatenate(outputs) if outputs else np.empty(0, dtype=np.float32)


class OnnxPredictor:
    """An ONNX gender model from the export stage, run by the runtime's classifier on the CPU.

    The file is checked against its manifest (sha256, input and output names and shapes) when it
    is opened; the manifest says how to lay out and scale the chips.
    """

    backend = "onnxruntime-cpu"

    def __init__(self, path: str | Path, batch_size: int = 256) -> None:
        from faceedge.runtime.classifier import GenderClassifier

        self.classifier = GenderClassifier(path, "cpu")
        self.manifest = self.classifier.manifest
        self.input_size = self.classifier.input_size
        self.batch_size = batch_size

    def predict(self, chips: np.ndarray) -> np.ndarray:
        outputs = [
            self.classifier.predict(chips[i : i + self.batch_size])
            for i in range(0, len(chips), self.batch_size)
        ]
        return np.concatenate(outputs) if outputs else np.empty(0, dtype=np.float32)


def _tensorrt_engine(path: Path) -> Predictor:
    from faceedge.runtime.tensorrt_engine import TensorRTEngine

    return TensorRTEngine(path)


# Kind of artifact (by file suffix) -> the class that runs it.
PREDICTORS: dict[str, Callable[[Path], Predictor]] = {
    ".keras": KerasPredictor,
    ".onnx": OnnxPredictor,
    ".engine": _tensorrt_engine,
}


def load_predictor(path: str | Path) -> Predictor:
    """Open a model file with the predictor its suffix calls for.

    Raises:
        ModelError: the file is missing, of a kind faceedge cannot run, or does not load.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"no model file at {path}")
    factory = PREDICTORS.get(path.suffix.lower())
    if factory is None:
        raise ModelError(f"{path.name}: faceedge evaluates {', '.join(sorted(PREDICTORS))} files")
    return factory(path)


def predict_with_flip(predictor: Predictor, chips: np.ndarray) -> np.ndarray:
    """Average of the predictions on the chips and on their mirror images (test-time augmentation)."""
    return (predictor.predict(chips) + predictor.predict(np.ascontiguousarray(chips[:, :, ::-1]))) / 2
