"""The evaluation report: overall metrics, accuracy per race, age group and gender, the race gap
three ways and the age head's errors for a two-head model; its plain text is :mod:`faceedge.evaluate.text`,
its pictures :mod:`faceedge.evaluate.plots`.

:func:`evaluate_predictions` works on probabilities, ages and labels only, so it serves every backend;
:func:`evaluate_model` adds reading the data, the split and running a :class:`GenderClassifier`.

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

from faceedge.ages import ADULT_MIN_AGE, AGE_GROUPS, LIFE_STAGES
from faceedge.data.labels import GENDERS, RACES
from faceedge.data.split import resolve_split
from faceedge.data.utkface import UtkFace, load_utkface
from faceedge.evaluate.ages import AgeReport, evaluate_ages
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
from faceedge.evaluate.plots import plot_ages, plot_confusion, plot_groups
from faceedge.evaluate.predictors import open_classifier, predict_heads_with_flip
from faceedge.imaging import decode_chips
from faceedge.runtime.classifier import GenderClassifier

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
    predictor = open_classifier(model)
    dataset = load_utkface(data)
    chosen, split_source = resolve_split(model, dataset, split_file)
    context = {"model": str(model), "data": str(data), "split": split, "split_file": split_source}
    return evaluate_predictor(predictor, chosen.apply(dataset, split), flip_average, threshold, context)


def evaluate_predictor(
    predictor: GenderClassifier,
    dataset: UtkFace,
    flip_average: bool = False,
    threshold: float = 0.5,
    context: dict | None = None,
) -> EvaluationReport:
    """Decode the chips of ``dataset`` for ``predictor``, run it and score its predictions."""
    chips = decode_chips([s.data for s in dataset.samples], predictor.input_size)
    started = time.perf_counter()
    heads = predict_heads_with_flip if flip_average else GenderClassifier.predict_heads
    p_female, ages = heads(predictor, chips)
    log.info(
        "%s predicted %d images in %.1f s",
        predictor.backend.name,
        len(dataset),
        time.perf_counter() - started,
    )
    context = {
        **(context or {}),
        "backend": predictor.backend.name,
        "input_size": predictor.input_size,
        "flip_average": flip_average,
    }
    return evaluate_predictions(dataset, p_female, threshold, context, ages)


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
