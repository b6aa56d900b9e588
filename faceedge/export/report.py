"""The export report: one row per artifact, the Keras model it came from first."""

from __future__ import annotations

from collections.abc import Sequence


def format_export(artifacts: Sequence) -> str:
    """A table of the written artifacts: size, test accuracy (with Keras'), parity, Transposes, and
    for a two-head model the age MAE (with Keras') and the age's parity."""
    if not artifacts:
        return "nothing exported"
    first = artifacts[0].manifest.accuracy
    ages = "age_mae" in first
    header = (
        f"test split: {first['n']} images ({first['split_file']}); Keras accuracy "
        f"{100 * first['keras_accuracy']:.2f} %"
    )
    if ages:
        header += f", age MAE {first['keras_age_mae']:.2f} years"
    lines = [
        header,
        f"{'artifact':<24} {'precision':<9} {'size':>9} {'accuracy':>9} {'max |Δ| Keras':>14} "
        f"{'decisions ≠':>12} {'Transposes':>10}" + (f" {'age MAE':>9} {'max |Δ age|':>11}" if ages else ""),
    ]
    for artifact in artifacts:
        acc = artifact.manifest.accuracy
        line = (
            f"{artifact.path.name:<24} {artifact.manifest.precision:<9} "
            f"{artifact.size_bytes / 2**20:>7.2f} MiB {100 * acc['accuracy']:>8.2f} % "
            f"{acc['max_abs_diff_vs_keras']:>14.2e} {100 * acc['decision_disagreement_vs_keras']:>10.2f} % "
            f"{artifact.manifest.extra.get('transposes', '-'):>10}"
        )
        if ages:
            line += f" {acc['age_mae']:>9.3f} {acc['max_age_diff_vs_keras']:>11.2e}"
        lines.append(line)
    for artifact in artifacts:
        for check in artifact.checks:
            lines.append(f"gate {artifact.path.name}: {check.describe()}")
    lines.append("written to " + str(artifacts[0].path.parent))
    return "\n".join(lines)
