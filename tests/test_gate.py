"""The export gates' arithmetic, on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest

from faceedge.errors import ExportGateError
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
