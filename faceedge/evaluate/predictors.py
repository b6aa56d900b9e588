"""A face attribute model, whatever runs it, seen as one function: face chips in, P(female) out
(and the age in years, for a two-head model).

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


def predict_heads(predictor: Predictor, chips: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """P(female) ``(n,)`` and the ages in years ``(n,)`` of ``chips``; the ages are None for a
    predictor without an age head (every artifact of the export stage so far)."""
    heads = getattr(predictor, "predict_heads", None)
    return heads(chips) if heads is not None else (predictor.predict(chips), None)


class KerasPredictor:
    """A ``.keras`` model from the training stage, called in inference mode through a tf.function.

    A gender-only model maps chips to ``p_female`` ``(n, 1)``; a two-head model (model v2) to
    ``[p_female, age]``, each ``(n, 1)``. Both heads of a batch come from one call.

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
        shape = tuple(self.model.input_shape)
        names = tuple(self.model.output_names)
        shapes = [tuple(o.shape) for o in self.model.outputs]
        if (
            len(shape) != 4
            or shape[1] != shape[2]
            or shape[3] != 3
            or names not in (("p_female",), ("p_female", "age"))
            or any(s[1:] != (1,) for s in shapes)
        ):
            raise ModelError(
                f"{path} maps {shape} to {dict(zip(names, shapes))}; a faceedge model maps "
                "(None, size, size, 3) to p_female (None, 1), and a two-head model also to age (None, 1)"
            )
        self.input_size = int(shape[1])
        self.has_age = len(names) == 2
        self.batch_size = batch_size
        self._call = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def predict_heads(self, chips: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """P(female) ``(n,)`` and, for a two-head model, the ages in years ``(n,)`` (else None),
        both from one pass over ``chips``."""
        p_female, ages = [], []
        for i in range(0, len(chips), self.batch_size):
            out = self._call(chips[i : i + self.batch_size].astype(np.float32))
            heads = out if isinstance(out, (list, tuple)) else [out]
            p_female.append(np.asarray(heads[0]).reshape(-1))
            if self.has_age:
                ages.append(np.asarray(heads[1]).reshape(-1))
        empty = np.empty(0, dtype=np.float32)
        p = np.concatenate(p_female) if p_female else empty
        if not self.has_age:
            return p, None
        return p, np.concatenate(ages) if ages else empty

    def predict(self, chips: np.ndarray) -> np.ndarray:
        return self.predict_heads(chips)[0]


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
    return predict_heads_with_flip(predictor, chips)[0]


def predict_heads_with_flip(predictor: Predictor, chips: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`predict_heads` averaged over the chips and their mirror images."""
    p, ages = predict_heads(predictor, chips)
    p_mirror, ages_mirror = predict_heads(predictor, np.ascontiguousarray(chips[:, :, ::-1]))
    return (p + p_mirror) / 2, None if ages is None else (ages + ages_mirror) / 2
