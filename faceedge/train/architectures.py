"""The gender classifiers faceedge can train, as one table of Functional Keras models.

Every model takes RGB float32 pixels in 0-255, ``(batch, size, size, 3)``, and returns P(female) as one
float32 sigmoid unit. Scaling happens inside the model so that every backend is fed the same raw
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

if TYPE_CHECKING:  # Keras is imported by the builders, so that reading this table stays instant
    import keras


@dataclass(frozen=True)
class Architecture:
    """A buildable model with the input size it was tuned for."""

    build: Callable[[int], keras.Model]
    default_size: int
    description: str


def _head(x, dropout: float) -> keras.KerasTensor:
    from keras import layers

    x = layers.Dropout(dropout, name="head_dropout")(x)
    x = layers.Dense(1, name="logit")(x)
    return layers.Activation("sigmoid", dtype="float32", name="p_female")(x)


def _input(size: int) -> keras.KerasTensor:
    import keras

    return keras.Input((size, size, 3), name="image")


def seed(size: int) -> keras.Model:
    """The architecture of the original report: three Conv2D + ReLU + MaxPooling2D blocks, Flatten,
    Dense(128) + BatchNormalization, Dropout, one sigmoid unit."""
    import keras
    from keras import layers

    inputs = _input(size)
    x = layers.Rescaling(1 / 255.0, name="scale")(inputs)
    for index, filters in enumerate((32, 64, 128)):
        x = layers.Conv2D(filters, 3, activation="relu", name=f"conv{index + 1}")(x)
        x = layers.MaxPooling2D(name=f"pool{index + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, name="fc")(x)
    x = layers.BatchNormalization(name="fc_bn")(x)
    x = layers.Activation("relu", name="fc_relu")(x)
    return keras.Model(inputs, _head(x, 0.5), name="seed")


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


def resnet10(size: int) -> keras.Model:
    """A compact ResNet-10 for face chips: a stride-2 stem, one basic residual block per stage at
    widths 32-64-128-256 (each stage halves the resolution), global average pooling.

    One block per stage keeps a training epoch on UTKFace at about five minutes on a 2-core CPU at
    96 px (288 MFLOPs per image); benchmarks/results/input_size.md has the measured figures.
    """
    import keras
    from keras import layers

    inputs = _input(size)
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(inputs)
    x = _conv_bn_relu(x, 32, 2, "stem")
    for stage, filters in enumerate((32, 64, 128, 256)):
        x = _residual_block(x, filters, 1 if stage == 0 else 2, f"stage{stage + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, _head(x, 0.3), name="resnet10")


class ArchName(str, Enum):
    seed = "seed"
    resnet10 = "resnet10"


ARCHITECTURES: dict[ArchName, Architecture] = {
    ArchName.seed: Architecture(seed, 64, "the original report's three-block CNN"),
    ArchName.resnet10: Architecture(resnet10, 96, "compact residual CNN, faceedge's shipped model"),
}


def build_model(arch: ArchName | str, size: int) -> keras.Model:
    """Build an untrained model of architecture ``arch`` for ``size`` × ``size`` inputs."""
    return ARCHITECTURES[ArchName(arch)].build(size)
