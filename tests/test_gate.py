"""The export gates' arithmetic, on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest

from faceedge.errors import ExportGateError
from faceedge.evaluate.metrics import mean_absolute_error
from faceedge.export.gate import accuracy_drop_check, finite_check, parity_checks


def test_parity_passes_a_faithful_artifact_and_fails_each_kind_of_drift():
    reference = np.linspace(0.01, 0.99, 1000)
    assert all(c.passed for c in parity_checks(reference, reference + 5e-5, probe=64))

    drifted = reference.copy()
    drifted[10] += 2e-4  # inside the probe batch: beyond 1e-4
    finite, diff, decisions = parity_checks(reference, drifted, probe=64)
    assert finite.passed and not diff.passed and decisions.passed

    flipped = reference.copy()
    flipped[[700, 800]] = 1 - flipped[[700, 800]]  # outside the probe batch: 2 of 1000 decisions
    finite, diff, decisions = parity_checks(reference, flipped, probe=64)
    assert diff.passed and not decisions.passed and decisions.measured == pytest.approx(0.002)


def test_non_finite_predictions_fail_wherever_they_are():
    reference = np.full(200, 0.3)
    late_nan = reference.copy()
    late_nan[150] = np.nan  # beyond the probe batch, where it would read as a "male" decision
    assert not parity_checks(reference, late_nan, probe=64)[0].passed
    assert not finite_check(late_nan).passed and finite_check(reference).passed
    early_nan = reference.copy()
    early_nan[0] = np.nan
    assert not any(c.passed for c in parity_checks(reference, early_nan, probe=64)[:2])


def test_predictions_that_cannot_be_compared_are_refused():
    with pytest.raises(ExportGateError, match="cannot compare 1 predictions with 5"):
        parity_checks(np.zeros(5), np.zeros(1), probe=2)
    with pytest.raises(ExportGateError, match="cannot compare 0 predictions with 0"):
        parity_checks(np.zeros(0), np.zeros(0), probe=2)


def test_int8_may_lose_half_a_point_not_more():
    assert accuracy_drop_check(0.93, 0.9251, 0.005).passed
    assert not accuracy_drop_check(0.93, 0.9249, 0.005).passed
    assert not accuracy_drop_check(0.93, float("nan"), 0.005).passed


def test_age_parity_allows_five_hundredths_of_a_year_and_no_nan():
    from faceedge.export.gate import age_parity_checks

    reference = np.linspace(1.0, 90.0, 500)
    assert all(c.passed for c in age_parity_checks(reference, reference + 0.04, probe=64))
    drifted = reference.copy()
    drifted[3] += 0.06  # inside the probe batch
    finite, diff = age_parity_checks(reference, drifted, probe=64)
    assert finite.passed and not diff.passed and diff.measured == pytest.approx(0.06)
    late_nan = reference.copy()
    late_nan[400] = np.nan  # beyond the probe batch: the finite check still sees it
    assert not age_parity_checks(reference, late_nan, probe=64)[0].passed
    with pytest.raises(ExportGateError, match="cannot compare 2 ages with 5"):
        age_parity_checks(np.zeros(5), np.zeros(2), probe=2)


def test_int8_may_add_three_tenths_of_a_year_of_age_mae_not_more():
    age_mae = mean_absolute_error
    from faceedge.export.gate import age_mae_rise_check

    true = np.array([10, 20, 30, 40])
    assert age_mae(true, [12, 18, 33, 40]) == pytest.approx(1.75)
    assert age_mae_rise_check(5.0, 5.29, 0.3).passed
    assert not age_mae_rise_check(5.0, 5.31, 0.3).passed
    assert not age_mae_rise_check(5.0, age_mae(true, [12, np.nan, 30, 40]), 0.3).passed


def _stand_in(keras_p, keras_age, true_ages, fp32_accuracy=0.75, fp32_age_mae=2.0, probe=4):
    """What the format table's gates read of an export, without a model: the Keras answers, the
    true labels (alternating male, female), the FP32 artifact's figures."""
    from types import SimpleNamespace

    labels = np.arange(len(keras_p)) % 2

    def accuracy(p):
        return float(np.mean((np.asarray(p) >= 0.5) == labels))

    tests = SimpleNamespace(
        keras=np.asarray(keras_p),
        keras_age=None if keras_age is None else np.asarray(keras_age, float),
        threshold=0.5,
        accuracy=accuracy,
        age_mae=lambda ages: mean_absolute_error(true_ages, ages),
    )
    fp32 = SimpleNamespace(
        manifest=SimpleNamespace(accuracy={"accuracy": fp32_accuracy, "age_mae": fp32_age_mae})
    )
    options = SimpleNamespace(probe_images=probe)
    return SimpleNamespace(tests=tests, fp32=fp32, record=SimpleNamespace(options=options))


def test_the_format_table_gates_the_age_of_every_artifact_of_a_two_head_model():
    from faceedge.export.formats import FORMATS
    from faceedge.export.gate import Heads

    rows = {row.name: row for row in FORMATS}
    p = np.array([0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.4, 0.6])  # every decision right
    true = np.array([10, 20, 30, 40, 50, 60, 70, 80], float)
    keras_age = true + 2.0  # MAE 2 years, as the FP32 artifact's
    ctx = _stand_in(p, keras_age, true, fp32_accuracy=1.0)

    def failed(row, heads):
        return [c.name for c in rows[row].gate(ctx, heads) if not c.passed]

    assert failed("fp32", Heads(p, keras_age + 0.04)) == []
    assert failed("fp32", Heads(p, keras_age + 0.06)) == ["max |age difference| in years on 4 probe images"]
    # FP16 and the engine: half a year, as their P(female) limit is half a percent of 0-1.
    assert (
        failed("fp16", Heads(p, keras_age + 0.45)) == []
        and failed("trt_fp16", Heads(p, keras_age + 0.45)) == []
    )
    assert failed("fp16", Heads(p, keras_age + 0.55)) == ["max |age difference| in years on 4 probe images"]
    # INT8: 0.3 years of MAE on top of the FP32 artifact's 2, with its gender accuracy kept.
    assert failed("int8", Heads(p, keras_age + 0.25)) == []
    assert failed("int8", Heads(p, keras_age + 0.35)) == ["test age MAE added against FP32 (years)"]
    one_flip = p.copy()
    one_flip[0] = 0.6
    assert failed("int8", Heads(one_flip, keras_age)) == ["test accuracy lost against FP32"]
    # An artifact that lost the age head is refused, not passed on P(female) alone.
    for row in ("fp32", "int8", "fp16"):
        with pytest.raises(ExportGateError, match="gives no age"):
            rows[row].gate(ctx, Heads(p, None))


def test_the_format_table_gates_a_gender_only_model_on_p_female_alone():
    from faceedge.export.formats import FORMATS
    from faceedge.export.gate import Heads

    p = np.array([0.1, 0.9, 0.2, 0.8])
    ctx = _stand_in(p, None, np.zeros(4), fp32_accuracy=1.0)
    for row in FORMATS:
        checks = tuple(row.gate(ctx, Heads(p)))
        assert checks and all(c.passed for c in checks)
        assert len(checks) == (2 if row.name == "int8" else 3)
