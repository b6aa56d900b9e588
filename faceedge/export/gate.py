"""The accuracy gate: an artifact is written only when it answers like the model it came from.

Each check compares the artifact's predictions on real test images with a reference (the Keras
model, or the FP32 ONNX for reduced precision) against a stated limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceedge.errors import ExportGateError

# The limits of the export stage: FP32 must reproduce Keras, INT8 may cost half a point and 0.3
# years of age error.
MAX_ABS_DIFF = 1e-4  # largest |Keras - ONNX| probability on the probe batch
MAX_AGE_ABS_DIFF = 0.05  # largest |Keras - ONNX| age in years on the probe batch
MAX_DISAGREEMENT = 0.001  # share of test images whose decision differs from Keras'
MAX_INT8_ACCURACY_DROP = 0.005  # test accuracy points (as a fraction) lost against FP32
MAX_INT8_AGE_MAE_RISE = 0.3  # years of test age MAE added against FP32
MAX_FP16_ABS_DIFF = 5e-3  # FP16 keeps about three significant digits of each activation
# The same share of its output's range as the P(female) limit: 5e-3 of a probability's 0-1 is half
# a percent, and half a percent of the 0-MAX_AGE (116) years an age spans is 0.58, rounded down.
# P(female) leaves a sigmoid that shrinks FP16's error in the logit; the age head is linear, so its
# error shows whole, which a fixed count of years (as for FP32) would not allow for.
MAX_FP16_AGE_ABS_DIFF = 0.5
PROBE_IMAGES = 64  # the first test images, on which the parity limits apply


@dataclass(frozen=True)
class Heads:
    """What a model answered on the test images: P(female) ``(n,)`` and, for a two-head model,
    the age in years ``(n,)`` (None for a gender-only one)."""

    p_female: np.ndarray
    age: np.ndarray | None = None


@dataclass(frozen=True)
class GateCheck:
    """One measured figure, its limit, and whether it stays within it (``measured <= limit``)."""

    name: str
    measured: float
    limit: float

    @property
    def passed(self) -> bool:
        return bool(self.measured <= self.limit)

    def describe(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        return f"{self.name}: {self.measured:.3g} (limit {self.limit:.3g}) {verdict}"


def parity_checks(
    reference: np.ndarray,
    candidate: np.ndarray,
    probe: int,
    max_abs_diff: float = MAX_ABS_DIFF,
    max_disagreement: float = MAX_DISAGREEMENT,
    threshold: float = 0.5,
) -> tuple[GateCheck, ...]:
    """An artifact that must reproduce its reference: the probe batch (the first ``probe``
    predictions) within ``max_abs_diff``, and decisions that differ on at most ``max_disagreement``
    of all the images."""
    reference, candidate, diff = _probe_difference(reference, candidate, probe, "predictions")
    disagree = float(np.mean((reference >= threshold) != (candidate >= threshold)))
    return (
        finite_check(candidate),
        GateCheck(f"max |difference| on {min(probe, len(reference))} probe images", diff, max_abs_diff),
        GateCheck(f"decisions differing on {len(reference)} test images", disagree, max_disagreement),
    )


def _probe_difference(
    reference: np.ndarray, candidate: np.ndarray, probe: int, what: str
) -> tuple[np.ndarray, np.ndarray, float]:
    """Both as flat arrays, and their largest difference on the first ``probe`` values.

    Raises:
        ExportGateError: the two cannot be compared (different lengths, nothing to compare).
    """
    reference, candidate = np.asarray(reference).ravel(), np.asarray(candidate).ravel()
    if len(candidate) != len(reference) or len(reference) == 0 or probe < 1:
        raise ExportGateError(
            f"cannot compare {len(candidate)} {what} with {len(reference)} reference ones "
            f"on {probe} probe images"
        )
    return reference, candidate, float(np.max(np.abs(reference[:probe] - candidate[:probe])))


def age_parity_checks(
    reference: np.ndarray, candidate: np.ndarray, probe: int, max_abs_diff: float = MAX_AGE_ABS_DIFF
) -> tuple[GateCheck, ...]:
    """An age output that must reproduce its reference: every age a number, and the probe batch
    (the first ``probe`` ages) within ``max_abs_diff`` years.

    Raises:
        ExportGateError: the two cannot be compared (different lengths, nothing to compare).
    """
    reference, candidate, diff = _probe_difference(reference, candidate, probe, "ages")
    return (
        finite_check(candidate, "ages"),
        GateCheck(
            f"max |age difference| in years on {min(probe, len(reference))} probe images", diff, max_abs_diff
        ),
    )


def finite_check(candidate: np.ndarray, what: str = "predictions") -> GateCheck:
    """Every prediction a number (a NaN would silently count as a "male" decision, or in no age group)."""
    return GateCheck(f"non-finite {what}", float(np.sum(~np.isfinite(candidate))), 0.0)


def accuracy_drop_check(reference_accuracy: float, accuracy: float, limit: float) -> GateCheck:
    """An artifact allowed to lose at most ``limit`` of test accuracy against its reference."""
    return GateCheck("test accuracy lost against FP32", reference_accuracy - accuracy, limit)


def age_mae_rise_check(reference_mae: float, mae: float, limit: float) -> GateCheck:
    """An artifact allowed to add at most ``limit`` years of age MAE against its reference."""
    return GateCheck("test age MAE added against FP32 (years)", mae - reference_mae, limit)
