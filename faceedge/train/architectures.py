"""The face attribute models faceedge can train, as one table of Functional Keras backbones and two heads.

Every model takes RGB float32 pixels in 0-255, ``(batch, size, size, 3)``, and returns P(female) as one
float32 sigmoid unit (output ``p_female``). A two-head model (model v2) also returns the age in years
(output ``age``): the expected value of a softmax over the whole years 0-116, so an age is always
inside the range UTKFace has. Scaling happens inside the model so that every backend is fed the same raw
pixels. Models are Functional, not Sequential (tf2onnx's ``from_keras`` cannot read a Keras 3
Sequential), and hold no augmentation layer: a ``RandomFlip`` inside the model would switch the
whole model into training mode and leave random ops in exported graphs.

The final activation is float32 even under a mixed-precision policy, so probabilities stay exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np

from faceedge.ages import MAX_AGE

if TYPE_CHECKING:  # Keras is imported by the builders, so that reading this table stays instant
    import keras


GENDER_OUTPUT = "p_female"
AGE_OUTPUT = "age"
AGE_BINS = MAX_AGE + 1  # one softmax unit per whole year 0-116


@dataclass(frozen=True)
class Architecture:
    """A backbone (0-255 pixels to features), the dropout before the gender unit, and the input size
    it was tuned for."""

    backbone: Callable[[keras.KerasTensor], keras.KerasTensor]
    default_size: int
    dropout: float
    description: str


def _gender_head(features, dropout: float) -> keras.KerasTensor:
    from keras import layers

    x = layers.Dropout(dropout, name="head_dropout")(features)
    x = layers.Dense(1, name="logit")(x)
    return layers.Activation("sigmoid", dtype="float32", name=GENDER_OUTPUT)(x)


def _age_head(features) -> keras.KerasTensor:
    """Age in years as the expected value of a distribution over the years 0-116.

    The expectation is a fixed (non-trainable) dot product with the years, so every exporter sees
    plain Dense, Softmax and MatMul layers and the output cannot leave [0, 116].
    """
    import keras
    from keras import layers

    x = layers.Dense(AGE_BINS, name="age_logits")(features)
    x = layers.Softmax(dtype="float32", name="age_distribution")(x)
    years = keras.initializers.Constant(np.arange(AGE_BINS, dtype=np.float32).reshape(-1, 1))
    return layers.Dense(
        1, use_bias=False, trainable=False, kernel_initializer=years, dtype="float32", name=AGE_OUTPUT
    )(x)


def seed(inputs) -> keras.KerasTensor:
    """The backbone of the original report: three Conv2D + ReLU + MaxPooling2D blocks, Flatten,
    Dense(128) + BatchNormalization (its head: Dropout 0.5, one sigmoid unit)."""
    from keras import layers

    x = layers.Rescaling(1 / 255.0, name="scale")(inputs)
    for index, filters in enumerate((32, 64, 128)):
        x = layers.Conv2D(filters, 3, activation="relu", name=f"conv{index + 1}")(x)
        x = layers.MaxPooling2D(name=f"pool{index + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, name="fc")(x)
    x = layers.BatchNormalization(name="fc_bn")(x)
    return layers.Activation("relu", name="fc_relu")(x)


def _conv_bn_relu(x, filters: int, stride: int, name: str) -> keras.KerasTensor:
    from keras import layers

    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _residual_block(x, filters: int, stride: int, name: str) -> keras.KerasTensor:
    from keras import layers

    shortcut = x
    y = _conv_bn_relu(x, filters, stride, f"{name}_a")
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_b_conv")(y)
    y = layers.BatchNormalization(name=f"{name}_b_bn")(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_proj")(x)
        shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([y, shortcut]))


def resnet10(inputs) -> keras.KerasTensor:
    """The backbone of a compact ResNet-10 for face chips: a stride-2 stem, one basic residual block
    per stage at widths 32-64-128-256 (each stage halves the resolution), global average pooling.

    One block per stage keeps a training epoch on UTKFace at about 130 s on a 2-core CPU at 96 px
    with nothing else running (288 MFLOPs per image; models/gender_age/training.json has the epoch
    times, benchmarks/results/input_size.md the other sizes).
    """
    from keras import layers

    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(inputs)
    x = _conv_bn_relu(x, 32, 2, "stem")
    for stage, filters in enumerate((32, 64, 128, 256)):
        x = _residual_block(x, filters, 1 if stage == 0 else 2, f"stage{stage + 1}")
    return layers.GlobalAveragePooling2D(name="pool")(x)


class ArchName(str, Enum):
    seed = "seed"
    resnet10 = "resnet10"


ARCHITECTURES: dict[ArchName, Architecture] = {
    ArchName.seed: Architecture(seed, 64, 0.5, "the original report's three-block CNN"),
    ArchName.resnet10: Architecture(resnet10, 96, 0.3, "compact residual CNN, faceedge's shipped model"),
}


def build_model(arch: ArchName | str, size: int, age: bool = False) -> keras.Model:
    """Build an untrained model of architecture ``arch`` for ``size`` × ``size`` inputs.

    With ``age`` the model has two outputs, ``[p_female, age]``; without it, ``p_female`` alone (the
    layers, and so the order of the weights, of a gender-only model are those of earlier releases).
    """
    import keras

    spec = ARCHITECTURES[ArchName(arch)]
    inputs = keras.Input((size, size, 3), name="image")
    features = spec.backbone(inputs)
    gender = _gender_head(features, spec.dropout)
    outputs = [gender, _age_head(features)] if age else gender
    return keras.Model(inputs, outputs, name=ArchName(arch).value)
