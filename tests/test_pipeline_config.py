"""PipelineConfig: one record for what a pipeline runs, checked once, built by both commands."""

from __future__ import annotations

import dataclasses

import pytest

from faceedge.runtime.config import CLASSIFY_EVERY, DETECT_EVERY, MIN_FACE, PipelineConfig
from faceedge.runtime.detection import DetectorChoice


def test_the_defaults_are_the_bundled_models_on_the_fastest_backend():
    config = PipelineConfig()
    assert (config.model, config.backend, config.detector) == (None, "auto", DetectorChoice.short)
    assert (config.min_face, config.classify_every, config.detect_every, config.detect, config.track) == (
        MIN_FACE,
        CLASSIFY_EVERY,
        DETECT_EVERY,
        True,
        True,
    )


def test_it_is_frozen_and_stores_the_detector_as_its_choice():
    config = PipelineConfig(detector="yunet")
    assert config.detector is DetectorChoice.yunet
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.min_face = 3


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"min_score": 5.0}, r"min_score must be in \[0, 1\], not 5.0"),
        ({"min_score": -0.1}, r"min_score must be in \[0, 1\]"),
        ({"nms_iou": 1.5}, r"nms_iou must be in \[0, 1\], not 1.5"),
        ({"min_face": -3}, "min_face must be 1 or more, not -3"),
        ({"min_face": 0}, "min_face must be 1 or more"),
        ({"classify_every": 0}, "classify_every must be 1 or more, not 0"),
        ({"detect_every": 0}, "detect_every must be 1 or more, not 0"),
        ({"backend": "gpu"}, "unknown backend 'gpu'; choose one of auto, "),
        ({"detector": "haar"}, "unknown detector 'haar'; choose one of short, full, yunet"),
    ],
)
def test_a_field_out_of_range_is_a_clear_value_error(fields, message):
    with pytest.raises(ValueError, match=message):
        PipelineConfig(**fields)
    with pytest.raises(ValueError, match=message):  # replace() checks again
        dataclasses.replace(PipelineConfig(), **fields)


def test_the_bounds_themselves_are_accepted():
    PipelineConfig(min_score=0.0, nms_iou=1.0, min_face=1, classify_every=1, detect_every=1)


@pytest.mark.parametrize("backend", ["auto", "trt-engine", "tensorrt", "cuda", "cpu"])
def test_every_backend_of_the_table_that_runs_exported_artifacts_is_a_choice(backend):
    assert PipelineConfig(backend=backend).backend == backend


def test_the_keras_row_is_not_a_pipeline_backend():
    # A .keras model has no manifest saying how to crop faces for it.
    with pytest.raises(ValueError, match="unknown backend 'keras'"):
        PipelineConfig(backend="keras")


def test_a_model_that_is_not_an_exported_artifact_is_refused():
    from faceedge.errors import BackendError

    # A .keras model has no manifest saying how to crop and feed faces: export it first.
    with pytest.raises(BackendError, match=r"runs \.onnx and \.engine artifacts .* not model\.keras"):
        PipelineConfig(model="runs/gender/model.keras")
    assert PipelineConfig(model="exported/gender.onnx").model == "exported/gender.onnx"
