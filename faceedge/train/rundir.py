"""The layout of a training run directory, and reading one back without TensorFlow.

The trainer writes these files; `faceedge report` and later stages read them.
"""

from __future__ import annotations

import json
from pathlib import Path

from faceedge.data.split import SPLIT_FILE_NAME
from faceedge.errors import RunDirectoryError

MODEL_FILE = "model.keras"  # the best epoch by validation accuracy, without optimizer state
CONFIG_FILE = "config.json"  # the exact TrainConfig
TRAINING_FILE = "training.json"  # what happened: epochs, times, size, parameters, machine
SUMMARY_FILE = "summary.txt"  # Keras' layer-by-layer summary
# One row per epoch: loss, accuracy, AUC, learning rate, seconds; for a two-head model the gender
# columns are named p_female_accuracy, ... and the age head's age_loss and age_mae, and with weight
# averaging val_raw_accuracy is the weights as trained (trainer.history_key names them).
HISTORY_FILE = "history.csv"
SPLIT_FILE = SPLIT_FILE_NAME  # the train / val / test assignment of every file
CURVES_FILE = "learning_curves.png"
EVALUATION_FILE = "evaluation.json"  # the test-split report, with its confusion and group PNGs
CHECKPOINT_DIR = "checkpoints"  # best.keras and last.keras, with optimizer state
TENSORBOARD_DIR = "tensorboard"


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


def _val_age(training: dict) -> str:
    mae = training.get("best_val_age_mae")
    return "" if mae is None else f", age MAE {mae:.2f} years"


def format_run(run: str | Path) -> str:
    """The summary of a trained model and its evaluation report, as recorded in its run directory.

    Raises:
        RunDirectoryError: the directory lacks a file the summary needs.
    """
    from faceedge.evaluate.report import format_report

    run = Path(run)
    config = read_json(run, CONFIG_FILE)
    training = read_json(run, TRAINING_FILE)
    evaluation = read_json(run, EVALUATION_FILE)
    size, images = training["img_size"], training["images"]
    versions, machine = training["versions"], training["machine"]
    split = config["split_file"] or f"seed {config['split_seed']}"
    hardware = ", ".join(training["gpus"]) or f"{machine['cpu_count']} CPU cores, no GPU"
    lines = [
        f"faceedge {'gender and age' if 'age' in training.get('outputs', {}) else 'gender'} model in {run}",
        f"  architecture  {training['arch']}: input {size}x{size} RGB, {training['parameters']:,} parameters,"
        f" {training['flops_per_image'] / 1e6:.0f} MFLOPs per image,"
        f" {training['model_bytes'] / 1e6:.1f} MB ({MODEL_FILE})",
        f"  training      {training['epochs_run']} epochs, best epoch {training['best_epoch']}"
        f" (val accuracy {training['best_val_accuracy']:.2%}{_val_age(training)}),"
        f" {training['epoch_seconds_median']:.0f} s per epoch (median) on {hardware},"
        f" {training['precision_policy']}",
        f"  data          UTKFace: {images['train']} train, {images['val']} val,"
        f" {images['test']} test images; split: {split}",
        f"  recipe        batch {config['batch_size']}, AdamW peak lr {config['learning_rate']} (cosine),"
        f" weight decay {config['weight_decay']}, label smoothing {config['label_smoothing']},"
        f" seed {config['seed']}",
        f"  software      TensorFlow {versions['tensorflow']}, Keras {versions['keras']},"
        f" Python {versions['python']}",
        "",
    ]
    summary = run / SUMMARY_FILE
    if summary.is_file():
        lines += [summary.read_text(encoding="utf-8").rstrip(), ""]
    lines += [f"Evaluation ({EVALUATION_FILE}):", format_report(evaluation)]
    return "\n".join(lines)
