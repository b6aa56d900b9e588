"""A ``.keras`` model from the training stage, behind the backend interface.

A ``.keras`` file has no manifest: this backend writes the one the classifier needs from the model
itself, after checking its shapes (RGB chips ``(n, size, size, 3)`` as float32 0-255, the model
scaling them itself; ``p_female`` and, for a two-head model, ``age``). TensorFlow and Keras are
imported only when such a model is opened.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceedge.errors import ModelError, require
from faceedge.manifest import Manifest, TensorSpec

INPUT_NAME = "chips"
OUTPUT_NAMES = (("p_female",), ("p_female", "age"))  # what a faceedge model may give, in order


def _manifest(path: Path, model) -> Manifest:
    """The manifest of a trained model, from its shapes.

    Raises:
        ModelError: the model does not map RGB chips to ``p_female`` (and ``age``) as faceedge's do.
    """
    shape = tuple(model.input_shape)
    names = tuple(model.output_names)
    shapes = [tuple(o.shape) for o in model.outputs]
    if (
        len(shape) != 4
        or shape[1] != shape[2]
        or shape[3] != 3
        or names not in OUTPUT_NAMES
        or any(s[1:] != (1,) for s in shapes)
    ):
        raise ModelError(
            f"{path} maps {shape} to {dict(zip(names, shapes))}; a faceedge model maps "
            "(None, size, size, 3) to p_female (None, 1), and a two-head model also to age (None, 1)"
        )
    size = int(shape[1])
    return Manifest(
        model_id=path.stem,
        task="gender",
        format="keras",
        precision="fp32",
        files={path.name: ""},  # not hashed: a .keras file is the training stage's own output
        inputs=(TensorSpec(INPUT_NAME, ("batch", size, size, 3), "float32", "NHWC", "RGB", 1.0, 0.0),),
        outputs=tuple(TensorSpec(name, ("batch", 1)) for name in names),
        # A faceedge model's sigmoid says "female" from 0.5 on: training fits it to labels 0 and 1
        # (train/fit.py) and picks no other threshold; the export stage copies this decision into
        # every artifact's manifest.
        labels=("male", "female"),
        decision={"output": "p_female", "kind": "probability", "positive": "female", "threshold": 0.5},
        preprocessing={"input_size": size},
    )


def tensorflow_devices(tf) -> str:
    """Where TensorFlow places a model's work: a GPU when it sees one, else the CPU."""
    gpus = tf.config.list_physical_devices("GPU")
    return f"TensorFlow {tf.__version__} on " + (f"{len(gpus)} GPU(s)" if gpus else "the CPU")


class KerasBackend:
    """A Keras model called in inference mode through a ``tf.function``, every output in one call.

    ``model.predict`` re-enters Keras' training loop machinery on every call; a traced function that
    calls ``model(x, training=False)`` computes the same numbers much faster.
    """

    name = "keras"
    precision = "fp32"
    max_batch = None

    def __init__(self, path: str | Path, task: str) -> None:
        path = Path(path)
        if task != "gender":
            raise ModelError(f"{path} is a gender model, not a {task} model")
        keras = require("keras", "train")
        tf = require("tensorflow", "train")
        try:
            self.model = keras.models.load_model(path, compile=False)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the Keras model {path}: {exc}") from exc
        self.manifest = _manifest(path, self.model)
        self._outputs = [o.name for o in self.manifest.outputs]
        self.providers = (tensorflow_devices(tf),)
        self._call = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output of the model, by name, for the chips in ``inputs`` (one call)."""
        out = self._call(inputs[INPUT_NAME])
        heads = out if isinstance(out, (list, tuple)) else [out]
        return {name: np.asarray(head) for name, head in zip(self._outputs, heads)}

    def close(self) -> None:
        self._call = self.model = None
