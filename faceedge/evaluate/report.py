"""The evaluation report: overall metrics, accuracy per race, age group and gender, the race gap
three ways, the age head's errors for a two-head model, and plots.

:func:`evaluate_predictions` works on probabilities, ages and labels only, so it serves every backend;
:func:`evaluate_model` adds reading the data, the split and running a :class:`Predictor`.

The raw race gap (best minus worst race accuracy) mostly measures how many children each race group
holds in UTKFace, since children's gender is hard to see; the report gives it beside the gap
between age-standardised accuracies (each race weighted to the split's overall mix of the fine age
groups) and the gap among adults alone.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceedge.data.images import decode_chips
from faceedge.data.labels import ADULT_MIN_AGE, AGE_GROUPS, GENDERS, LIFE_STAGES, RACES
from faceedge.data.split import DEFAULT_SEED, SPLIT_FILE_NAME, Split, make_split, read_split
from faceedge.data.utkface import UtkFace, load_utkface
from faceedge.evaluate.ages import AgeReport, evaluate_ages, plot_ages
from faceedge.evaluate.metrics import (
    GroupAccuracy,
    confusion_matrix,
    gap,
    group_accuracy,
    json_number,
    precision_recall_f1,
    roc_auc,
    standardised_accuracy,
)
from faceedge.evaluate.predictors import Predictor, load_predictor, predict_heads, predict_heads_with_flip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationReport:
    """Everything measured on one split; :meth:`to_dict` is the JSON that scripts and stages read."""

    n: int
    accuracy: GroupAccuracy
    precision: float
    recall: float
    f1: float
    roc_auc: float
    confusion_matrix: np.ndarray
    threshold: float
    groups: dict[str, dict[str, GroupAccuracy]]
    adult: GroupAccuracy
    race_age_standardised: dict[str, float] = field(default_factory=dict)
    race_adults: dict[str, GroupAccuracy] = field(default_factory=dict)
    race_by_age_group: dict[str, dict[str, GroupAccuracy]] = field(default_factory=dict)
    age: AgeReport | None = None
    context: dict = field(default_factory=dict)

    @property
    def race_gap(self) -> float:
        """Best minus worst race group accuracy, over the groups present in the split."""
        return gap([g.accuracy for g in self.groups["race"].values() if g.n])

    @property
    def race_gap_age_standardised(self) -> float:
        """The race gap between accuracies standardised to the split's mix of fine age groups."""
        return gap(list(self.race_age_standardised.values()))

    @property
    def race_gap_adults(self) -> float:
        """The race gap among faces aged 18 or more."""
        return gap([g.accuracy for g in self.race_adults.values() if g.n])

    def to_dict(self) -> dict:
        """The JSON form; a figure that does not exist (a group absent from the split) is None."""
        flat = {
            kind: {name: json_number(g.accuracy) for name, g in rows.items()}
            for kind, rows in self.groups.items()
        }
        return {
            **self.context,
            "n": self.n,
            "threshold": self.threshold,
            "accuracy": self.accuracy.accuracy,
            "accuracy_ci95": [self.accuracy.ci_low, self.accuracy.ci_high],
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "roc_auc": json_number(self.roc_auc),
            "positive_class": "female",
            "confusion_matrix": self.confusion_matrix.tolist(),
            "confusion_matrix_labels": list(GENDERS),
            "per_race": flat["race"],
            "race_gap": json_number(self.race_gap),
            "race_gap_age_standardised": json_number(self.race_gap_age_standardised),
            "race_gap_adults": json_number(self.race_gap_adults),
            "per_race_age_standardised": {k: json_number(v) for k, v in self.race_age_standardised.items()},
            # The age groups a race has no face in: its standardised accuracy leaves them out.
            "age_standardisation_empty_groups": {
                race: [name for name, g in cells.items() if not g.n]
                for race, cells in self.race_by_age_group.items()
                if any(not g.n for g in cells.values())
            },
            "per_race_adults": {k: json_number(g.accuracy) for k, g in self.race_adults.items()},
            "per_age_group": flat["age_group"],
            "per_life_stage": flat["life_stage"],
            "per_gender": flat["gender"],
            "adult_accuracy": json_number(self.adult.accuracy),
            "adult_min_age": ADULT_MIN_AGE,
            "groups": {
                kind: {name: g.to_dict() for name, g in rows.items()} for kind, rows in self.groups.items()
            }
            | {"adult": {f"{ADULT_MIN_AGE}+": self.adult.to_dict()}},
            "has_age": self.age is not None,
            **(self.age.to_dict() if self.age is not None else {}),
        }


def evaluate_predictions(
    dataset: UtkFace,
    p_female: np.ndarray,
    threshold: float = 0.5,
    context: dict | None = None,
    ages: np.ndarray | None = None,
) -> EvaluationReport:
    """Score probabilities (and, for a two-head model, ages in years) against the labels of
    ``dataset`` (same order)."""
    p_female = np.asarray(p_female, dtype=np.float64).reshape(-1)
    if len(p_female) != len(dataset):
        raise ValueError(f"{len(p_female)} predictions for {len(dataset)} images")
    genders = dataset.genders
    predicted = (p_female >= threshold).astype(np.int64)
    correct = predicted == genders
    matrix = confusion_matrix(genders, predicted)
    precision, recall, f1 = precision_recall_f1(matrix)
    labels = [s.labels for s in dataset.samples]

    def by(key, names) -> dict[str, GroupAccuracy]:
        keys = np.array([key(lab) for lab in labels], dtype=object)
        return {name: group_accuracy(correct[keys == name]) for name in names}

    groups = {
        "race": by(lambda lab: lab.race_name, RACES),
        "age_group": by(lambda lab: lab.age_group, [n for n, _, _ in AGE_GROUPS]),
        "life_stage": by(lambda lab: lab.life_stage, [n for n, _, _ in LIFE_STAGES]),
        "gender": by(lambda lab: lab.gender_name, GENDERS),
    }
    races = np.array([lab.race_name for lab in labels], dtype=object)
    adults = dataset.ages >= ADULT_MIN_AGE
    age_groups = np.array([lab.age_group for lab in labels], dtype=object)
    standardised = standardised_accuracy(correct, races, age_groups)
    return EvaluationReport(
        n=len(dataset),
        accuracy=group_accuracy(correct),
        precision=precision,
        recall=recall,
        f1=f1,
        roc_auc=roc_auc(genders, p_female),
        confusion_matrix=matrix,
        threshold=threshold,
        groups=groups,
        adult=group_accuracy(correct[adults]),
        race_age_standardised={race: standardised.get(race, float("nan")) for race in RACES},
        race_adults={race: group_accuracy(correct[adults & (races == race)]) for race in RACES},
        race_by_age_group={
            race: {
                name: group_accuracy(correct[(races == race) & (age_groups == name)])
                for name, _, _ in AGE_GROUPS
            }
            for race in RACES
        },
        age=None if ages is None else evaluate_ages(dataset, ages),
        context=dict(context or {}),
    )


def resolve_split(
    model: Path | None, dataset: UtkFace, split_file: str | Path | None, seed: int = DEFAULT_SEED
) -> tuple[Split, str]:
    """The split a model is evaluated or trained further with: the given file, else the one beside
    the model, else a fresh split of ``dataset`` with ``seed``.

    Returns the split and a description of where it came from, for the report.
    """
    if split_file is not None:
        return read_split(split_file), str(split_file)
    beside = model.parent / SPLIT_FILE_NAME if model is not None else None
    if beside is not None and beside.is_file():
        return read_split(beside), str(beside)
    split = make_split(dataset, seed)
    return split, f"default split (seed {split.seed})"


def evaluate_model(
    model: str | Path,
    data: str | Path,
    split_file: str | Path | None = None,
    split: str = "test",
    flip_average: bool = False,
    threshold: float = 0.5,
) -> EvaluationReport:
    """Evaluate a model file on one split of UTKFace.

    Raises:
        ModelError, DatasetError, SplitError: the model, the data or the split cannot be used.
    """
    model = Path(model)
    predictor = load_predictor(model)
    dataset = load_utkface(data)
    chosen, split_source = resolve_split(model, dataset, split_file)
    context = {"model": str(model), "data": str(data), "split": split, "split_file": split_source}
    return evaluate_predictor(predictor, chosen.apply(dataset, split), flip_average, threshold, context)


def evaluate_predictor(
    predictor: Predictor,
    dataset: UtkFace,
    flip_average: bool = False,
    threshold: float = 0.5,
    context: dict | None = None,
) -> EvaluationReport:
    """Decode the chips of ``dataset`` for ``predictor``, run it and score its predictions."""
    chips = decode_chips([s.data for s in dataset.samples], predictor.input_size)
    started = time.perf_counter()
    p_female, ages = (predict_heads_with_flip if flip_average else predict_heads)(predictor, chips)
    log.info(
        "%s predicted %d images in %.1f s", predictor.backend, len(dataset), time.perf_counter() - started
    )
    context = {
        **(context or {}),
        "backend": predictor.backend,
        "input_size": predictor.input_size,
        "flip_average": flip_average,
    }
    return evaluate_predictions(dataset, p_female, threshold, context, ages)


def _percent(value: float | None, width: int = 0) -> str:
    return f"{'n/a' if value is None else format(value, '.2%')}".rjust(width)


def format_report(report: dict) -> str:
    """A plain-text summary of a report's JSON form (:meth:`EvaluationReport.to_dict`), each group with
    its 95 % interval; works as well on a report read back from disk."""
    low, high = report["accuracy_ci95"]
    adult = report["groups"]["adult"][f"{report['adult_min_age']}+"]
    auc = "n/a" if report["roc_auc"] is None else f"{report['roc_auc']:.4f}"
    gaps = ", ".join(
        f"{title} {_points(report.get(key))}"
        for key, title in (
            ("race_gap", "raw"),
            ("race_gap_age_standardised", "age-standardised"),
            ("race_gap_adults", "adults only"),
        )
    )
    lines = [
        f"accuracy {_percent(report['accuracy'])} on {report['n']} {report.get('split', '')} images "
        f"(95% CI {low:.2%}-{high:.2%})",
        f"precision {report['precision']:.4f}  recall {report['recall']:.4f}  F1 {report['f1']:.4f}  "
        f"ROC-AUC {auc}  (positive class: {report['positive_class']})",
        f"confusion matrix (rows true, columns predicted; male, female): {report['confusion_matrix']}",
        f"adults ({report['adult_min_age']}+): {_percent(adult['accuracy'])} on {adult['n']} images",
        f"race gap (best - worst): {gaps}",
    ]
    if report.get("has_age"):
        stages = report["age_mae_per_life_stage"]
        lines += [
            f"age MAE {report['age_mae']:.2f} years (bias {report['age_bias']:+.2f}); "
            + ", ".join(f"{name} {_years(value)}" for name, value in stages.items()),
            f"age group right {_percent(report['age_group_accuracy'])} (fine groups), "
            f"{_percent(report['age_life_stage_accuracy'])} (young / adult / senior)",
        ]
    titles = {"race": "race", "age_group": "age group", "life_stage": "life stage", "gender": "gender"}
    for kind, title in titles.items():
        lines.append(f"{title}:" + ("  gender accuracy, age MAE" if report.get("has_age") else ""))
        mae = report.get(f"age_mae_per_{kind}", {})
        for name, g in report["groups"][kind].items():
            ci_low, ci_high = g["ci95"]
            interval = f"95% CI {ci_low:.2%}-{ci_high:.2%}" if g["n"] else ""
            age = f"  age MAE {_years(mae.get(name))}" if report.get("has_age") else ""
            lines.append(f"  {name:<8} {_percent(g['accuracy'], 7)}  n={g['n']:<5} {interval}{age}".rstrip())
    return "\n".join(lines)


def _points(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f} points"


def _years(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} y"


def write_report(report: EvaluationReport, json_path: str | Path, plots: bool = True) -> list[Path]:
    """Write the JSON report and, with ``plots``, its confusion-matrix and per-group PNGs beside it."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    written = [json_path]
    if plots:
        stem = json_path.with_suffix("")
        written.append(plot_confusion(report, f"{stem}_confusion.png"))
        written.append(plot_groups(report, f"{stem}_groups.png"))
        if report.age is not None:
            written.append(plot_ages(report.age, f"{stem}_age.png"))
    return written


def plot_confusion(report: EvaluationReport, path: str | Path) -> Path:
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
