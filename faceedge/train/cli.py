"""`faceedge train` and `faceedge report`: the command-line skin of :func:`faceedge.train.trainer.train`,
and what a training run directory records (:func:`faceedge.train.rundir.format_run`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from faceedge.train.architectures import ArchName
from faceedge.train.config import TrainConfig

_DEFAULT = TrainConfig(data="", out="")
_DEFAULT_ARCH = ArchName(_DEFAULT.arch)


def train(
    data: Annotated[
        Path | None,
        typer.Option(
            help="The UTKFace archive or its extracted folder (not needed with --resume).",
            envvar="FACEEDGE_UTKFACE",
            show_default=False,
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="The run directory to create.")] = Path("runs/gender"),
    arch: Annotated[ArchName, typer.Option(help="Model architecture.")] = _DEFAULT_ARCH,
    img_size: Annotated[
        int | None,
        typer.Option(help="Input side in pixels [default: the architecture's own]", show_default=False),
    ] = None,
    epochs: Annotated[int, typer.Option(min=1)] = _DEFAULT.epochs,
    batch_size: Annotated[int, typer.Option(min=1, help="Global batch size.")] = _DEFAULT.batch_size,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate (cosine schedule).")] = (
        _DEFAULT.learning_rate
    ),
    patience: Annotated[
        int, typer.Option(min=1, help="Early-stopping patience in epochs.")
    ] = _DEFAULT.patience,
    seed: Annotated[int, typer.Option(help="Seed of weights, shuffling and augmentation.")] = _DEFAULT.seed,
    split_file: Annotated[
        Path | None, typer.Option(help="Use this split CSV instead of making one.", show_default=False)
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=10, help="Train on a random subset of this many images.", show_default=False),
    ] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Start from the weights of this trained .keras model (same --arch and --img-size) with a "
            "new learning-rate schedule; its run's split.csv is reused unless --split-file is given.",
            show_default=False,
        ),
    ] = None,
    teacher: Annotated[
        list[Path] | None,
        typer.Option(
            help="Distil from this trained .keras model (repeat for several): the training targets blend "
            "the labels with its mirror-averaged predictions. It must have trained on the same split.",
            metavar="MODEL",
            show_default=False,
        ),
    ] = None,
    distillation: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Weight of the teachers in the training targets.")
    ] = _DEFAULT.distillation,
    age_head: Annotated[
        bool,
        typer.Option(help="Train one network for gender and age (model v2); --no-age-head: gender only."),
    ] = _DEFAULT.age_head,
    age_loss_weight: Annotated[
        float, typer.Option(min=0.0, help="Weight of the age head's L1 loss in years.")
    ] = _DEFAULT.age_loss_weight,
    ema: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=0.9999,  # 1 would keep the weights of the first step forever
            help="Momentum of the moving average of the weights that is validated and shipped; 0: off.",
        ),
    ] = _DEFAULT.ema_momentum,
    erase: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Chance that a training chip has one rectangle replaced by noise; 0: off."
        ),
    ] = _DEFAULT.augmentation.erase_probability,
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out from its last epoch, with its own settings.")
    ] = False,
) -> None:
    """Train a gender classifier on UTKFace and evaluate it on the test split."""
    from faceedge.errors import DatasetError, require
    from faceedge.evaluate.text import format_report
    from faceedge.paths import check_folder_writable

    if data is None and not resume:
        raise DatasetError("give the UTKFace data with --data (or FACEEDGE_UTKFACE)")
    check_folder_writable(out, "run directory")  # before the data is read and a model built
    # The trainer imports the training stack at once: a lean install (faceedge[cpu]) is told which
    # extra brings it instead of a ModuleNotFoundError.
    require("tensorflow", "train")
    require("keras", "train")
    from faceedge.train.trainer import train as run_training

    config = TrainConfig(
        data=str(data or ""),
        out=str(out),
        arch=arch.value,
        img_size=img_size,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        patience=patience,
        seed=seed,
        split_file=str(split_file) if split_file else None,
        limit=limit,
        init_from=str(init_from) if init_from else None,
        teachers=tuple(str(path) for path in teacher or ()),
        distillation=distillation,
        age_head=age_head,
        age_loss_weight=age_loss_weight,
        ema_momentum=ema or None,
        augmentation=replace(_DEFAULT.augmentation, erase_probability=erase),
    )
    result = run_training(config, resume=resume)
    typer.echo(format_report(result.evaluation))
    typer.echo(f"run directory: {result.run_dir}")


def report(
    run: Annotated[Path, typer.Argument(help="A training run directory.", show_default=False)],
) -> None:
    """Show a trained model's summary and its evaluation report, as recorded in its run directory."""
    from faceedge.train.rundir import format_run

    typer.echo(format_run(run))
