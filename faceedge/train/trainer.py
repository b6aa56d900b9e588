"""`faceedge train`: from UTKFace to a trained, evaluated model in a run directory: model v2 (gender
and age from one network) by default, or a gender-only model.

The run directory's files are listed in :mod:`faceedge.train.rundir`: the model, its exact
configuration, split, history, learning curves, evaluation and checkpoints for ``--resume``.

On a machine with GPUs the same command trains with mixed precision on all of them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf

from faceedge.data.labels import GENDERS
from faceedge.data.split import Split, read_split, write_split
from faceedge.data.utkface import UtkFace, load_utkface
from faceedge.errors import RunDirectoryError
from faceedge.evaluate.predictors import KerasPredictor
from faceedge.evaluate.report import EvaluationReport, evaluate_predictor, resolve_split, write_report
from faceedge.train.architectures import AGE_OUTPUT, GENDER_OUTPUT, build_model
from faceedge.train.config import TrainConfig
from faceedge.train.distill import check_teachers, distillation_targets
from faceedge.train.fit import compile_model, epoch_callbacks, history_key
from faceedge.train.flops import count_flops
from faceedge.train.pipeline import chip_dataset
from faceedge.train.rundir import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    CURVES_FILE,
    EVALUATION_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    SPLIT_FILE,
    SUMMARY_FILE,
    TRAINING_FILE,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    model_path: Path
    evaluation: EvaluationReport
    training: dict


def _check_run_dir(config: TrainConfig, resume: bool) -> tuple[TrainConfig, int]:
    """Check the run directory (writing nothing); returns the config to use and the next epoch."""
    run = Path(config.out)
    if resume:
        try:
            saved = TrainConfig.from_dict(json.loads((run / CONFIG_FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise RunDirectoryError(f"cannot resume {run}: no readable {CONFIG_FILE} ({exc})") from exc
        if not (run / CHECKPOINT_DIR / "last.keras").is_file():
            raise RunDirectoryError(f"cannot resume {run}: it has no checkpoints/last.keras")
        done = _read_history(run / HISTORY_FILE)
        log.info("resuming %s after epoch %d with its saved configuration", run, len(done))
        return replace(saved, out=str(run)), len(done)
    if run.exists() and any(run.iterdir()):
        raise RunDirectoryError(f"{run} already holds a run: pass --resume to continue it, or another --out")
    return config, 0


def _read_history(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _datasets(config: TrainConfig, resume: bool) -> tuple[Split, UtkFace, UtkFace, UtkFace]:
    """The split and its train, validation and test sets; a resumed run keeps the split it started with."""
    dataset = load_utkface(config.data, limit=config.limit, seed=config.seed)
    own_split = Path(config.out) / SPLIT_FILE
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


def _strategy_and_precision():
    """All local GPUs with mixed precision when there are any; the plain CPU otherwise."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
        strategy = tf.distribute.MirroredStrategy()
        log.info("training on %d GPU(s) with mixed precision", strategy.num_replicas_in_sync)
    else:
        keras.mixed_precision.set_global_policy("float32")
        strategy = tf.distribute.get_strategy()
        log.info("no GPU found: training on the CPU in float32")
    return strategy, keras.mixed_precision.global_policy().name, [g.name for g in gpus]


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
    config, initial_epoch = _check_run_dir(config, resume)
    run = Path(config.out)
    keras.utils.set_random_seed(config.seed)
    split, train_set, val_set, test_set = _datasets(config, resume)
    targets = None
    if config.teachers:
        targets = distillation_targets(config.teachers, config.distillation, train_set, split)
    # Written only now, so that a run refused above (bad data, split or teacher) leaves nothing.
    (run / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
    write_split(split, run / SPLIT_FILE)
    (run / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")

    strategy, precision, gpus = _strategy_and_precision()
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

    history = _read_history(run / HISTORY_FILE)
    with strategy.scope():
        if initial_epoch:
            model = keras.models.load_model(run / CHECKPOINT_DIR / "last.keras")
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

    model_path = run / MODEL_FILE
    best = _save_float32(run / CHECKPOINT_DIR / "best.keras", config, model_path)
    (run / SUMMARY_FILE).write_text(_summary(best), encoding="utf-8")

    history = _read_history(run / HISTORY_FILE)
    plot_learning_curves(history, run / CURVES_FILE)
    training = _training_record(
        config,
        history,
        best,
        model_path,
        fit_seconds,
        precision,
        gpus,
        strategy,
        count_flops(best),
        len(train_set),
        len(val_set),
        len(test_set),
    )
    (run / TRAINING_FILE).write_text(json.dumps(training, indent=2) + "\n", encoding="utf-8")

    context = {"model": MODEL_FILE, "data": config.data, "split": "test", "split_file": SPLIT_FILE}
    evaluation = evaluate_predictor(KerasPredictor(model_path), test_set, context=context)
    write_report(evaluation, run / EVALUATION_FILE)
    return TrainResult(run, model_path, evaluation, training)


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


def _training_record(
    config, history, model, model_path, fit_seconds, precision, gpus, strategy, flops, n_train, n_val, n_test
) -> dict:
    seconds = [float(row["seconds"]) for row in history if row.get("seconds") not in (None, "", "NA")]
    val = [float(row[history_key("val_accuracy", config.age_head)]) for row in history]
    best_epoch = int(np.argmax(val)) + 1 if val else None
    record = {
        "arch": config.arch,
        "img_size": config.size,
        "labels": list(GENDERS),
        "output": GENDER_OUTPUT,
        "outputs": {GENDER_OUTPUT: "P(female), 0-1"}
        | ({AGE_OUTPUT: "age in years"} if config.age_head else {}),
        "input": {
            "name": model.inputs[0].name,
            "shape": [None, config.size, config.size, 3],
            "layout": "NHWC",
            "dtype": "float32",
            "color": "RGB",
            "range": [0, 255],
            "crop": "the whole UTKFace aligned and cropped chip (200x200)",
            "resize": "OpenCV INTER_AREA (faceedge.data.images.chip_to_input)",
        },
        "parameters": int(model.count_params()),
        "model_bytes": model_path.stat().st_size,
        "flops_per_image": flops,
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "best_val_accuracy": max(val) if val else None,
        "epoch_seconds_median": float(np.median(seconds)) if seconds else None,
        "epoch_seconds": seconds,
        "fit_seconds_this_session": fit_seconds,
        "images": {"train": n_train, "val": n_val, "test": n_test},
        "precision_policy": precision,
        "replicas": strategy.num_replicas_in_sync,
        "gpus": gpus,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "opencv": cv2.__version__,
        },
    }
    if config.age_head and history:
        at_best = history[best_epoch - 1]
        record["best_val_age_mae"] = float(at_best["val_age_mae"])
    if config.ema_momentum is not None and history:
        raw = [float(row["val_raw_accuracy"]) for row in history if row.get("val_raw_accuracy")]
        record["best_val_raw_accuracy"] = max(raw) if raw else None
    return record


def plot_learning_curves(history: list[dict], path: str | Path) -> Path:
    """Loss, accuracy and learning rate per epoch, training against validation."""
    from faceedge.plotting import pyplot

    plt = pyplot()
    epochs = [int(row["epoch"]) + 1 for row in history]
    age_head = bool(history) and "val_age_mae" in history[0]
    panels = [("loss", "Loss (all heads)"), ("accuracy", "Gender accuracy")]
    if age_head:
        panels.append(("age_mae", "Age MAE (years)"))
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(5 * (len(panels) + 1), 4.2))
    for ax, (metric, title) in zip(axes, panels):
        key = metric if metric == "age_mae" else history_key(metric, age_head)
        ax.plot(epochs, [float(r[key]) for r in history], label="train (augmented)")
        ax.plot(epochs, [float(r[f"val_{key}"]) for r in history], label="validation")
        if metric == "accuracy" and history and history[0].get("val_raw_accuracy"):
            ax.plot(epochs, [float(r["val_raw_accuracy"]) for r in history], label="validation, raw weights")
        ax.set(title=title, xlabel="epoch")
        ax.legend()
    axes[-1].plot(epochs, [float(r.get("learning_rate", "nan")) for r in history])
    axes[-1].set(title="Learning rate (at the end of each epoch)", xlabel="epoch")
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
