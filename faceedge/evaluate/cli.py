"""`faceedge evaluate`: measure a model on a UTKFace split (`faceedge report`, which shows what a training
run measured, is the train stage's)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


class SplitName(str, Enum):
    train = "train"
    val = "val"
    test = "test"


def evaluate(
    model: Annotated[
        Path,
        typer.Argument(
            help="A model file: .keras, or an exported .onnx or .engine with its manifest.",
            show_default=False,
        ),
    ],
    data: Annotated[
        Path,
        typer.Option(
            help="The UTKFace archive or its extracted folder.", envvar="FACEEDGE_UTKFACE", show_default=False
        ),
    ],
    split_file: Annotated[
        Path | None,
        typer.Option(
            help="Split CSV [default: split.csv beside the model, else the default split]", show_default=False
        ),
    ] = None,
    split: Annotated[SplitName, typer.Option(help="Which split to evaluate on.")] = SplitName.test,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json", help="Write the report as JSON here, with its PNG plots beside it.", show_default=False
        ),
    ] = None,
    flip_average: Annotated[
        bool, typer.Option(help="Average each prediction with its mirror image's.")
    ] = False,
) -> None:
    """Accuracy, precision, recall, F1, ROC-AUC and per-group accuracy of a model on a UTKFace split."""
    from faceedge.errors import require
    from faceedge.evaluate.report import evaluate_model, write_report
    from faceedge.evaluate.text import format_report
    from faceedge.paths import check_output_file

    if json_path is not None:  # refused now, not after the whole evaluation
        # The plots beside the JSON land in the same folder, which this check covers.
        check_output_file(json_path, "evaluation report")
        require("matplotlib", "train")
    result = evaluate_model(model, data, split_file, split.value, flip_average)
    typer.echo(format_report(result))
    if json_path is not None:
        for path in write_report(result, json_path):
            typer.echo(f"wrote {path}")
