"""What a two-head model's age output gets right: MAE in years per group, age-group accuracy.

The report of :mod:`faceedge.evaluate.report` holds an :class:`AgeReport` when the model has an age
head; :func:`faceedge.evaluate.plots.plot_ages` draws it beside the report's other plots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from faceedge.ages import AGE_GROUPS, LIFE_STAGES, MAX_AGE, age_group, life_stage
from faceedge.data.labels import GENDERS, RACES
from faceedge.data.utkface import UtkFace
from faceedge.evaluate.metrics import GroupAccuracy, group_accuracy, json_number, mean_absolute_error


@dataclass(frozen=True)
class AgeReport:
    """What a two-head model's age output gets right, in years and as age groups.

    ``mae_by`` maps a grouping (``age_group``, ``life_stage``, ``race``, ``gender``) to the MAE of
    each of its groups (NaN where the split has none); ``group_accuracy`` is how often the
    predicted age falls in the true fine age group, ``life_stage_accuracy`` the same for young /
    adult / senior; ``bias`` is the mean signed error (positive: faces are made older).
    """

    mae: float
    bias: float
    mae_by: dict[str, dict[str, float]]
    counts_by: dict[str, dict[str, int]]
    group_accuracy: GroupAccuracy
    life_stage_accuracy: GroupAccuracy
    true: np.ndarray = field(repr=False)
    predicted: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        return {
            "age_mae": json_number(self.mae),
            "age_bias": json_number(self.bias),
            **{
                f"age_mae_per_{kind}": {k: json_number(v) for k, v in rows.items()}
                for kind, rows in self.mae_by.items()
            },
            "age_group_accuracy": self.group_accuracy.accuracy,
            "age_life_stage_accuracy": self.life_stage_accuracy.accuracy,
        }


def evaluate_ages(dataset: UtkFace, ages: np.ndarray) -> AgeReport:
    """Score predicted ages in years against the labels of ``dataset`` (same order)."""
    predicted = np.asarray(ages, dtype=np.float64).reshape(-1)
    if len(predicted) != len(dataset):
        raise ValueError(f"{len(predicted)} ages for {len(dataset)} images")
    true = dataset.ages.astype(np.float64)
    labels = [s.labels for s in dataset.samples]
    groupings = {
        "age_group": ([lab.age_group for lab in labels], [n for n, _, _ in AGE_GROUPS]),
        "life_stage": ([lab.life_stage for lab in labels], [n for n, _, _ in LIFE_STAGES]),
        "race": ([lab.race_name for lab in labels], list(RACES)),
        "gender": ([lab.gender_name for lab in labels], list(GENDERS)),
    }
    mae_by, counts_by = {}, {}
    for kind, (keys, names) in groupings.items():
        keys = np.array(keys, dtype=object)
        mae_by[kind] = {n: mean_absolute_error(true[keys == n], predicted[keys == n]) for n in names}
        counts_by[kind] = {n: int((keys == n).sum()) for n in names}
    # An age is rounded to whole years before it is given a group, as a person would read it; an
    # age that is not a number (a diverged model) falls in no group.
    finite = np.isfinite(predicted)
    whole = np.clip(np.rint(np.where(finite, predicted, 0)), 0, MAX_AGE).astype(int)
    predicted_group = [age_group(int(a)) if ok else None for a, ok in zip(whole, finite)]
    predicted_stage = [life_stage(int(a)) if ok else None for a, ok in zip(whole, finite)]
    return AgeReport(
        mae=mean_absolute_error(true, predicted),
        bias=float(np.mean(predicted - true)) if len(true) else float("nan"),
        mae_by=mae_by,
        counts_by=counts_by,
        group_accuracy=group_accuracy(
            np.array([p == lab.age_group for p, lab in zip(predicted_group, labels)], dtype=bool)
        ),
        life_stage_accuracy=group_accuracy(
            np.array([p == lab.life_stage for p, lab in zip(predicted_stage, labels)], dtype=bool)
        ),
        true=true,
        predicted=predicted,
    )
