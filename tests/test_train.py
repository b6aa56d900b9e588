"""Real training runs, short: a synthetic set (always) and a few hundred UTKFace faces (with ../shared)."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace

import pytest

from faceedge.errors import RunDirectoryError
from faceedge.manifest import read_training_record
from faceedge.train.config import GENDER_ONLY, TrainConfig
from faceedge.train.rundir import format_run, history_key
from tests.conftest import RUN_RESULT_FILES

pytest.importorskip("tensorflow")  # the train extra; without it this file is skipped
from faceedge.train.trainer import train  # noqa: E402

RUN_FILES = (*RUN_RESULT_FILES, "checkpoints/best.keras", "checkpoints/last.keras")


def _move_first_test_image(split_csv, to: str | None) -> None:
    """Edit a split file: its first test image goes to split ``to``, or out of the split (None)."""
    lines = split_csv.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.endswith(",test"))
    if to is None:
        del lines[first]
    else:
        lines[first] = lines[first].removesuffix(",test") + f",{to}"
    split_csv.write_text("\n".join(lines) + "\n")


def _losses(run, column: str = "loss") -> list[float]:
    with (run / "history.csv").open() as handle:
        return [float(row[column]) for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    from tests.conftest import write_synthetic_folder

    root = tmp_path_factory.mktemp("train")
    data = write_synthetic_folder(root / "data", count=160, size=64)
    # Model v2's recipe; the average of the weights remembers about ten of these 24 steps, not a
    # thousand, so that it is a trained model that the tests below distil, evaluate and resume.
    config = TrainConfig(
        data=str(data),
        out=str(root / "run"),
        img_size=32,
        epochs=3,
        batch_size=16,
        patience=5,
        ema_momentum=0.9,
    )
    return train(config, progress=False), config


def test_a_run_writes_every_artifact_and_a_readable_report(synthetic_run):
    result, _ = synthetic_run
    for name in RUN_FILES:
        assert (result.run_dir / name).is_file(), name
    evaluation = json.loads((result.run_dir / "evaluation.json").read_text())
    assert evaluation["n"] == 16 and 0 <= evaluation["accuracy"] <= 1
    training = json.loads((result.run_dir / "training.json").read_text())
    assert training["epochs_run"] == 3 and training["parameters"] > 0 and training["flops_per_image"] > 0
    assert training["precision_policy"] == "float32" and training["replicas"] == 1
    assert read_training_record(result.run_dir / "training.json") == result.training
    assert "accuracy" in format_run(result.run_dir)


def test_a_two_head_run_records_both_heads_and_the_raw_weights_accuracy(synthetic_run):
    result, config = synthetic_run
    assert config.age_head and config.ema_momentum is not None  # model v2's defaults
    with (result.run_dir / "history.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for column in ("p_female_loss", "age_loss", "val_p_female_accuracy", "val_age_mae", "val_raw_accuracy"):
        assert all(math.isfinite(float(row[column])) for row in rows), column
    training = json.loads((result.run_dir / "training.json").read_text())
    assert set(training["outputs"]) == {"p_female", "age"} and training["best_val_age_mae"] >= 0
    evaluation = json.loads((result.run_dir / "evaluation.json").read_text())
    assert evaluation["has_age"] and 0 <= evaluation["age_mae"] <= 116
    assert set(evaluation["age_mae_per_race"]) == {"White", "Black", "Asian", "Indian", "Others"}
    assert (result.run_dir / "evaluation_age.png").is_file()
    assert "age MAE" in format_run(result.run_dir)


def test_a_gender_only_model_still_trains_and_evaluates(synthetic_run, tmp_path):
    _, config = synthetic_run
    gender_only = replace(config, out=str(tmp_path / "run"), epochs=2, **GENDER_ONLY)
    result = train(gender_only, progress=False)
    with (result.run_dir / "history.csv").open() as handle:
        columns = set(next(csv.DictReader(handle)))
    assert {"loss", "accuracy", "val_accuracy"} <= columns and not any("age" in c for c in columns)
    evaluation = json.loads((result.run_dir / "evaluation.json").read_text())
    assert evaluation["has_age"] is False and "age_mae" not in evaluation
    assert 0 <= evaluation["accuracy"] <= 1 and evaluation["race_gap_adults"] is not None
    assert json.loads((result.run_dir / "training.json").read_text())["outputs"] == {
        "p_female": "P(female), 0-1"
    }


def test_loss_is_finite_and_falls_on_a_learnable_task(synthetic_run):
    result, _ = synthetic_run
    losses = _losses(result.run_dir)
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0]


def test_an_existing_run_is_not_overwritten(synthetic_run):
    _, config = synthetic_run
    with pytest.raises(RunDirectoryError, match="already holds a run"):
        train(config, progress=False)


def test_resume_continues_from_the_last_epoch(synthetic_run, tmp_path):
    import shutil

    result, config = synthetic_run
    run = tmp_path / "resumed"
    shutil.copytree(result.run_dir, run)
    saved = json.loads((run / "config.json").read_text())
    saved["epochs"] = 4  # as if the run had been interrupted after 3 of 4 epochs
    (run / "config.json").write_text(json.dumps(saved))
    resumed = train(replace(config, out=str(run)), resume=True, progress=False)
    assert len(_losses(run)) == 4
    assert json.loads((run / "training.json").read_text())["epochs_run"] == 4
    assert resumed.model_path.is_file()


def test_a_run_can_start_from_a_trained_model_and_keeps_its_split(synthetic_run, tmp_path):
    import shutil

    import keras
    import numpy as np

    result, config = synthetic_run
    source = tmp_path / "source"
    shutil.copytree(result.run_dir, source)
    # Move one test image into training in the source's split: the new run must follow that file,
    # not make a fresh split of its own (which would put it back).
    _move_first_test_image(source / "split.csv", "train")

    tuned = train(
        replace(
            config,
            out=str(tmp_path / "tuned"),
            epochs=1,
            learning_rate=1e-9,
            init_from=str(source / "model.keras"),
        ),
        progress=False,
    )
    assert (tuned.run_dir / "split.csv").read_text() == (source / "split.csv").read_text()
    assert tuned.evaluation.n == 15
    # With a vanishing learning rate the trainable weights are still the source's.
    start = keras.models.load_model(source / "model.keras")
    end = keras.models.load_model(tuned.model_path)
    for before, after in zip(start.trainable_weights, end.trainable_weights, strict=True):
        np.testing.assert_allclose(after.numpy(), before.numpy(), atol=1e-5)


def test_starting_from_a_model_of_another_shape_is_refused(synthetic_run, tmp_path):
    result, config = synthetic_run
    with pytest.raises(RunDirectoryError, match="resnet10 model for 32 px images, not seed"):
        train(
            replace(config, out=str(tmp_path / "other"), arch="seed", init_from=str(result.model_path)),
            progress=False,
        )
    with pytest.raises(RunDirectoryError, match="no such file"):
        train(replace(config, out=str(tmp_path / "none"), init_from=str(tmp_path / "missing.keras")))
    # Refused before anything was written: the same --out can be used once the mistake is fixed.
    assert not (tmp_path / "other").exists() and not (tmp_path / "none").exists()


def test_distillation_targets_blend_labels_with_mirror_averaged_teachers(synthetic_run):
    import numpy as np

    from faceedge.data.split import read_split
    from faceedge.data.utkface import load_utkface
    from faceedge.evaluate.predictors import open_classifier, predict_with_flip
    from faceedge.imaging import decode_chips
    from faceedge.train.distill import distillation_targets

    result, config = synthetic_run
    split = read_split(result.run_dir / "split.csv")
    train_set = split.apply(load_utkface(config.data), "train")
    teacher = str(result.model_path)
    labels = train_set.genders.astype(np.float32)
    predictor = open_classifier(teacher)
    predicted = predict_with_flip(predictor, decode_chips([s.data for s in train_set.samples], 32))
    assert not np.allclose(predicted, labels, atol=0.05)  # else the blend below could not be told apart

    np.testing.assert_allclose(distillation_targets((teacher,), 0.0, train_set, split), labels)
    np.testing.assert_allclose(distillation_targets((teacher,), 1.0, train_set, split), predicted, atol=1e-6)
    np.testing.assert_allclose(
        distillation_targets((teacher, teacher), 0.25, train_set, split),
        0.75 * labels + 0.25 * predicted,
        atol=1e-6,
    )


def test_a_distilled_run_records_its_teachers_and_keeps_an_accuracy_of_decisions(synthetic_run, tmp_path):
    result, config = synthetic_run
    student = train(
        replace(config, out=str(tmp_path / "student"), epochs=1, teachers=(str(result.model_path),)),
        progress=False,
    )
    saved = json.loads((student.run_dir / "config.json").read_text())
    assert saved["teachers"] == [str(result.model_path)] and saved["distillation"] == 0.5
    with (student.run_dir / "history.csv").open() as handle:
        (row,) = list(csv.DictReader(handle))
    # Soft targets still give meaningful training metrics: decisions on the right side of 0.5.
    accuracy, auc = (float(row[history_key(m, config.age_head)]) for m in ("accuracy", "auc"))
    assert 0.3 < accuracy <= 1.0 and 0.5 < auc <= 1.0


def test_a_teacher_that_trained_on_the_student_s_test_images_is_refused(synthetic_run, tmp_path):
    import shutil

    from faceedge.errors import ModelError

    result, config = synthetic_run
    teacher = tmp_path / "teacher"
    shutil.copytree(result.run_dir, teacher)
    original = (teacher / "split.csv").read_text()
    teachers = (str(teacher / "model.keras"),)

    for where, message in (("train", "trained on 1"), ("val", "chose its best epoch on 1")):
        (teacher / "split.csv").write_text(original)
        _move_first_test_image(teacher / "split.csv", where)
        with pytest.raises(ModelError, match=f"{message} of the images the student is measured on"):
            train(replace(config, out=str(tmp_path / "leaky"), teachers=teachers))
        assert not (tmp_path / "leaky").exists()
    (teacher / "split.csv").write_text(original)
    _move_first_test_image(teacher / "split.csv", None)  # a split of other images
    with pytest.raises(ModelError, match="split over other images"):
        train(replace(config, out=str(tmp_path / "leaky"), teachers=teachers))

    (teacher / "split.csv").unlink()
    with pytest.raises(ModelError, match="no split.csv beside it"):
        train(replace(config, out=str(tmp_path / "unknown"), teachers=(str(teacher / "model.keras"),)))
    assert not (tmp_path / "unknown").exists()
    with pytest.raises(ModelError, match="no teacher model"):
        train(replace(config, out=str(tmp_path / "none"), teachers=(str(tmp_path / "missing.keras"),)))
    assert not (tmp_path / "none").exists()


def test_resume_without_a_run_is_refused(tmp_path):
    with pytest.raises(RunDirectoryError, match="cannot resume"):
        train(TrainConfig(data="", out=str(tmp_path / "none")), resume=True)


@pytest.mark.slow
def test_short_real_training_run_on_utkface(utkface_archive, tmp_path):
    config = TrainConfig(
        data=str(utkface_archive), out=str(tmp_path / "run"), img_size=48, epochs=4, batch_size=32, limit=400
    )
    assert config.age_head  # the two-head model v2
    result = train(config, progress=False)
    for head in ("p_female_loss", "age_loss"):
        losses = _losses(result.run_dir, head)
        assert all(math.isfinite(loss) for loss in losses) and losses[-1] < losses[0], (head, losses)
    for name in RUN_FILES:
        assert (result.run_dir / name).is_file(), name
    assert result.evaluation.n == 40


def test_evaluate_command_reproduces_the_run_s_own_report(synthetic_run, tmp_path):
    from typer.testing import CliRunner

    from faceedge.cli import app

    result, config = synthetic_run
    out = tmp_path / "eval.json"
    cli = CliRunner().invoke(
        app, ["evaluate", str(result.model_path), "--data", config.data, "--json", str(out)]
    )
    assert cli.exit_code == 0, cli.output
    again = json.loads(out.read_text())
    recorded = json.loads((result.run_dir / "evaluation.json").read_text())
    assert again["split_file"].endswith("split.csv")  # the split beside the model, not a new one
    for key in (
        "n",
        "accuracy",
        "confusion_matrix",
        "per_race",
        "race_gap",
        "per_age_group",
        "adult_accuracy",
        "race_gap_age_standardised",
        "race_gap_adults",
        "age_mae",
        "age_mae_per_age_group",
    ):
        assert again[key] == recorded[key], key
    assert (tmp_path / "eval_confusion.png").is_file() and (tmp_path / "eval_groups.png").is_file()


def test_a_model_trained_in_mixed_precision_is_shipped_in_float32(tmp_path):
    """The GPU path trains under mixed_float16; the saved model must not carry float16 layers."""
    import keras
    import numpy as np

    from faceedge.train.architectures import build_model
    from faceedge.train.trainer import _save_float32

    config = TrainConfig(data="", out=str(tmp_path), img_size=32)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = build_model(config.arch, 32, config.age_head)
        assert mixed.get_layer("stem_conv").compute_dtype == "float16"
        mixed.save(tmp_path / "best.keras")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    shipped = _save_float32(tmp_path / "best.keras", config, tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras", compile=False)
    assert {layer.compute_dtype for layer in reloaded.layers if hasattr(layer, "compute_dtype")} == {
        "float32"
    }
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(reloaded(x)), np.asarray(shipped(x)), atol=1e-6)
    p_float32, p_float16 = np.asarray(reloaded(x)[0]), np.asarray(mixed(x)[0])
    np.testing.assert_allclose(p_float32, p_float16, atol=2e-2)  # float16 vs float32
