"""The tf.data input pipeline: parallel decode, cache, shuffle, batch, augment, prefetch.

Chips are decoded and resized by :func:`faceedge.imaging.decode_chip`, the very function the
evaluation and the runtime use, so the model never sees pixels resampled differently from the
ones it will be served. Augmentation runs here, on batches, and never inside the model.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from faceedge.data.utkface import Sample
from faceedge.imaging import decode_chip
from faceedge.train.architectures import AGE_OUTPUT, GENDER_OUTPUT
from faceedge.train.config import Augmentation


def _uniform(shape, limit: float) -> tf.Tensor:
    return tf.random.uniform(shape, -limit, limit)


def augment_batch(images: tf.Tensor, augmentation: Augmentation) -> tf.Tensor:
    """Flip, rotate, shift and zoom (one affine warp), jitter brightness and contrast, then erase
    one rectangle of some chips (``augmentation.erase_probability``).

    ``images`` is a float32 batch ``(n, size, size, 3)`` of 0-255 pixels; so is the result.
    """
    batch = tf.shape(images)[0]
    size = tf.cast(tf.shape(images)[1], tf.float32)
    angle = _uniform([batch], math.radians(augmentation.max_rotation_degrees))
    scale = 1.0 + _uniform([batch], augmentation.max_zoom)
    shift_x = _uniform([batch], augmentation.max_shift) * size
    shift_y = _uniform([batch], augmentation.max_shift) * size
    if augmentation.flip:
        mirror = tf.where(tf.random.uniform([batch]) < 0.5, -1.0, 1.0)
    else:
        mirror = tf.ones([batch])
    # The warp maps each output pixel to the input pixel it samples: mirror about the centre, then
    # rotate by `angle` and zoom by `scale` about the centre, then shift.
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    centre = (size - 1.0) / 2.0
    a0, a1, b0, b1 = cos * mirror, -sin, sin * mirror, cos
    a2 = centre - a0 * centre - a1 * centre + shift_x
    b2 = centre - b0 * centre - b1 * centre + shift_y
    zeros = tf.zeros([batch])
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    images = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    brightness = _uniform([batch, 1, 1, 1], augmentation.max_brightness)
    contrast = 1.0 + _uniform([batch, 1, 1, 1], augmentation.max_contrast)
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    images = tf.clip_by_value((images - mean) * contrast + mean + brightness, 0.0, 255.0)
    if augmentation.erase_probability > 0:
        images = random_erase(images, augmentation.erase_probability, augmentation.max_erase_area)
    return images


def random_erase(images: tf.Tensor, probability: float, max_area: float) -> tf.Tensor:
    """Replace one rectangle of each chip, with ``probability``, by uniform noise (random erasing).

    The rectangle covers 2 % to ``max_area`` of the chip, with an aspect ratio between 1:3 and 3:1,
    at a uniformly random place; it teaches the model not to lean on any one part of a face.
    """
    shape = tf.shape(images)
    batch, height, width = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    area = tf.random.uniform([batch], 0.02, max(0.02, max_area)) * height * width
    log_ratio = tf.random.uniform([batch], math.log(1 / 3), math.log(3))
    rect_h = tf.minimum(tf.sqrt(area * tf.exp(log_ratio)), height)
    rect_w = tf.minimum(tf.sqrt(area / tf.exp(log_ratio)), width)
    top = tf.random.uniform([batch]) * (height - rect_h)
    left = tf.random.uniform([batch]) * (width - rect_w)
    rows = tf.range(height)[None, :]
    cols = tf.range(width)[None, :]
    inside_rows = (rows >= top[:, None]) & (rows < (top + rect_h)[:, None])
    inside_cols = (cols >= left[:, None]) & (cols < (left + rect_w)[:, None])
    erased = tf.random.uniform([batch]) < probability
    mask = inside_rows[:, :, None] & inside_cols[:, None, :] & erased[:, None, None]
    noise = tf.random.uniform(tf.shape(images), 0.0, 255.0)
    return tf.where(mask[..., None], noise, images)


def chip_dataset(
    samples: tuple[Sample, ...] | list[Sample],
    size: int,
    batch_size: int,
    training: bool,
    augmentation: Augmentation | None = None,
    seed: int = 0,
    targets: np.ndarray | None = None,
    age: bool = False,
) -> tf.data.Dataset:
    """Batches of ``(float32 images (n, size, size, 3), float32 labels (n, 1))``, 1 = female.

    With ``age`` the labels are a dict, ``{"p_female": (n, 1), "age": (n, 1) years}``, for a
    two-head model. ``targets`` (one probability per sample) replaces the 0/1 gender labels, for
    distillation.
    Training batches are reshuffled every epoch, full (the last partial batch is dropped) and
    augmented; evaluation batches keep the samples' order.
    """
    encoded = tf.constant([s.data for s in samples], dtype=tf.string)
    if targets is None:
        labels = np.array([[s.labels.gender] for s in samples], dtype=np.float32)
    else:
        labels = np.asarray(targets, dtype=np.float32).reshape(len(samples), 1)
    if age:
        ages = np.array([[s.labels.age] for s in samples], dtype=np.float32)
        labels = {GENDER_OUTPUT: labels, AGE_OUTPUT: ages}

    def decode(data: tf.Tensor, label):
        image = tf.numpy_function(lambda b: decode_chip(b, size), [data], tf.uint8, stateful=False)
        image.set_shape((size, size, 3))
        return image, label

    dataset = tf.data.Dataset.from_tensor_slices((encoded, labels))
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).cache()
    if training:
        dataset = dataset.shuffle(len(samples), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=training)
    dataset = dataset.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    if training and augmentation is not None:
        dataset = dataset.map(
            lambda x, y: (augment_batch(x, augmentation), y), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
