from __future__ import annotations

import json

import numpy as np
import pytest

from faceedge.data.labels import parse_file_name
from faceedge.data.utkface import Sample, UtkFace
from faceedge.evaluate.metrics import (
    confusion_matrix,
    gap,
    mean_absolute_error,
    precision_recall_f1,
    roc_auc,
    standardised_accuracy,
    wilson_interval,
)
from faceedge.evaluate.report import evaluate_predictions, write_report
from faceedge.evaluate.text import format_report

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


def test_direct_standardisation_by_hand():
    # Race A: 4 adults (all right) and 4 children (1 right); race B: 1 adult (right), 1 child (wrong).
    # The whole set is 5 adults and 5 children, so each stratum weighs 1/2.
    groups = np.array(["A"] * 8 + ["B"] * 2)
    strata = np.array(["adult"] * 4 + ["child"] * 4 + ["adult", "child"])
    correct = np.array([1, 1, 1, 1, 1, 0, 0, 0, 1, 0], dtype=bool)
    result = standardised_accuracy(correct, groups, strata)
    assert result["A"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.25)
    assert result["B"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.0)
    # Raw, A is 5/8 and B 1/2; standardised, each is weighed at the set's half-and-half mix.


def test_a_stratum_a_group_lacks_is_left_out_and_the_weights_rescaled():
    groups = np.array(["A", "A", "A", "B"])
    strata = np.array(["x", "y", "y", "y"])  # B has no "x": its accuracy is its "y" accuracy
    correct = np.array([0, 1, 1, 1], dtype=bool)
    result = standardised_accuracy(correct, groups, strata)
    assert result["A"] == pytest.approx(0.25 * 0.0 + 0.75 * 1.0)
    assert result["B"] == pytest.approx(1.0)


def test_gap_and_mae_by_hand():
    assert gap([0.9, float("nan"), 0.8, 0.95]) == pytest.approx(0.15)
    assert np.isnan(gap([float("nan")]))
    assert mean_absolute_error([10, 20, 30], [12, 17, 30]) == pytest.approx(5 / 3)
    assert np.isnan(mean_absolute_error([], []))


def test_age_report_and_the_three_race_gaps_by_hand():
    # age_gender_race: White 30 (right), White 5 (wrong), Black 40 (right), Black 60 (wrong).
    names = [
        "30_0_0_1.jpg.chip.jpg",
        "5_1_0_2.jpg.chip.jpg",
        "40_1_1_3.jpg.chip.jpg",
        "60_0_1_4.jpg.chip.jpg",
    ]
    p_female = np.array([0.1, 0.2, 0.8, 0.7])
    ages = np.array([33.0, 5.4, 30.0, 61.0])  # errors +3, +0.4, -10, +1
    report = evaluate_predictions(_dataset(names), p_female, ages=ages).to_dict()
    assert report["has_age"] is True
    assert report["age_mae"] == pytest.approx((3 + 0.4 + 10 + 1) / 4)
    assert report["age_bias"] == pytest.approx((3 + 0.4 - 10 + 1) / 4)
    assert report["age_mae_per_race"]["White"] == pytest.approx(1.7)
    assert report["age_mae_per_race"]["Black"] == pytest.approx(5.5)
    assert report["age_mae_per_race"]["Asian"] is None
    assert report["age_mae_per_life_stage"] == {"young": pytest.approx(0.4), "adult": 6.5, "senior": 1.0}
    # Rounded ages 33, 5, 30, 61: fine groups 30-44, 3-9, 30-44, 60-74: all right but the 40-year-old's
    # (30-44 is right too): 4 of 4; life stages adult, young, adult, senior: 4 of 4.
    assert report["age_group_accuracy"] == 1.0 and report["age_life_stage_accuracy"] == 1.0
    # Raw: White 1/2, Black 1/2, gap 0. Adults only: White 1/1, Black 1/2, gap 0.5.
    assert report["race_gap"] == pytest.approx(0.0)
    assert report["race_gap_adults"] == pytest.approx(0.5)
    # Fine age groups of the split: 30-44 (2 faces), 3-9 (1), 60-74 (1): weights 1/2, 1/4, 1/4.
    # White: 30-44 right, 3-9 wrong, no 60-74 -> (1/2 * 1 + 1/4 * 0) / (3/4) = 2/3.
    # Black: 30-44 right, 60-74 wrong, no 3-9 -> 2/3 as well.
    assert report["per_race_age_standardised"]["White"] == pytest.approx(2 / 3)
    assert report["per_race_age_standardised"]["Black"] == pytest.approx(2 / 3)
    assert report["race_gap_age_standardised"] == pytest.approx(0.0)
    empty = report["age_standardisation_empty_groups"]
    assert empty["White"] == ["0-2", "10-17", "18-29", "45-59", "60-74", "75+"]
    assert empty["Black"] == ["0-2", "3-9", "10-17", "18-29", "45-59", "75+"]
    text = format_report(report)
    assert "age MAE 3.60 years" in text and "adults only 50.00 points" in text


def test_a_gender_only_report_has_no_age_figures():
    report = evaluate_predictions(_dataset(["30_0_0_1.jpg.chip.jpg"]), np.array([0.1])).to_dict()
    assert report["has_age"] is False and "age_mae" not in report
    assert "age MAE" not in format_report(report)


def test_the_text_of_a_report_is_the_text_of_the_json_file_it_writes(tmp_path):
    # `faceedge evaluate` prints the report it made; `faceedge report` prints the JSON file read back.
    report = evaluate_predictions(
        _dataset(["30_0_0_1.jpg.chip.jpg", "5_1_1_1.jpg.chip.jpg"]),
        np.array([0.1, 0.9]),
        ages=np.array([28.0, 7.5]),
    )
    (written,) = write_report(report, tmp_path / "evaluation.json", plots=False)
    text = format_report(json.loads(written.read_text(encoding="utf-8")))
    assert text == format_report(report) and "age MAE" in text


def test_an_age_group_is_read_from_the_rounded_age():
    # 17.6 rounds to 18: an adult and in 18-29, while the face is 17 (10-17, young).
    report = evaluate_predictions(
        _dataset(["17_0_0_1.jpg.chip.jpg"]), np.array([0.1]), ages=np.array([17.6])
    ).to_dict()
    assert report["age_group_accuracy"] == 0.0 and report["age_life_stage_accuracy"] == 0.0
    assert report["age_mae"] == pytest.approx(0.6)
