"""The layout of a training run directory, the records the trainer writes in it, and reading one back
without TensorFlow.

The trainer writes these files; `faceedge report` and later stages read them (the export stage reads
the training record, :class:`faceedge.manifest.TrainingRecord`, through the manifest module alone).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import platform
from dataclasses import replace
from pathlib import Path

import numpy as np

from faceedge.data.labels import GENDERS
from faceedge.data.split import SPLIT_FILE_NAME
from faceedge.errors import ModelError, RunDirectoryError
from faceedge.evaluate.text import format_report
from faceedge.manifest import TRAINING_FILE, TrainingRecord, read_training_record
from faceedge.train.architectures import AGE_OUTPUT, GENDER_OUTPUT
from faceedge.train.config import TrainConfig

MODEL_FILE = "model.keras"  # the best epoch by validation accuracy, without optimizer state
CONFIG_FILE = "config.json"  # the exact TrainConfig
# TRAINING_FILE, "training.json": what happened (epochs, times, size, parameters, machine) as a
# versioned TrainingRecord; its name is the manifest module's, since the export stage reads it.
SUMMARY_FILE = "summary.txt"  # Keras' layer-by-layer summary
# One row per epoch: loss, accuracy, AUC, learning rate, seconds; for a two-head model the gender
# columns are named p_female_accuracy, ... and the age head's age_loss and age_mae, and with weight
# averaging val_raw_accuracy is the weights as trained (history_key names them).
HISTORY_FILE = "history.csv"
SPLIT_FILE = SPLIT_FILE_NAME  # the train / val / test assignment of every file
CURVES_FILE = "learning_curves.png"
EVALUATION_FILE = "evaluation.json"  # the test-split report, with its confusion and group PNGs
CHECKPOINT_DIR = "checkpoints"  # best.keras and last.keras, with optimizer state
TENSORBOARD_DIR = "tensorboard"

log = logging.getLogger(__name__)


def check_run_dir(config: TrainConfig, resume: bool) -> tuple[TrainConfig, int]:
    """Check the run directory (writing nothing); returns the config to use and the next epoch.

    Raises:
        RunDirectoryError: ``out`` already holds a run (without ``resume``) or cannot be resumed.
    """
    run = Path(config.out)
    if resume:
        try:
            saved = TrainConfig.from_dict(json.loads((run / CONFIG_FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise RunDirectoryError(f"cannot resume {run}: no readable {CONFIG_FILE} ({exc})") from exc
        if not (run / CHECKPOINT_DIR / "last.keras").is_file():
            raise RunDirectoryError(f"cannot resume {run}: it has no checkpoints/last.keras")
        done = read_history(run)
        log.info("resuming %s after epoch %d with its saved configuration", run, len(done))
        return replace(saved, out=str(run)), len(done)
    if run.exists() and any(run.iterdir()):
        raise RunDirectoryError(f"{run} already holds a run: pass --resume to continue it, or another --out")
    return config, 0


def read_history(run: Path) -> list[dict]:
    """The rows of the run's history file, one per completed epoch (none before the first)."""
    path = Path(run) / HISTORY_FILE
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def history_key(metric: str, age_head: bool) -> str:
    """The column of ``history.csv`` that holds a gender metric (``accuracy``, ``val_accuracy``, ...):
    Keras prefixes the metrics of a two-head model with the output's name."""
    if not age_head or metric in ("loss", "val_loss"):
        return metric
    if metric.startswith("val_"):
        return f"val_{GENDER_OUTPUT}_{metric[4:]}"
    return f"{GENDER_OUTPUT}_{metric}"


def training_record(
    config: TrainConfig,
    history: list[dict],
    model,
    model_path: Path,
    fit_seconds: float,
    precision: str,
    gpus: list[str],
    replicas: int,
    flops: int,
    images: dict[str, int],
) -> TrainingRecord:
    """What a finished run did: the saved float32 ``model`` (a Keras model) at ``model_path``, its
    history, the time ``fit`` took in this session and the hardware it ran on."""
    # Imported here: the versions are recorded where Keras already runs, and reading a run never needs them.
    import cv2
    import keras
    import tensorflow as tf

    seconds = [float(row["seconds"]) for row in history if row.get("seconds") not in (None, "", "NA")]
    val = [float(row[history_key("val_accuracy", config.age_head)]) for row in history]
    best_epoch = int(np.argmax(val)) + 1 if val else None
    raw = [float(row["val_raw_accuracy"]) for row in history if row.get("val_raw_accuracy")]
    return TrainingRecord(
        arch=config.arch,
        img_size=config.size,
        labels=tuple(GENDERS),
        output=GENDER_OUTPUT,
        outputs={GENDER_OUTPUT: "P(female), 0-1"} | ({AGE_OUTPUT: "age in years"} if config.age_head else {}),
        input={
            "name": model.inputs[0].name,
            "shape": [None, config.size, config.size, 3],
            "layout": "NHWC",
            "dtype": "float32",
            "color": "RGB",
            "range": [0, 255],
            "crop": "the whole UTKFace aligned and cropped chip (200x200)",
            "resize": "OpenCV INTER_AREA (faceedge.imaging.chip_to_input)",
        },
        parameters=int(model.count_params()),
        model_bytes=model_path.stat().st_size,
        flops_per_image=flops,
        epochs_run=len(history),
        best_epoch=best_epoch,
        best_val_accuracy=max(val) if val else None,
        epoch_seconds_median=float(np.median(seconds)) if seconds else None,
        epoch_seconds=tuple(seconds),
        fit_seconds_this_session=fit_seconds,
        images=images,
        precision_policy=precision,
        replicas=replicas,
        gpus=tuple(gpus),
        machine={
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        versions={
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "opencv": cv2.__version__,
        },
        best_val_age_mae=(
            float(history[best_epoch - 1]["val_age_mae"]) if config.age_head and best_epoch else None
        ),
        best_val_raw_accuracy=max(raw) if raw else None,
    )


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


def read_json(run: Path, name: str) -> dict:
    """One JSON file of a run.

    Raises:
        RunDirectoryError: the file is missing or not JSON.
    """
    path = Path(run) / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RunDirectoryError(f"{run} is not a complete training run: no {name}") from exc
    except ValueError as exc:
        raise RunDirectoryError(f"{path} is not valid JSON: {exc}") from exc


def _val_age(training: TrainingRecord) -> str:
    mae = training.best_val_age_mae
    return "" if mae is None else f", age MAE {mae:.2f} years"


def format_run(run: str | Path) -> str:
    """The summary of a trained model and its evaluation report, as recorded in its run directory.

    Raises:
        RunDirectoryError: the directory lacks a file the summary needs, or one is unreadable.
    """
    run = Path(run)
    config = read_json(run, CONFIG_FILE)
    if not (run / TRAINING_FILE).is_file():
        raise RunDirectoryError(f"{run} is not a complete training run: no {TRAINING_FILE}")
    try:
        training = read_training_record(run / TRAINING_FILE)
    except ModelError as exc:  # a broken run directory, as a broken config.json is
        raise RunDirectoryError(str(exc)) from exc
    evaluation = read_json(run, EVALUATION_FILE)
    size, images = training.img_size, training.images
    split = config["split_file"] or f"seed {config['split_seed']}"
    hardware = ", ".join(training.gpus) or f"{training.machine['cpu_count']} CPU cores, no GPU"
    lines = [
        f"faceedge {'gender and age' if AGE_OUTPUT in training.outputs else 'gender'} model in {run}",
        f"  architecture  {training.arch}: input {size}x{size} RGB, {training.parameters:,} parameters,"
        f" {training.flops_per_image / 1e6:.0f} MFLOPs per image,"
        f" {training.model_bytes / 1e6:.1f} MB ({MODEL_FILE})",
        f"  training      {training.epochs_run} epochs, best epoch {training.best_epoch}"
        f" (val accuracy {training.best_val_accuracy:.2%}{_val_age(training)}),"
        f" {training.epoch_seconds_median:.0f} s per epoch (median) on {hardware},"
        f" {training.precision_policy}",
        f"  data          UTKFace: {images['train']} train, {images['val']} val,"
        f" {images['test']} test images; split: {split}",
        f"  recipe        batch {config['batch_size']}, AdamW peak lr {config['learning_rate']} (cosine),"
        f" weight decay {config['weight_decay']}, label smoothing {config['label_smoothing']},"
        f" seed {config['seed']}",
        f"  software      TensorFlow {training.versions['tensorflow']}, Keras {training.versions['keras']},"
        f" Python {training.versions['python']}",
        "",
    ]
    summary = run / SUMMARY_FILE
    if summary.is_file():
        lines += [summary.read_text(encoding="utf-8").rstrip(), ""]
    lines += [f"Evaluation ({EVALUATION_FILE}):", format_report(evaluation)]
    return "\n".join(lines)
