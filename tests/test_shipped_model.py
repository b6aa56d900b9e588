"""The model this repository ships: complete, consistent, and as accurate as its report says."""

from __future__ import annotations

import json

import pytest

from faceedge.train.rundir import EVALUATION_FILE, MODEL_FILE, TRAINING_FILE, format_run
from tests.conftest import REPO, RUN_RESULT_FILES

SHIPPED = REPO / "models" / "gender"


def test_the_shipped_run_is_complete_and_reports_itself():
    for name in RUN_RESULT_FILES:
        assert (SHIPPED / name).is_file(), name
    text = format_run(SHIPPED)
    assert "resnet10" in text and "accuracy" in text


def test_the_shipped_report_covers_the_full_test_split_consistently():
    evaluation = json.loads((SHIPPED / EVALUATION_FILE).read_text())
    training = json.loads((SHIPPED / TRAINING_FILE).read_text())
    assert evaluation["n"] == training["images"]["test"] == 2370
    matrix = evaluation["confusion_matrix"]
    assert sum(map(sum, matrix)) == evaluation["n"]
    assert (matrix[0][0] + matrix[1][1]) / evaluation["n"] == pytest.approx(evaluation["accuracy"])
    per_race = evaluation["per_race"].values()
    assert evaluation["race_gap"] == pytest.approx(max(per_race) - min(per_race))


def test_the_shipped_model_loads_with_the_recorded_input():
    from faceedge.evaluate.predictors import load_predictor

    training = json.loads((SHIPPED / TRAINING_FILE).read_text())
    assert load_predictor(SHIPPED / MODEL_FILE).input_size == training["img_size"]


@pytest.mark.slow
def test_the_shipped_model_reproduces_its_recorded_evaluation(utkface_archive):
    from faceedge.evaluate.report import evaluate_model

    recorded = json.loads((SHIPPED / EVALUATION_FILE).read_text())
    report = evaluate_model(SHIPPED / MODEL_FILE, utkface_archive)  # the split.csv beside the model
    assert report.n == recorded["n"]
    # Another CPU's kernels may round a borderline probability the other way; allow two images.
    wrong_now = round((1 - report.accuracy.accuracy) * report.n)
    wrong_then = round((1 - recorded["accuracy"]) * recorded["n"])
    assert abs(wrong_now - wrong_then) <= 2
