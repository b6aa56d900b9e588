from __future__ import annotations

import numpy as np
import pytest

from faceedge.data.labels import parse_file_name
from faceedge.data.utkface import Sample, UtkFace
from faceedge.evaluate.metrics import confusion_matrix, precision_recall_f1, roc_auc, wilson_interval
from faceedge.evaluate.report import evaluate_predictions, format_report

LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
PREDICTED = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0])


def test_confusion_matrix_by_hand():
    # 3 females found, 1 missed; 2 males called female, 4 right.
    np.testing.assert_array_equal(confusion_matrix(LABELS, PREDICTED), [[4, 2], [1, 3]])


def test_precision_recall_f1_by_hand():
    precision, recall, f1 = precision_recall_f1(np.array([[4, 2], [1, 3]]))
    assert precision == pytest.approx(3 / 5)
    assert recall == pytest.approx(3 / 4)
    assert f1 == pytest.approx(2 * 0.6 * 0.75 / 1.35)


def test_precision_with_no_positive_prediction_is_zero_not_nan():
    assert precision_recall_f1(np.array([[5, 0], [3, 0]])) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("labels", "scores", "expected"),
    [
        ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 3 / 4),  # one of four pairs ordered wrongly
        ([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9], 3.5 / 4),  # a tie counts half
        ([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], 1.0),
        ([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4], 0.0),
    ],
)
def test_roc_auc_by_hand(labels, scores, expected):
    assert roc_auc(np.array(labels), np.array(scores)) == pytest.approx(expected)


def test_roc_auc_without_one_class_is_nan():
    assert np.isnan(roc_auc(np.array([1, 1]), np.array([0.2, 0.9])))


def test_wilson_interval_known_value():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def _dataset(names: list[str]) -> UtkFace:
    from pathlib import Path

    return UtkFace(Path("."), tuple(Sample(n, parse_file_name(n), b"") for n in names), ())


def test_report_groups_and_gap_by_hand():
    # age_gender_race: two White adults right, one Black adult wrong and one right, a White child wrong.
    names = [
        "30_0_0_1.jpg.chip.jpg",
        "40_1_0_2.jpg.chip.jpg",
        "25_1_1_3.jpg.chip.jpg",
        "50_0_1_4.jpg.chip.jpg",
        "5_1_0_5.jpg.chip.jpg",
    ]
    p_female = np.array([0.1, 0.9, 0.2, 0.3, 0.4])  # wrong: the 25-year-old and the child
    report = evaluate_predictions(_dataset(names), p_female).to_dict()
    assert report["n"] == 5 and report["accuracy"] == pytest.approx(3 / 5)
    assert report["confusion_matrix"] == [[2, 0], [2, 1]]
    assert report["per_race"]["White"] == pytest.approx(2 / 3)
    assert report["per_race"]["Black"] == pytest.approx(1 / 2)
    assert report["per_race"]["Asian"] is None  # absent groups have no accuracy (null in JSON)
    assert report["groups"]["race"]["Asian"]["n"] == 0
    assert report["race_gap"] == pytest.approx(2 / 3 - 1 / 2)
    assert report["adult_accuracy"] == pytest.approx(3 / 4)
    assert report["per_age_group"]["3-9"] == 0.0
    assert report["per_gender"] == {"male": 1.0, "female": pytest.approx(1 / 3)}
    assert "accuracy 60.00% on 5" in format_report(report)


def test_threshold_is_inclusive_and_counts_mismatch_is_an_error():
    dataset = _dataset(["30_1_0_1.jpg.chip.jpg"])
    assert evaluate_predictions(dataset, np.array([0.5])).accuracy.accuracy == 1.0
    with pytest.raises(ValueError, match="2 predictions for 1 images"):
        evaluate_predictions(dataset, np.array([0.5, 0.5]))
