"""The plain-text evaluation report that `faceedge evaluate`, `faceedge train` and `faceedge report` print.

It reads the report's JSON form (:meth:`~faceedge.evaluate.report.EvaluationReport.to_dict`), since
`faceedge report` shows a run's ``evaluation.json`` read back from disk, and that form cannot become an
:class:`~faceedge.evaluate.report.EvaluationReport` again (it keeps no per-face ages and only the
accuracy of each race's adults). One formatter for both keeps the commands' text the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faceedge.evaluate.report import EvaluationReport


def _percent(value: float | None, width: int = 0) -> str:
    return f"{'n/a' if value is None else format(value, '.2%')}".rjust(width)


def format_report(report: EvaluationReport | dict) -> str:
    """A plain-text summary of a report or its JSON form (:meth:`EvaluationReport.to_dict`), each group
    with its 95 % interval; works as well on a report read back from disk."""
    if not isinstance(report, dict):
        report = report.to_dict()
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
