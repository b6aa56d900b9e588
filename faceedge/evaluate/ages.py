"""What a two-head model's age output gets right: MAE in years per group, age-group accuracy, a plot.

The report of :mod:`faceedge.evaluate.report` holds an :class:`AgeReport` when the model has an age
head, and writes :func:`plot_ages` beside its other plots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceedge.data.labels import AGE_GROUPS, GENDERS, LIFE_STAGES, MAX_AGE, RACES, age_group, life_stage
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


def plot_ages(age: AgeReport, path: str | Path) -> Path:
    """Predicted against true age (one dot a face), and the MAE of each fine age group."""
    from faceedge.plotting import pyplot

    plt = pyplot()
    fig, (scatter, bars) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [5, 6]})
    scatter.scatter(age.true, age.predicted, s=4, alpha=0.35, color="#4C72B0", linewidths=0)
    top = max(float(age.true.max(initial=1)), float(age.predicted.max(initial=1))) + 2
    scatter.plot([0, top], [0, top], color="black", linewidth=0.8, linestyle="--")
    scatter.set(
        xlim=(0, top),
        ylim=(0, top),
        xlabel="true age (years)",
        ylabel="predicted age (years)",
        title=f"Predicted against true age, MAE {age.mae:.2f} years",
    )
    scatter.set_aspect("equal")
    rows = {k: v for k, v in age.mae_by["age_group"].items() if age.counts_by["age_group"][k]}
    bars.bar(range(len(rows)), list(rows.values()), color="#4C72B0")
    bars.set_xticks(range(len(rows)), [f"{k}\nn={age.counts_by['age_group'][k]}" for k in rows], fontsize=8)
    bars.axhline(age.mae, color="black", linewidth=0.8, linestyle="--")
    bars.set(title="Age MAE per age group (dashed: overall)", ylabel="MAE (years)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
