"""Binary classification metrics in plain numpy, with female (label 1) as the positive class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GroupAccuracy:
    """Accuracy of one group with its 95 % Wilson interval (honest for small groups)."""

    accuracy: float
    n: int
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        """JSON form; the accuracy of an empty group is None."""
        accuracy = None if self.n == 0 else self.accuracy
        return {"accuracy": accuracy, "n": self.n, "ci95": [self.ci_low, self.ci_high]}


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """2×2 counts, rows = true class, columns = predicted class, order (male 0, female 1)."""
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    matrix = np.zeros((2, 2), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def precision_recall_f1(matrix: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 of the positive class (female) from a 2×2 confusion matrix.

    A ratio with an empty denominator is 0.0, as in scikit-learn's ``zero_division=0``.
    """
    tp, fp, fn = matrix[1, 1], matrix[0, 1], matrix[1, 0]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return float(precision), float(recall), float(f1)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random negative.

    Computed from ranks (Mann-Whitney U) with ties counted as half. NaN when a class is absent.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average rank within each run of equal scores, 1-based.
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(scores)]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2
    u = ranks[labels].sum() - positives * (positives + 1) / 2
    return float(u / (positives * negatives))


def wilson_interval(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``correct / n`` ((0, 1) when ``n`` is 0)."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def group_accuracy(correct: np.ndarray) -> GroupAccuracy:
    """Accuracy and interval of a boolean array of per-image correctness."""
    n = int(len(correct))
    hits = int(np.sum(correct))
    low, high = wilson_interval(hits, n)
    return GroupAccuracy(hits / n if n else float("nan"), n, low, high)


def mean_absolute_error(true: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of ``|predicted - true|``, value by value: the one age MAE of evaluation, export's gates
    and the benchmark. NaN for no values, and NaN where a prediction is not a number, so that a
    broken age head shows (and fails any limit).

    Raises:
        ValueError: not as many predictions as true values.
    """
    true = np.asarray(true, dtype=np.float64).reshape(-1)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if len(true) != len(predicted):
        raise ValueError(f"{len(predicted)} predictions for {len(true)} true values")
    return float(np.mean(np.abs(predicted - true))) if len(true) else float("nan")


def standardised_accuracy(correct: np.ndarray, groups: np.ndarray, strata: np.ndarray) -> dict[object, float]:
    """Accuracy of each group as if it had the whole set's mix of strata (direct standardisation).

    Each group's accuracy within each stratum (an age group, say) is weighted by that stratum's
    share of the whole set, so that a group is not judged worse merely for holding more of a hard
    stratum. A stratum that a group lacks is left out of that group's sum and the remaining weights
    are rescaled to 1 (in UTKFace's test split no "Others" face is 75 or older), so such a group is
    standardised to a slightly different mix. A group with no images is NaN.
    """
    correct = np.asarray(correct, dtype=bool)
    groups, strata = np.asarray(groups, dtype=object), np.asarray(strata, dtype=object)
    names, counts = np.unique(strata, return_counts=True)
    weights = dict(zip(names, counts / counts.sum())) if len(strata) else {}
    result: dict[object, float] = {}
    for group in dict.fromkeys(groups.tolist()):
        in_group = groups == group
        total = weight_sum = 0.0
        for stratum, weight in weights.items():
            cell = in_group & (strata == stratum)
            if cell.any():
                total += weight * correct[cell].mean()
                weight_sum += weight
        result[group] = total / weight_sum if weight_sum else float("nan")
    return result


def gap(values: list[float]) -> float:
    """Best minus worst of the values that exist (NaN when none do)."""
    present = [v for v in values if not np.isnan(v)]
    return max(present) - min(present) if present else float("nan")


def json_number(value: float) -> float | None:
    """A figure for JSON: None where it does not exist (NaN, an empty group)."""
    return None if np.isnan(value) else float(value)
