"""The artifacts shipped inside the package: listed, intact, and made from the committed model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from faceedge.bundled import BUNDLED_DIR, bundled_artifacts, bundled_path
from faceedge.cli import app
from faceedge.errors import ModelError
from faceedge.manifest import sha256_file
from tests.conftest import REPO

# Model v2 (P(female) and age): the bundled gender artifacts are exported from it.
SHIPPED_MODEL = REPO / "models" / "gender_age" / "model.keras"
EXPECTED = {"blazeface_full", "blazeface_short", "gender", "gender_int8"}


def test_models_json_lists_every_bundled_artifact_intact_with_its_manifest():
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    listed = {entry["name"]: entry for entry in json.loads(result.output)}
    assert set(listed) == EXPECTED
    for entry in listed.values():
        assert entry["intact"] and entry["problem"] is None
        assert (BUNDLED_DIR / entry["path"].rsplit("/", 1)[-1]).is_file()
        assert entry["manifest"]["schema"] == "faceedge.manifest"
    assert listed["gender_int8"]["manifest"]["precision"] == "int8"


def test_the_bundled_gender_models_were_exported_from_the_committed_model():
    keras_hash = sha256_file(SHIPPED_MODEL)
    by_name = {a.name: a for a in bundled_artifacts()}
    for name in ("gender", "gender_int8"):
        manifest = by_name[name].manifest
        assert manifest.source["sha256"] == keras_hash, f"{name} is stale: re-export it from {SHIPPED_MODEL}"
        assert manifest.accuracy["split"] == "test" and manifest.accuracy["n"] == 2370
        assert manifest.schema_version == 2
        assert [(o.name, o.meaning, o.unit) for o in manifest.outputs] == [
            ("p_female", "P(female)", "probability"),
            ("age", "age", "years"),
        ]
    int8, fp32 = by_name["gender_int8"].manifest.accuracy, by_name["gender"].manifest.accuracy
    assert fp32["accuracy"] - int8["accuracy"] <= 0.005
    assert int8["age_mae"] - fp32["age_mae"] <= 0.3
    assert fp32["max_age_diff_vs_keras"] <= 0.05


def test_the_bundled_gender_models_crop_faces_the_same_way():
    by_name = {a.name: a for a in bundled_artifacts()}
    fp32, int8 = (by_name[n].manifest.preprocessing["crop"] for n in ("gender", "gender_int8"))
    for key in ("chip_size", "eye_centre", "eye_distance", "mouth_centre", "roll_degrees"):
        assert int8[key] == fp32[key], key


def test_every_convolution_of_the_bundled_int8_model_runs_in_int8(tmp_path):
    """Fused by ONNX Runtime into QLinearConv: a convolution left between a DequantizeLinear and a
    QuantizeLinear would run in FP32 and make INT8 slower than FP32."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(bundled_path("gender_int8")), options, providers=["CPUExecutionProvider"])
    ops = [node.op_type for node in onnx.load(str(tmp_path / "optimized.onnx")).graph.node]
    assert "Conv" not in ops
    assert ops.count("QLinearConv") == 12


def test_a_damaged_bundled_file_is_reported_and_refused(tmp_path):
    for path in BUNDLED_DIR.glob("gender_int8*"):
        shutil.copy(path, tmp_path / path.name)
    with open(tmp_path / "gender_int8.onnx", "r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    (listed,) = bundled_artifacts(tmp_path)
    assert not listed.intact and "not the file that was exported" in listed.problem
    with pytest.raises(ModelError, match="not the file that was exported"):
        bundled_path("gender_int8", tmp_path)
    with pytest.raises(ModelError, match="no bundled model called 'nope'.*gender_int8"):
        bundled_path("nope", tmp_path)


def test_the_bundled_onnx_answers_like_the_committed_keras_model_on_real_faces(utkface):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("keras")
    from faceedge.data.split import read_split
    from faceedge.evaluate.predictors import open_classifier
    from faceedge.imaging import decode_chips

    test = read_split(SHIPPED_MODEL.parent / "split.csv").apply(utkface, "test").sample(200, seed=1)
    chips = decode_chips([s.data for s in test.samples], 96)
    with open_classifier(SHIPPED_MODEL) as keras:
        keras_p, keras_age = keras.predict_heads(chips)
    with open_classifier(bundled_path("gender")) as fp32:
        assert fp32.has_age
        p_female, age = fp32.predict_heads(chips)
    assert np.max(np.abs(p_female - keras_p)) <= 1e-4 and np.max(np.abs(age - keras_age)) <= 0.05
    with open_classifier(bundled_path("gender_int8")) as int8:
        int8_p, int8_age = int8.predict_heads(chips)
    assert np.mean((int8_p >= 0.5) == (keras_p >= 0.5)) >= 0.97
    # Within the INT8 gate's 0.3 years of MAE, measured here on 200 faces.
    true = test.ages.astype(np.float64)
    assert np.mean(np.abs(int8_age - true)) - np.mean(np.abs(keras_age - true)) <= 0.3
