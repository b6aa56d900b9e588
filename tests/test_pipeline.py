from __future__ import annotations

import numpy as np
import pytest

from faceedge.data.utkface import load_utkface
from faceedge.imaging import decode_chips
from faceedge.train.config import Augmentation

tf = pytest.importorskip("tensorflow")  # the train extra; without it this file is skipped

from faceedge.train.pipeline import augment_batch, chip_dataset  # noqa: E402  (imports TensorFlow)

NO_CHANGE = Augmentation(
    flip=False,
    max_rotation_degrees=0,
    max_shift=0,
    max_zoom=0,
    max_brightness=0,
    max_contrast=0,
    erase_probability=0,
)


def test_evaluation_batches_hold_exactly_the_pixels_the_runtime_decodes(synthetic_folder):
    dataset = load_utkface(synthetic_folder)
    batches = list(chip_dataset(dataset.samples, 48, 32, training=False))
    images = np.concatenate([x.numpy() for x, _ in batches])
    labels = np.concatenate([y.numpy() for _, y in batches])
    np.testing.assert_array_equal(
        images, decode_chips([s.data for s in dataset.samples], 48).astype(np.float32)
    )
    np.testing.assert_array_equal(labels[:, 0], dataset.genders)


def test_training_batches_are_full_shuffled_and_augmented(synthetic_folder):
    dataset = load_utkface(synthetic_folder)
    tf.random.set_seed(0)
    batches = list(chip_dataset(dataset.samples, 48, 32, training=True, augmentation=Augmentation()))
    assert len(batches) == len(dataset) // 32
    images, labels = batches[0]
    assert images.shape == (32, 48, 48, 3) and images.dtype == tf.float32
    assert float(tf.reduce_min(images)) >= 0 and float(tf.reduce_max(images)) <= 255
    plain = decode_chips([s.data for s in dataset.samples[:32]], 48)
    assert not np.array_equal(images.numpy(), plain)  # shuffled and augmented, not the first 32 as they are


def test_augmentation_with_every_change_off_is_the_identity():
    images = tf.random.uniform((4, 32, 32, 3), 0, 255, seed=1)
    np.testing.assert_allclose(augment_batch(images, NO_CHANGE).numpy(), images.numpy(), atol=1e-3)


def test_flip_only_mirrors_some_images_and_leaves_the_others():
    images = tf.random.uniform((64, 16, 16, 3), 0, 255, seed=2)
    out = augment_batch(images, Augmentation(**{**NO_CHANGE.to_dict(), "flip": True})).numpy()
    mirrored = images.numpy()[:, :, ::-1]
    same = np.all(np.isclose(out, images.numpy(), atol=1e-3), axis=(1, 2, 3))
    flipped = np.all(np.isclose(out, mirrored, atol=1e-3), axis=(1, 2, 3))
    assert np.all(same | flipped) and same.any() and flipped.any()


def test_erasing_replaces_one_rectangle_of_each_chosen_chip_and_nothing_else():
    images = tf.random.uniform((64, 32, 32, 3), 0, 255, seed=3)
    out = augment_batch(images, Augmentation(**{**NO_CHANGE.to_dict(), "erase_probability": 1.0})).numpy()
    changed = np.any(~np.isclose(out, images.numpy(), atol=1e-3), axis=3)  # (n, h, w)
    for mask in changed:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert rows.size and cols.size
        # One solid rectangle: every pixel of its bounding box changed (noise equal to a pixel is rare).
        box = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        assert box.mean() > 0.97
        # Its area is 2-20 % of the chip, give or take the rows and columns that rounding adds.
        assert 0.02 * 32 * 32 - 2 * 32 <= box.size <= 0.2 * 32 * 32 + 2 * 32 + 1
    half = augment_batch(images, Augmentation(**{**NO_CHANGE.to_dict(), "erase_probability": 0.5})).numpy()
    erased = np.any(~np.isclose(half, images.numpy(), atol=1e-3), axis=(1, 2, 3))
    assert 10 < erased.sum() < 54  # about half of 64
