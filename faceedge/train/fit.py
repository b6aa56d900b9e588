"""How Keras fits a faceedge model: the devices and precision, the optimizer, the loss and metrics of
each head, and what happens at the end of each epoch (timing, the raw weights' accuracy, checkpoints,
history).

The metrics are registered with Keras, so that a checkpoint that names them loads wherever this
module has been imported (the trainer imports it).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from faceedge.data.utkface import UtkFace
from faceedge.imaging import decode_chips
from faceedge.train.architectures import AGE_OUTPUT, GENDER_OUTPUT
from faceedge.train.config import TrainConfig
from faceedge.train.rundir import CHECKPOINT_DIR, HISTORY_FILE, TENSORBOARD_DIR, history_key

log = logging.getLogger(__name__)


class EpochRecorder(keras.callbacks.Callback):
    """Adds ``seconds`` and ``learning_rate`` to each epoch's logs, so that CSVLogger writes them.

    Must come before CSVLogger in the callback list: callbacks share one logs dict, in order.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = time.perf_counter() - self.started
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


@keras.saving.register_keras_serializable(package="faceedge")
def decision_accuracy(y_true, y_pred):
    """Whether the decision (p > 0.5) matches the target's side of 0.5: right for 0/1 labels and
    for the soft targets of distillation alike (Keras' BinaryAccuracy compares targets to 0/1)."""
    agree = keras.ops.equal(keras.ops.greater(y_true, 0.5), keras.ops.greater(y_pred, 0.5))
    return keras.ops.mean(keras.ops.cast(agree, "float32"), axis=-1)


@keras.saving.register_keras_serializable(package="faceedge")
class DecisionAUC(keras.metrics.AUC):
    """ROC-AUC against the target's side of 0.5 (Keras' AUC misreads the soft targets of distillation)."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        hard = keras.ops.cast(keras.ops.greater(y_true, 0.5), "float32")
        return super().update_state(hard, y_pred, sample_weight)


def strategy_and_precision() -> tuple[tf.distribute.Strategy, str, list[str]]:
    """All local GPUs with mixed precision when there are any; the plain CPU otherwise.

    Returns the distribution strategy, the name of the precision policy and the GPUs' names.
    """
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


def compile_model(model, config: TrainConfig, steps_per_epoch: int) -> None:
    """AdamW with warm-up and cosine decay (and the weights' moving average), the loss and metrics of
    each head."""
    total = max(1, steps_per_epoch * config.epochs)
    warmup = min(steps_per_epoch, total // 2)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / 20,
        decay_steps=total - warmup,
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(
        schedule,
        weight_decay=config.weight_decay,
        use_ema=config.ema_momentum is not None,
        ema_momentum=config.ema_momentum or 0.99,
    )
    gender_loss = keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing)
    gender_metrics = [
        keras.metrics.MeanMetricWrapper(decision_accuracy, name="accuracy"),
        DecisionAUC(name="auc"),
    ]
    if not config.age_head:
        model.compile(optimizer=optimizer, loss=gender_loss, metrics=gender_metrics)
        return
    model.compile(
        optimizer=optimizer,
        loss={GENDER_OUTPUT: gender_loss, AGE_OUTPUT: keras.losses.MeanAbsoluteError()},
        loss_weights={GENDER_OUTPUT: 1.0, AGE_OUTPUT: config.age_loss_weight},
        metrics={GENDER_OUTPUT: gender_metrics, AGE_OUTPUT: [keras.metrics.MeanAbsoluteError(name="mae")]},
    )


class RawWeightsValidation(keras.callbacks.Callback):
    """With weight averaging, validation sees the averaged weights; this adds the gender accuracy of
    the weights as trained (``val_raw_accuracy``), so that what the averaging gives is measured.

    Must come before :class:`keras.callbacks.SwapEMAWeights` (which swaps the averages in at the
    end of an epoch) and before CSVLogger.
    """

    def __init__(self, images: np.ndarray, genders: np.ndarray, batch_size: int = 256) -> None:
        super().__init__()
        self.images, self.genders, self.batch_size = images, genders, batch_size

    def on_epoch_end(self, epoch, logs=None):
        p_female = []
        for start in range(0, len(self.images), self.batch_size):
            outputs = self.model(self.images[start : start + self.batch_size], training=False)
            p_female.append(np.asarray(outputs[0] if isinstance(outputs, list) else outputs).reshape(-1))
        if logs is not None:
            decisions = np.concatenate(p_female) >= 0.5  # the report's threshold, inclusive
            logs["val_raw_accuracy"] = float(np.mean(decisions == self.genders))


def epoch_callbacks(run: Path, config: TrainConfig, history: list[dict], val_set: UtkFace) -> list:
    """What happens at the end of each epoch: timing, checkpoints, early stopping, the history file."""
    monitor = history_key("val_accuracy", config.age_head)
    best_so_far = max((float(row[monitor]) for row in history), default=None)
    best = keras.callbacks.ModelCheckpoint(
        run / CHECKPOINT_DIR / "best.keras",
        monitor=monitor,
        mode="max",
        save_best_only=True,
        initial_value_threshold=best_so_far,
    )
    # last.keras keeps the weights as trained (and the optimizer's averages) for --resume; with
    # averaging, best.keras and the validation figures are the averaged weights'.
    last = keras.callbacks.ModelCheckpoint(run / CHECKPOINT_DIR / "last.keras")
    if config.ema_momentum is None:
        checkpoints = [best, last]
    else:
        val_images = decode_chips([s.data for s in val_set.samples], config.size).astype(np.float32)
        raw = RawWeightsValidation(val_images, val_set.genders)
        checkpoints = [raw, last, keras.callbacks.SwapEMAWeights(swap_on_epoch=True), best]
    return [
        EpochRecorder(),
        *checkpoints,
        keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=config.patience),
        keras.callbacks.CSVLogger(run / HISTORY_FILE, append=bool(history)),
        keras.callbacks.TensorBoard(run / TENSORBOARD_DIR, write_graph=False),
    ]
