"""The engines `faceedge bench` measures: one table, one small runner class per kind of engine.

A runner takes the same RGB uint8 chips as every other (``prepare``, not timed), returns P(female)
for them (``infer``, timed) and decides at its model's ``threshold``. Opening a runner raises
:class:`Skipped` with the reason where the engine cannot run here (a missing package, artifact or
GPU); the row then says why. faceedge's own rows go through the runtime's classifier.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceedge.errors import BackendError, FaceedgeError, require
from faceedge.runtime.classifier import GenderClassifier
from faceedge.runtime.inputs import chips_to_input


class Skipped(Exception):
    """This engine cannot run here; the message says why."""


@dataclass(frozen=True)
class BenchInputs:
    """What the runners are made from: the Keras model and the folder of exported artifacts."""

    keras_model: Path
    artifacts: Path


class _Runner:
    """What every runner has: what it runs on, the file it runs and its size."""

    providers: str = ""
    file: Path | None = None
    threshold: float  # P(female) at which its model decides "female", from the model's manifest

    @property
    def size_mb(self) -> float | None:
        return self.file.stat().st_size / 2**20 if self.file is not None and self.file.is_file() else None

    def prepare(self, chips: np.ndarray) -> np.ndarray:
        return chips.astype(np.float32)

    def infer(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _keras(path: Path) -> GenderClassifier:
    """The gender-only Keras model at ``path`` on the runtime's Keras backend, or Skipped without
    TensorFlow."""
    try:
        classifier = GenderClassifier(path, "keras")
    except BackendError as exc:  # what a backend that cannot run here raises: TensorFlow is missing
        raise Skipped(str(exc)) from exc
    if classifier.has_age:
        # Its rows would compare two outputs with the ONNX rows' one; the benchmark reads P(female) only.
        classifier.close()
        raise Skipped(f"{path} has an age output: the Keras rows measure a gender-only model")
    return classifier


class _KerasRow(_Runner):
    """A Keras row: the model as a Keras user holds it (``self.model``), loaded and checked by the
    runtime's Keras backend."""

    def __init__(self, inputs: BenchInputs) -> None:
        self.classifier = _keras(inputs.keras_model)
        self.model = self.classifier.backend.model
        self.file, self.threshold = inputs.keras_model, self.classifier.threshold
        self.providers = ", ".join(self.classifier.backend.providers)

    def prepare(self, chips: np.ndarray) -> np.ndarray:
        return self.classifier.prepare(chips)

    def close(self) -> None:
        self.classifier.close()


class KerasPredict(_KerasRow):
    """``model.predict`` on each batch: what the original application did, per frame."""

    def infer(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(x, batch_size=len(x), verbose=0)).reshape(-1)


class KerasCall(_KerasRow):
    """``model(x, training=False)``, eagerly."""

    def infer(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(x, training=False)).reshape(-1)


class KerasFunction(_KerasRow):
    """The model called in inference mode inside a ``tf.function`` (the runtime's Keras backend):
    Keras at its fastest."""

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.classifier.run_prepared(x)[self.classifier.output]


class LiteRT(_Runner):
    """The Keras model converted to a LiteRT (TFLite) flatbuffer, run by LiteRT's interpreter with
    its default XNNPACK CPU delegate: what a Keras user would deploy on an edge device."""

    def __init__(self, inputs: BenchInputs) -> None:
        keras = _keras(inputs.keras_model)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            keras.close()
            raise Skipped("ai-edge-litert is not installed (extra 'bench')") from exc
        tf = require("tensorflow", "train")  # loaded by the Keras backend already
        self.flatbuffer = tf.lite.TFLiteConverter.from_keras_model(keras.backend.model).convert()
        self.threshold = keras.threshold
        keras.close()
        self.interpreter_class = Interpreter
        self.batch = None
        self.threads = os.cpu_count() or 1
        self.providers = f"LiteRT XNNPACK, {self.threads} threads"
        self._size = len(self.flatbuffer) / 2**20

    @property
    def size_mb(self) -> float | None:
        return self._size

    def _interpreter(self, batch: int):
        """An interpreter resized for ``batch`` (kept while the batch size stays)."""
        if self.batch != batch:
            self.interp = self.interpreter_class(model_content=self.flatbuffer, num_threads=self.threads)
            detail = self.interp.get_input_details()[0]
            self.interp.resize_tensor_input(detail["index"], [batch, *detail["shape"][1:]])
            self.interp.allocate_tensors()
            self.input_index = detail["index"]
            self.output_index = self.interp.get_output_details()[0]["index"]
            self.batch = batch
        return self.interp

    def infer(self, x: np.ndarray) -> np.ndarray:
        interp = self._interpreter(len(x))
        interp.set_tensor(self.input_index, x)
        interp.invoke()
        return interp.get_tensor(self.output_index).reshape(-1).copy()


class OpenCvDnn(_Runner):
    """faceedge's FP32 ONNX run by OpenCV's DNN module on the CPU, fed as its manifest says."""

    def __init__(self, inputs: BenchInputs) -> None:
        import cv2

        from faceedge.manifest import load_artifact

        manifest, self.file = load_artifact(_artifact(inputs, "gender.onnx"))
        self.spec = manifest.inputs[0]  # fed and decided as the manifest says, as the runtime does
        self.threshold = float(manifest.decision["threshold"])
        self.net = cv2.dnn.readNetFromONNX(str(self.file))
        self.providers = f"OpenCV {cv2.__version__} DNN CPU"

    def prepare(self, chips: np.ndarray) -> np.ndarray:
        return chips_to_input(self.spec, chips)

    def infer(self, x: np.ndarray) -> np.ndarray:
        self.net.setInput(x)
        return np.asarray(self.net.forward()).reshape(-1)


class FaceedgeBackend(_Runner):
    """An exported artifact through the runtime's classifier on one of its backends: the chips fed
    as its manifest says (``prepare``), one backend run per largest batch (``infer``)."""

    def __init__(self, inputs: BenchInputs, file_name: str, backend: str) -> None:
        self.file = _artifact(inputs, file_name)
        try:
            self.classifier = GenderClassifier(self.file, backend)
        except FaceedgeError as exc:
            raise Skipped(str(exc)) from exc
        self.threshold = self.classifier.threshold
        self.providers = ", ".join(self.classifier.backend.providers)

    def prepare(self, chips: np.ndarray) -> np.ndarray:
        return self.classifier.prepare(chips)

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.classifier.run_prepared(x)[self.classifier.output]

    def close(self) -> None:
        self.classifier.close()


def _artifact(inputs: BenchInputs, name: str) -> Path:
    path = inputs.artifacts / name
    if not path.is_file():
        raise Skipped(f"no {name} in {inputs.artifacts} (make it with `faceedge export gender`)")
    return path


@dataclass(frozen=True)
class Engine:
    """One row of the benchmark."""

    name: str
    precision: str
    family: str  # "keras", "alternative" (what a user would pick instead) or "faceedge"
    opener: Callable[[BenchInputs], _Runner]
    device: str = "cpu"  # the peak a row's throughput is compared with is the CPU's FP32 one


def _backend(file_name: str, backend: str) -> Callable[[BenchInputs], _Runner]:
    return lambda inputs: FaceedgeBackend(inputs, file_name, backend)


ENGINES: tuple[Engine, ...] = (
    Engine("keras-predict", "fp32", "keras", KerasPredict),
    Engine("keras-call", "fp32", "keras", KerasCall),
    Engine("keras-tf-function", "fp32", "keras", KerasFunction),
    Engine("litert-xnnpack", "fp32", "alternative", LiteRT),
    Engine("opencv-dnn", "fp32", "alternative", OpenCvDnn),
    Engine("ort-cpu", "fp32", "faceedge", _backend("gender.onnx", "cpu")),
    Engine("ort-cpu", "int8", "faceedge", _backend("gender_int8.onnx", "cpu")),
    Engine("ort-cuda", "fp32", "faceedge", _backend("gender.onnx", "cuda"), device="gpu"),
    Engine("ort-cuda", "fp16", "faceedge", _backend("gender_fp16.onnx", "cuda"), device="gpu"),
    Engine("ort-tensorrt", "fp16", "faceedge", _backend("gender.onnx", "tensorrt"), device="gpu"),
    Engine("tensorrt", "fp16", "faceedge", _backend("gender_trt_fp16.engine", "trt-engine"), device="gpu"),
)
