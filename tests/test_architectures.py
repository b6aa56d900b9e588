from __future__ import annotations

import keras
import numpy as np
import pytest

from faceedge.train.architectures import ARCHITECTURES, ArchName, build_model


@pytest.mark.parametrize("arch", list(ArchName))
def test_every_architecture_is_a_functional_model_with_one_float32_probability(arch):
    model = build_model(arch, 64)
    assert isinstance(model, keras.Model) and not isinstance(model, keras.Sequential)
    assert model.input_shape == (None, 64, 64, 3)
    assert model.output_shape == (None, 1)
    assert model.outputs[0].dtype == "float32"
    x = np.random.default_rng(0).uniform(0, 255, (3, 64, 64, 3)).astype("float32")
    p = np.asarray(model(x, training=False))
    assert p.shape == (3, 1) and np.all((p >= 0) & (p <= 1))


@pytest.mark.parametrize("arch", list(ArchName))
def test_inference_is_deterministic_and_holds_no_augmentation_layer(arch):
    model = build_model(arch, 48)
    random_layers = [layer.name for layer in model.layers if type(layer).__name__.startswith("Random")]
    assert random_layers == []
    x = np.random.default_rng(1).uniform(0, 255, (2, 48, 48, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model(x, training=False)), np.asarray(model(x, training=False)))


def test_the_seed_architecture_is_the_original_report_s():
    model = build_model(ArchName.seed, 64)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 3 and kinds.count("MaxPooling2D") == 3
    assert "Flatten" in kinds and "BatchNormalization" in kinds and "Dropout" in kinds
    assert model.get_layer("fc").units == 128


def test_every_architecture_has_a_default_size():
    assert all(arch.default_size >= 32 for arch in ARCHITECTURES.values())
