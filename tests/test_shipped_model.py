"""The models this repository ships: complete, consistent, and as accurate as their reports say.

``models/gender`` is the gender-only model the bundled runtime artifacts were exported from;
``models/gender_age`` is model v2, one network for gender and age.
"""

from __future__ import annotations

import json

import pytest

from faceedge.errors import ModelError
from faceedge.manifest import TRAINING_SCHEMA, TrainingRecord, read_training_record, write_training_record
from faceedge.train.rundir import EVALUATION_FILE, MODEL_FILE, TRAINING_FILE, format_run
from tests.conftest import REPO, RUN_RESULT_FILES

SHIPPED_RUNS = {"gender": REPO / "models" / "gender", "gender_age": REPO / "models" / "gender_age"}


@pytest.fixture(params=list(SHIPPED_RUNS), ids=list(SHIPPED_RUNS))
def shipped(request):
    return SHIPPED_RUNS[request.param]


def test_the_shipped_run_is_complete_and_reports_itself(shipped):
    for name in RUN_RESULT_FILES:
        assert (shipped / name).is_file(), name
    text = format_run(shipped)
    assert "resnet10" in text and "accuracy" in text


def test_the_shipped_report_covers_the_full_test_split_consistently(shipped):
    evaluation = json.loads((shipped / EVALUATION_FILE).read_text())
    training = json.loads((shipped / TRAINING_FILE).read_text())
    assert evaluation["n"] == training["images"]["test"] == 2370
    matrix = evaluation["confusion_matrix"]
    assert sum(map(sum, matrix)) == evaluation["n"]
    assert (matrix[0][0] + matrix[1][1]) / evaluation["n"] == pytest.approx(evaluation["accuracy"])
    per_race = evaluation["per_race"].values()
    assert evaluation["race_gap"] == pytest.approx(max(per_race) - min(per_race))


def test_model_v2_has_both_heads_and_reports_age_on_the_same_test_split():
    from faceedge.evaluate.predictors import open_classifier

    v1, v2 = SHIPPED_RUNS["gender"], SHIPPED_RUNS["gender_age"]
    assert (v1 / "split.csv").read_bytes() == (v2 / "split.csv").read_bytes()
    assert open_classifier(v2 / MODEL_FILE).has_age and not open_classifier(v1 / MODEL_FILE).has_age
    evaluation = json.loads((v2 / EVALUATION_FILE).read_text())
    assert evaluation["has_age"] and (v2 / "evaluation_age.png").is_file()
    counts = {k: g["n"] for k, g in evaluation["groups"]["age_group"].items()}
    weighted = sum(evaluation["age_mae_per_age_group"][k] * n for k, n in counts.items()) / evaluation["n"]
    assert weighted == pytest.approx(evaluation["age_mae"])


def test_the_shipped_model_loads_with_the_recorded_input(shipped):
    from faceedge.evaluate.predictors import open_classifier

    training = json.loads((shipped / TRAINING_FILE).read_text())
    assert open_classifier(shipped / MODEL_FILE).input_size == training["img_size"]


def test_the_shipped_training_records_read_as_version_1_and_round_trip(shipped, tmp_path):
    # Written before the record had a schema: read as version 1, every recorded field kept.
    recorded = json.loads((shipped / TRAINING_FILE).read_text())
    record = read_training_record(shipped / TRAINING_FILE)
    assert record.schema == TRAINING_SCHEMA and record.schema_version == 1
    assert record.arch == "resnet10" and record.images["test"] == 2370
    assert {k: v for k, v in record.to_dict().items() if k in recorded} == recorded
    copy = write_training_record(record, tmp_path / TRAINING_FILE)
    assert read_training_record(copy) == record


def test_a_training_record_of_a_newer_version_or_another_schema_is_refused(tmp_path):
    values = read_training_record(SHIPPED_RUNS["gender_age"] / TRAINING_FILE).to_dict()
    path = tmp_path / TRAINING_FILE
    path.write_text(json.dumps({**values, "schema_version": 2}))
    with pytest.raises(ModelError, match="training record version 2.*upgrade faceedge"):
        read_training_record(path)
    path.write_text(json.dumps({**values, "schema": "faceedge.manifest"}))
    with pytest.raises(ModelError, match="not a faceedge training record"):
        read_training_record(path)
    path.write_text(json.dumps({k: v for k, v in values.items() if k != "arch"}))
    with pytest.raises(ModelError, match="incomplete"):
        read_training_record(path)
    assert isinstance(read_training_record(SHIPPED_RUNS["gender"] / TRAINING_FILE), TrainingRecord)


@pytest.mark.slow
def test_the_shipped_model_reproduces_its_recorded_evaluation(shipped, utkface_archive):
    from faceedge.evaluate.report import evaluate_model

    recorded = json.loads((shipped / EVALUATION_FILE).read_text())
    report = evaluate_model(shipped / MODEL_FILE, utkface_archive)  # the split.csv beside the model
    assert report.n == recorded["n"]
    # Another CPU's kernels may round a borderline probability the other way; allow two images.
    wrong_now = round((1 - report.accuracy.accuracy) * report.n)
    wrong_then = round((1 - recorded["accuracy"]) * recorded["n"])
    assert abs(wrong_now - wrong_then) <= 2
    if recorded.get("has_age"):
        assert report.age is not None and report.age.mae == pytest.approx(recorded["age_mae"], abs=0.01)
