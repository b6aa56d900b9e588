"""The engines `faceedge bench` measures: one table, one small runner class per kind of engine.

A runner takes the same RGB uint8 chips as every other (``prepare``, not timed), runs its model on
them (``infer``, timed: every head of a two-head model, as the engine gives it; faceedge's rows, as
the runtime does, also gather each head into one float32 array), reads P(female) and, where the
model has it, the age out of those outputs by name (``heads``, not timed) and decides at its model's
``threshold``. Opening a runner raises
:class:`Skipped` with the reason where the engine cannot run here (a missing package, artifact or
GPU); the row then says why. faceedge's own rows go through the runtime's classifier.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceedge.errors import BackendError, FaceedgeError, ModelError, require
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
    """What every runner has: what it runs on, the file it runs and its size, and the names of its
    model's outputs: ``output`` (P(female)) and ``age_output`` (years; None for a gender-only model)."""

    providers: str = ""
    file: Path | None = None
    threshold: float  # P(female) at which its model decides "female", from the model's manifest
    output: str = "p_female"
    age_output: str | None = None

    @property
    def size_mb(self) -> float | None:
        return self.file.stat().st_size / 2**20 if self.file is not None and self.file.is_file() else None

    @property
    def has_age(self) -> bool:
        """Whether the model gives an age beside P(female)."""
        return self.age_output is not None

    def prepare(self, chips: np.ndarray) -> np.ndarray:
        return chips.astype(np.float32)

    def infer(self, x: np.ndarray) -> object:
        """The model's outputs for ``x`` as the engine gives them (the call that is timed)."""
        raise NotImplementedError

    def heads(self, outputs) -> tuple[np.ndarray, np.ndarray | None]:
        """P(female) ``(n,)`` and the ages ``(n,)`` (None for a gender-only model) in what
        :meth:`infer` returned: here, a dict of the outputs by name."""
        p = np.asarray(outputs[self.output], dtype=np.float32).reshape(-1)
        if self.age_output is None:
            return p, None
        return p, np.asarray(outputs[self.age_output], dtype=np.float32).reshape(-1)

    def close(self) -> None:
        pass


def _by_name(names: list[str], outputs) -> dict[str, object]:
    """A Keras model's outputs by name: given by name already, or one tensor, or a list in the order
    of ``names``."""
    if isinstance(outputs, dict):
        return outputs
    return dict(zip(names, outputs if isinstance(outputs, (list, tuple)) else [outputs]))


def _keras(path: Path) -> GenderClassifier:
    """The Keras model at ``path`` (gender-only or two-head) on the runtime's Keras backend, or
    Skipped without TensorFlow."""
    try:
        return GenderClassifier(path, "keras")
    except BackendError as exc:  # what a backend that cannot run here raises: TensorFlow is missing
        raise Skipped(str(exc)) from exc


class _KerasRow(_Runner):
    """A Keras row: the model as a Keras user holds it (``self.model``), loaded and checked by the
    runtime's Keras backend, which names its outputs."""

    def __init__(self, inputs: BenchInputs) -> None:
        self.classifier = _keras(inputs.keras_model)
        self.model = self.classifier.backend.model
        self.file, self.threshold = inputs.keras_model, self.classifier.threshold
        self.output, self.age_output = self.classifier.output, self.classifier.age_output
        self.providers = ", ".join(self.classifier.backend.providers)

    def prepare(self, chips: np.ndarray) -> np.ndarray:
        return self.classifier.prepare(chips)

    def heads(self, outputs) -> tuple[np.ndarray, np.ndarray | None]:
        return super().heads(_by_name(self.model.output_names, outputs))

    def close(self) -> None:
        self.classifier.close()


class KerasPredict(_KerasRow):
    """``model.predict`` on each batch: what the original application did, per frame."""

    def infer(self, x: np.ndarray) -> object:
        return self.model.predict(x, batch_size=len(x), verbose=0)


class KerasCall(_KerasRow):
    """``model(x, training=False)``, eagerly; each output brought back as numpy (which waits for it)."""

    def infer(self, x: np.ndarray) -> object:
        outputs = self.model(x, training=False)
        if isinstance(outputs, (list, tuple)):
            return [np.asarray(o) for o in outputs]
        return np.asarray(outputs)


class KerasFunction(_KerasRow):
    """The model called in inference mode inside a ``tf.function`` (the runtime's Keras backend):
    Keras at its fastest."""

    def infer(self, x: np.ndarray) -> object:
        return self.classifier.run_prepared(x)


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
        self.output, self.age_output = keras.output, keras.age_output
        # The converter names the signature's outputs output_0, output_1, ... in the model's order.
        self.signature_names = {
            f"output_{i}": name for i, name in enumerate(keras.backend.model.output_names)
        }
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
        """An interpreter resized for ``batch`` (kept while the batch size stays).

        Raises:
            ModelError: the flatbuffer's outputs are not the Keras model's.
        """
        if self.batch != batch:
            self.interp = self.interpreter_class(model_content=self.flatbuffer, num_threads=self.threads)
            detail = self.interp.get_input_details()[0]
            self.interp.resize_tensor_input(detail["index"], [batch, *detail["shape"][1:]])
            self.interp.allocate_tensors()
            self.input_index = detail["index"]
            # By the signature's names: get_output_details() lists the tensors in no set order (a
            # two-head model's age came first).
            signature = self.interp.get_signature_runner().get_output_details()
            if set(signature) != set(self.signature_names):
                raise ModelError(
                    f"LiteRT's outputs {sorted(signature)} are not the model's {self.signature_names}"
                )
            self.output_indices = {self.signature_names[k]: d["index"] for k, d in signature.items()}
            self.batch = batch
        return self.interp

    def infer(self, x: np.ndarray) -> dict[str, np.ndarray]:
        interp = self._interpreter(len(x))
        interp.set_tensor(self.input_index, x)
        interp.invoke()
        # Copied: the interpreter's buffers are overwritten by its next call.
        return {name: interp.get_tensor(index).copy() for name, index in self.output_indices.items()}


class OpenCvDnn(_Runner):
    """faceedge's FP32 ONNX run by OpenCV's DNN module on the CPU, fed as its manifest says."""

    def __init__(self, inputs: BenchInputs) -> None:
        import cv2

        from faceedge.manifest import load_artifact

        manifest, self.file = load_artifact(_artifact(inputs, "gender.onnx"))
        self.spec = manifest.inputs[0]  # fed, read and decided as the manifest says, as the runtime does
        self.threshold = float(manifest.decision["threshold"])
        self.names = [o.name for o in manifest.outputs]
        self.output = self.names[0]
        self.age_output = self.names[1] if len(self.names) > 1 else None
        self.net = cv2.dnn.readNetFromONNX(str(self.file))
        self.providers = f"OpenCV {cv2.__version__} DNN CPU"

    def prepare(self, chips: np.ndarray) -> np.ndarray:
        return chips_to_input(self.spec, chips)

    def infer(self, x: np.ndarray) -> dict[str, np.ndarray]:
        self.net.setInput(x)
        return dict(zip(self.names, self.net.forward(self.names)))  # the graph's outputs, by name


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
        self.output, self.age_output = self.classifier.output, self.classifier.age_output
        self.providers = ", ".join(self.classifier.backend.providers)

    def prepare(self, chips: np.ndarray) -> np.ndarray:
        return self.classifier.prepare(chips)

    def infer(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return self.classifier.run_prepared(x)

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
