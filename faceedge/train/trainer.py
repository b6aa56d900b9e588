"""`faceedge train`: from UTKFace to a trained, evaluated model in a run directory: model v2 (gender
and age from one network) by default, or a gender-only model.

The run directory's files are listed in :mod:`faceedge.train.rundir`: the model, its exact
configuration, split, history, learning curves, evaluation and checkpoints for ``--resume``.

On a machine with GPUs the same command trains with mixed precision on all of them.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from faceedge.data.split import Split, read_split, resolve_split, write_split
from faceedge.data.utkface import UtkFace, load_utkface
from faceedge.errors import RunDirectoryError
from faceedge.evaluate.predictors import open_classifier
from faceedge.evaluate.report import EvaluationReport, evaluate_predictor, write_report
from faceedge.manifest import TrainingRecord, write_training_record
from faceedge.train import rundir
from faceedge.train.architectures import build_model
from faceedge.train.config import TrainConfig
from faceedge.train.distill import check_teachers, distillation_targets
from faceedge.train.fit import compile_model, epoch_callbacks, strategy_and_precision
from faceedge.train.flops import count_flops
from faceedge.train.pipeline import chip_dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """A finished run: its directory, the shipped model, its test-split report and its training record."""

    run_dir: Path
    evaluation: EvaluationReport
    training: TrainingRecord

    @property
    def model_path(self) -> Path:
        return self.run_dir / rundir.MODEL_FILE


def _datasets(config: TrainConfig, resume: bool) -> tuple[Split, UtkFace, UtkFace, UtkFace]:
    """The split and its train, validation and test sets; a resumed run keeps the split it started with."""
    dataset = load_utkface(config.data, limit=config.limit, seed=config.seed)
    own_split = Path(config.out) / rundir.SPLIT_FILE
    if resume and own_split.is_file():
        split = read_split(own_split)
    else:
        # A run started from a trained model keeps that model's split: with a new one it would
        # train on the model's test images.
        model = Path(config.init_from) if config.init_from else None
        split, source = resolve_split(model, dataset, config.split_file, config.split_seed)
        log.info("using %s", source)
    parts = [split.apply(dataset, name) for name in ("train", "val", "test")]
    log.info("split: %s", ", ".join(f"{name} {len(p)}" for name, p in zip(("train", "val", "test"), parts)))
    return split, parts[0], parts[1], parts[2]


def train(config: TrainConfig, resume: bool = False, progress: bool | None = None) -> TrainResult:
    """Train, keep the best epoch by validation accuracy, evaluate it on the test split, write the run.

    Args:
        config: what to train; with ``resume`` only its ``out`` is used and the run's saved
            configuration is continued from its last completed epoch.
        progress: Keras' progress bar (True), one line per epoch (False), or the bar only when
            stderr is a terminal (None).

    Raises:
        RunDirectoryError: ``out`` already holds a run (without ``resume``) or cannot be resumed.
        DatasetError, SplitError: the data or the split file cannot be used.
    """
    # Checked before the run directory exists, so that a wrong --init-from leaves nothing behind.
    initial_weights = None
    if config.init_from and not resume:
        initial_weights = _trained_weights(config.init_from, config.arch, config.size, config.age_head)
    check_teachers(config.teachers, config.distillation)
    config, initial_epoch = rundir.check_run_dir(config, resume)
    run = Path(config.out)
    keras.utils.set_random_seed(config.seed)
    split, train_set, val_set, test_set = _datasets(config, resume)
    targets = None
    if config.teachers:
        targets = distillation_targets(config.teachers, config.distillation, train_set, split)
    # Written only now, so that a run refused above (bad data, split or teacher) leaves nothing.
    (run / rundir.CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
    write_split(split, run / rundir.SPLIT_FILE)
    (run / rundir.CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")

    strategy, precision, gpus = strategy_and_precision()
    size = config.size
    train_data = chip_dataset(
        train_set.samples,
        size,
        config.batch_size,
        True,
        config.augmentation,
        config.seed,
        targets,
        age=config.age_head,
    )
    val_data = chip_dataset(val_set.samples, size, 256, False, age=config.age_head)
    steps_per_epoch = len(train_set) // config.batch_size
    if steps_per_epoch == 0:
        raise RunDirectoryError(
            f"{len(train_set)} training images make no full batch of {config.batch_size}: lower --batch-size"
        )

    history = rundir.read_history(run)
    with strategy.scope():
        if initial_epoch:
            model = keras.models.load_model(run / rundir.CHECKPOINT_DIR / "last.keras")
        else:
            model = build_model(config.arch, size, config.age_head)
            if initial_weights is not None:
                model.set_weights(initial_weights)
                log.info("starting from the weights of %s", config.init_from)
            compile_model(model, config, steps_per_epoch)
    started = time.perf_counter()
    model.fit(
        train_data,
        validation_data=val_data,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        callbacks=epoch_callbacks(run, config, history, val_set),
        verbose=1 if (sys.stderr.isatty() if progress is None else progress) else 2,
        shuffle=False,  # the dataset reshuffles itself every epoch
    )
    fit_seconds = time.perf_counter() - started

    model_path = run / rundir.MODEL_FILE
    best = _save_float32(run / rundir.CHECKPOINT_DIR / "best.keras", config, model_path)
    (run / rundir.SUMMARY_FILE).write_text(_summary(best), encoding="utf-8")

    history = rundir.read_history(run)
    rundir.plot_learning_curves(history, run / rundir.CURVES_FILE)
    training = rundir.training_record(
        config,
        history,
        best,
        model_path,
        fit_seconds,
        precision,
        gpus,
        strategy.num_replicas_in_sync,
        count_flops(best),
        {"train": len(train_set), "val": len(val_set), "test": len(test_set)},
    )
    write_training_record(training, run / rundir.TRAINING_FILE)

    context = {
        "model": rundir.MODEL_FILE,
        "data": config.data,
        "split": "test",
        "split_file": rundir.SPLIT_FILE,
    }
    evaluation = evaluate_predictor(open_classifier(model_path), test_set, context=context)
    write_report(evaluation, run / rundir.EVALUATION_FILE)
    return TrainResult(run, evaluation, training)


def _trained_weights(path: str | Path, arch: str, size: int, age_head: bool) -> list[np.ndarray]:
    """The weights of the saved model at ``path``, which must be an ``arch`` model for ``size`` px
    with the same heads."""
    if not Path(path).is_file():
        raise RunDirectoryError(f"cannot load the weights of {path}: no such file")
    try:
        source = keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise RunDirectoryError(f"cannot load the weights of {path}: {exc}") from exc
    if source.name != arch or source.input_shape[1] != size:
        raise RunDirectoryError(
            f"{path} is a {source.name} model for {source.input_shape[1]} px images, not {arch} at "
            f"{size} px: give the --arch and --img-size it was trained with"
        )
    if len(source.outputs) != (2 if age_head else 1):
        heads = "gender and age" if len(source.outputs) == 2 else "gender only"
        raise RunDirectoryError(
            f"{path} has other heads ({heads}): give --age-head or --no-age-head as it has"
        )
    return source.get_weights()


def _save_float32(checkpoint: Path, config: TrainConfig, path: Path) -> keras.Model:
    """Save the checkpoint's weights in a freshly built float32 model, without optimizer state.

    A model trained under mixed precision keeps float16 layer policies in its file; rebuilding it
    in float32 makes the shipped model the same whatever hardware trained it.
    """
    keras.mixed_precision.set_global_policy("float32")
    model = build_model(config.arch, config.size, config.age_head)
    model.set_weights(_trained_weights(checkpoint, config.arch, config.size, config.age_head))
    model.save(path)
    return model


def _summary(model) -> str:
    buffer = io.StringIO()
    model.summary(line_length=120, print_fn=lambda line, **_: buffer.write(line + "\n"))
    return buffer.getvalue()
