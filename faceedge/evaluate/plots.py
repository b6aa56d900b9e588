"""The evaluation report's pictures: the confusion matrix, accuracy per group and, for a two-head model,
predicted against true age; :func:`faceedge.evaluate.report.write_report` writes them beside its JSON.

Matplotlib is imported when a plot is drawn, so that scoring never needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceedge.data.labels import GENDERS

if TYPE_CHECKING:
    from faceedge.evaluate.ages import AgeReport
    from faceedge.evaluate.report import EvaluationReport


def plot_confusion(report: EvaluationReport, path: str | Path) -> Path:
    """The confusion matrix (rows true, columns predicted), each cell its count and its row's share."""
    from faceedge.plotting import pyplot

    plt = pyplot()
    matrix = report.confusion_matrix
    rates = matrix / np.maximum(1, matrix.sum(axis=1, keepdims=True))
    fig, ax = plt.subplots(figsize=(5, 4.4))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (row, col), count in np.ndenumerate(matrix):
        colour = "white" if rates[row, col] > 0.5 else "black"
        ax.text(col, row, f"{count}\n{rates[row, col]:.1%}", ha="center", va="center", color=colour)
    ax.set_xticks([0, 1], GENDERS)
    ax.set_yticks([0, 1], GENDERS)
    ax.set(
        xlabel="predicted", ylabel="true", title=f"Confusion matrix, accuracy {report.accuracy.accuracy:.2%}"
    )
    return _save(fig, path)


def plot_groups(report: EvaluationReport, path: str | Path) -> Path:
    """Accuracy per race, age group and gender, with 95 % intervals as error bars."""
    from faceedge.plotting import pyplot

    plt = pyplot()
    kinds = [("race", "Race"), ("age_group", "Age group"), ("gender", "Gender")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), gridspec_kw={"width_ratios": [5, 8, 2]})
    for ax, (kind, title) in zip(axes, kinds):
        rows = {k: g for k, g in report.groups[kind].items() if g.n}
        values = [g.accuracy for g in rows.values()]
        errors = np.array([[g.accuracy - g.ci_low, g.ci_high - g.accuracy] for g in rows.values()]).T
        errors = np.clip(errors, 0, None)  # float rounding at accuracy 1.0 must not make a bar negative
        ax.bar(range(len(rows)), values, yerr=errors, capsize=4, color="#4C72B0")
        ax.set_xticks(range(len(rows)), [f"{k}\nn={g.n}" for k, g in rows.items()], fontsize=8)
        ax.axhline(report.accuracy.accuracy, color="black", linewidth=0.8, linestyle="--")
        bottom = min((g.ci_low for g in rows.values()), default=0.0)
        ax.set(title=title, ylim=(max(0.0, bottom - 0.02), 1.0), ylabel="accuracy")
    fig.suptitle(f"Accuracy per group (dashed: overall {report.accuracy.accuracy:.2%}; bars: 95% interval)")
    return _save(fig, path)


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
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    """Lay out, write and close ``fig`` (pyplot keeps every figure open until it is closed)."""
    from faceedge.plotting import pyplot

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return Path(path)
