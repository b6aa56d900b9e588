"""Keras gender model (one head, or model v2's two) -> ONNX graph, through tf2onnx, in inference mode.

``tf2onnx.convert.from_keras`` fails on Keras 3 models that are not Functional; converting a
``tf.function`` that calls ``model(x, training=False)`` works for all of them, and pins Dropout
and BatchNormalization to inference behaviour whatever the model's layers say.
"""

from __future__ import annotations

import logging

from faceedge.errors import ModelError, require

log = logging.getLogger(__name__)

INPUT_NAME = "image"
OUTPUT_NAME = "p_female"
BATCH_DIM = "batch"
DEFAULT_OPSET = 17  # ONNX Runtime >= 1.20 and TensorRT 10 both run it; tf2onnx 1.17 stops at 18


def keras_to_onnx(
    model, opset: int = DEFAULT_OPSET, nchw: bool = False, outputs: tuple[str, ...] = (OUTPUT_NAME,)
):
    """Convert ``model`` to an ONNX ``ModelProto`` with a named dynamic batch dimension.

    The input is called ``image`` (float32 RGB pixels 0-255, NHWC, or NCHW with ``nchw``); the
    model's outputs, in its order, are called ``outputs`` (``p_female``, and ``age`` for a
    two-head model), each ``(batch, 1)``, and the graph lists them in that order.

    Raises:
        ModelError: the model's outputs are not ``outputs``, by name and in order.
    """
    tf = require("tensorflow", "train")
    tf2onnx = require("tf2onnx", "train")
    size = int(model.input_shape[1])
    spec = tf.TensorSpec((None, size, size, 3), tf.float32, name=INPUT_NAME)

    given = tuple(model.output_names)
    if given != tuple(outputs):  # the heads are named by position below: the names must be the model's
        raise ModelError(f"the model gives the outputs {', '.join(given)}, not {', '.join(outputs)}")

    # A dict return is what makes tf2onnx name the outputs.
    @tf.function(input_signature=[spec])
    def infer(image):
        heads = model(image, training=False)
        heads = heads if isinstance(heads, (list, tuple)) else [heads]
        return dict(zip(outputs, heads))

    proto, _ = tf2onnx.convert.from_function(
        infer, input_signature=[spec], opset=opset, inputs_as_nchw=[INPUT_NAME] if nchw else None
    )
    _order_outputs(proto, outputs)
    _name_batch_dimension(proto)
    return proto


def _order_outputs(proto, names: tuple[str, ...]) -> None:
    """List the graph's outputs in the order of ``names`` (tf2onnx sorts a dict's keys: ``age``
    would come before ``p_female``), so that the file reads as the manifest does."""
    onnx = require("onnx", "train")
    by_name = {value.name: value for value in proto.graph.output}
    ordered = []
    for name in names:
        value = onnx.ValueInfoProto()
        value.CopyFrom(by_name[name])
        ordered.append(value)
    del proto.graph.output[:]
    proto.graph.output.extend(ordered)


def _name_batch_dimension(proto) -> None:
    """tf2onnx calls every unknown dimension ``unk__N``; name the inputs' and outputs' batch ``batch``."""
    for value in (*proto.graph.input, *proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = BATCH_DIM


def count_ops(proto, op_type: str) -> int:
    """How many nodes of ``op_type`` the main graph holds (every Transpose costs TensorRT time)."""
    return sum(node.op_type == op_type for node in proto.graph.node)


def set_metadata(proto, props: dict[str, str]) -> None:
    """Replace the ONNX ``metadata_props`` keys in ``props``, keeping the others."""
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in props]
    del proto.metadata_props[:]
    for key, value in [*kept, *props.items()]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
