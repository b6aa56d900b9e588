"""Counting a model's floating-point operations per image, for reports and for the benchmarks' peak share."""

from __future__ import annotations

import keras
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2


def count_flops(model: keras.Model) -> int:
    """FLOPs of one inference on one image (a multiply-add counts as two), from TensorFlow's profiler.

    The model is traced at batch 1 in inference mode and frozen, so only the inference graph counts.
    """
    spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    graph = convert_variables_to_constants_v2(concrete).graph
    options = (
        tf.compat.v1.profiler.ProfileOptionBuilder(
            tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        )
        .with_empty_output()
        .build()
    )
    return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)
