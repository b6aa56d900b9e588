"""The engines `faceedge bench` measures: one table, one small runner class per kind of engine.

A runner takes the same RGB uint8 chips as every other (``prepare``, not timed) and returns
P(female) for them (``infer``, timed). Opening a runner raises :class:`Skipped` with the reason
where the engine cannot run here (a missing package, artifact or GPU); the row then says why.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceedge.errors import FaceedgeError
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

    @property
    def size_mb(self) -> float | None:
        return self.file.stat().st_size / 2**20 if self.file is not None and self.file.is_file() else None

    def prepare(self, chips: np.ndarray) -> np.ndarray:
        return chips.astype(np.float32)

    def infer(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _keras(path: Path):
    """keras, tensorflow and the model at ``path``, or Skipped without TensorFlow."""
    try:
        import keras
        import tensorflow as tf
    except ImportError as exc:
        raise Skipped("TensorFlow is not installed (extra 'train')") from exc
    model = keras.models.load_model(path, compile=False)
    if len(model.outputs) != 1:
        # Its rows would compare two outputs with the ONNX rows' one; the benchmark reads P(female) only.
        raise Skipped(f"{path} has {len(model.outputs)} outputs: the Keras rows measure a gender-only model")
    return keras, tf, model


def _tensorflow_devices(tf) -> str:
    """Where TensorFlow places the Keras rows' work: a GPU when it sees one, else the CPU."""
    gpus = tf.config.list_physical_devices("GPU")
    return f"TensorFlow {tf.__version__} on " + (f"{len(gpus)} GPU(s)" if gpus else "the CPU")


class KerasPredict(_Runner):
    """``model.predict`` on each batch: what the original application did, per frame."""

    def __init__(self, inputs: BenchInputs) -> None:
        _, tf, self.model = _keras(inputs.keras_model)
        self.file, self.providers = inputs.keras_model, _tensorflow_devices(tf)

    def infer(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(x, batch_size=len(x), verbose=0)).reshape(-1)


class KerasCall(_Runner):
    """``model(x, training=False)``, eagerly."""

    def __init__(self, inputs: BenchInputs) -> None:
        _, tf, self.model = _keras(inputs.keras_model)
        self.file, self.providers = inputs.keras_model, _tensorflow_devices(tf)

    def infer(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(x, training=False)).reshape(-1)


class KerasFunction(_Runner):
    """The model called in inference mode inside a ``tf.function``: Keras at its fastest."""

    def __init__(self, inputs: BenchInputs) -> None:
        _, tf, self.model = _keras(inputs.keras_model)
        self.call = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)
        self.file, self.providers = inputs.keras_model, _tensorflow_devices(tf)

    def infer(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.call(x)).reshape(-1)


class LiteRT(_Runner):
    """The Keras model converted to a LiteRT (TFLite) flatbuffer, run by LiteRT's interpreter with
    its default XNNPACK CPU delegate: what a Keras user would deploy on an edge device."""

    def __init__(self, inputs: BenchInputs) -> None:
        keras, tf, model = _keras(inputs.keras_model)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise Skipped("ai-edge-litert is not installed (extra 'bench')") from exc
        self.flatbuffer = tf.lite.TFLiteConverter.from_keras_model(model).convert()
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
        self.spec = manifest.inputs[0]
        self.net = cv2.dnn.readNetFromONNX(str(self.file))
        self.providers = f"OpenCV {cv2.__version__} DNN CPU"

    def prepare(self, chips: np.ndarray) -> np.ndarray:
        return chips_to_input(self.spec, chips)

    def infer(self, x: np.ndarray) -> np.ndarray:
        self.net.setInput(x)
        return np.asarray(self.net.forward()).reshape(-1)


class FaceedgeBackend(_Runner):
    """An exported artifact on one of the runtime's backends, fed as its manifest says."""

    def __init__(self, inputs: BenchInputs, file_name: str, backend: str) -> None:
        from faceedge.runtime.backends import open_backend

        self.file = _artifact(inputs, file_name)
        try:
            self.backend = open_backend(self.file, "gender", backend)
        except FaceedgeError as exc:
            raise Skipped(str(exc)) from exc
        self.spec = self.backend.manifest.inputs[0]
        self.output = self.backend.manifest.outputs[0].name
        self.providers = ", ".join(self.backend.providers)

    def prepare(self, chips: np.ndarray) -> np.ndarray:
        return chips_to_input(self.spec, chips)

    def infer(self, x: np.ndarray) -> np.ndarray:
        # A backend with a largest batch (the TensorRT provider's profile) gets larger ones in parts.
        step = self.backend.max_batch or len(x)
        parts = [
            self.backend.run({self.spec.name: x[i : i + step]})[self.output] for i in range(0, len(x), step)
        ]
        return np.concatenate([np.asarray(p).reshape(-1) for p in parts])

    def close(self) -> None:
        self.backend.close()


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
