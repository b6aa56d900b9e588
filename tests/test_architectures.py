from __future__ import annotations

import numpy as np
import pytest

from faceedge.train.architectures import ARCHITECTURES, ArchName, build_model

pytest.importorskip("tensorflow")  # the train extra; without it this file is skipped
keras = pytest.importorskip("keras")


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


def test_a_two_head_model_gives_p_female_and_an_age_inside_utkface_s_range():
    model = build_model(ArchName.resnet10, 48, age=True)
    assert model.output_names == ["p_female", "age"]
    assert [tuple(o.shape) for o in model.outputs] == [(None, 1), (None, 1)]
    assert all(o.dtype == "float32" for o in model.outputs)
    assert not model.get_layer("age").trainable  # a fixed expectation over the years 0-116
    x = np.random.default_rng(2).uniform(0, 255, (5, 48, 48, 3)).astype("float32")
    p_female, age = (np.asarray(t) for t in model(x, training=False))
    assert np.all((p_female >= 0) & (p_female <= 1)) and np.all((age >= 0) & (age <= 116))
    # An untrained head spreads its belief over all years: its expectation is near their middle.
    assert np.allclose(age, 58, atol=8)


def test_a_gender_only_model_still_loads_the_weights_of_the_shipped_v1_file():
    from pathlib import Path

    shipped = Path(__file__).parent.parent / "models" / "gender" / "model.keras"
    v1 = keras.models.load_model(shipped, compile=False)
    rebuilt = build_model(ArchName.resnet10, v1.input_shape[1])
    rebuilt.set_weights(v1.get_weights())
    x = np.random.default_rng(3).uniform(0, 255, (2, 96, 96, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(rebuilt(x, training=False)), np.asarray(v1(x, training=False)))
