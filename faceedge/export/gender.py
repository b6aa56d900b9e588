"""`faceedge export gender`: a trained Keras model -> gated ONNX artifacts, each with its manifest.

Every artifact is built in a staging folder beside the output, opened the way the runtime opens
it (through its manifest), measured on the test split, and moved into place only when it passes
its gate (:mod:`faceedge.export.gate`). A refused artifact leaves nothing at its output path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from faceedge.data.labels import GENDERS
from faceedge.data.split import resolve_split
from faceedge.data.utkface import UtkFace, load_utkface
from faceedge.errors import ModelError
from faceedge.evaluate.metrics import mean_absolute_error
from faceedge.evaluate.predictors import open_classifier
from faceedge.evaluate.report import evaluate_predictions
from faceedge.export import gate
from faceedge.export.artifact import ExportedArtifact, publish_gated, tool_versions
from faceedge.export.formats import FP32, ArtifactFormat, ExportContext, formats_of
from faceedge.export.framing import FRAMING_IMAGES, NoFacesError, measure_chip_framing
from faceedge.export.keras_onnx import BATCH_DIM, INPUT_NAME, OUTPUT_NAME, keras_to_onnx
from faceedge.export.options import RECORD_KEY, ExportOptions, ExportRecord
from faceedge.export.triton import write_triton_repository
from faceedge.imaging import decode_chips
from faceedge.manifest import (
    TRAINING_FILE,
    Manifest,
    TensorSpec,
    TrainingRecord,
    manifest_path,
    read_manifest,
    read_training_record,
    sha256_file,
)
from faceedge.runtime.classifier import AGE_OUTPUT

log = logging.getLogger(__name__)

# What each output a faceedge model may give says, and in which unit (the manifest's outputs).
OUTPUT_MEANINGS = {OUTPUT_NAME: ("P(female)", "probability"), AGE_OUTPUT: ("age", "years")}


@dataclass(frozen=True)
class TestSet:
    """The test images every artifact is measured on, their true ages, and the Keras model's
    answers on them (its ages None for a gender-only model)."""

    images: UtkFace
    chips: np.ndarray  # RGB uint8 (n, size, size, 3)
    keras: np.ndarray  # P(female) of the Keras model
    split_source: str
    threshold: float  # the Keras model's decision threshold, which every artifact inherits
    keras_age: np.ndarray | None = None  # the Keras model's ages in years (a two-head model)

    def accuracy(self, p_female: np.ndarray) -> float:
        return evaluate_predictions(self.images, p_female, self.threshold).accuracy.accuracy

    @cached_property
    def keras_accuracy(self) -> float:
        return self.accuracy(self.keras)

    @property
    def ages(self) -> np.ndarray:
        """The true ages of the test images, in years."""
        return self.images.ages

    def age_mae(self, ages: np.ndarray) -> float:
        return mean_absolute_error(self.ages, ages)

    @cached_property
    def keras_age_mae(self) -> float:
        """The Keras model's age MAE in years (NaN for a gender-only model)."""
        return float("nan") if self.keras_age is None else self.age_mae(self.keras_age)


def export_gender(
    model: str | Path, out_dir: str | Path, data: str | Path, options: ExportOptions | None = None
) -> list[ExportedArtifact]:
    """Export the Keras gender model at ``model`` to ``out_dir``: one artifact for each format that
    ``options.formats`` names (:data:`~faceedge.export.formats.FORMATS`; by default the FP32 ONNX
    ``gender.onnx`` alone), each with a manifest that records ``options`` (:class:`ExportRecord`).
    A two-head model (model v2) exports both of its outputs, ``p_female`` and ``age``, and every
    gate checks both.

    Args:
        data: UTKFace (archive or folder): the test split measures every artifact, the training split
            calibrates INT8.
        options: what to export and how; ``ExportOptions()`` when None.

    Raises:
        ValueError: ``options.formats`` names an unknown format, or not the FP32 ONNX.
        ModelError, DatasetError, SplitError: the model, data or split cannot be used.
        ExportGateError: an artifact is not accurate enough; it was not written.
        MissingExtraError: a TensorRT engine without TensorRT or cuda-python (checked first).
        EngineBuildError: TensorRT cannot build the engine, or not in FP16.
    """
    options = options or ExportOptions()
    record = ExportRecord(Path(model), Path(data), Path(out_dir), options)
    model, out_dir = record.model, record.out
    rows = formats_of(options.formats)
    for row in rows:
        if row.check_first is not None:  # known before minutes of export work
            row.check_first()
    if model.suffix.lower() != ".keras":
        raise ModelError(f"{model}: the export stage converts a .keras model, not a {model.suffix} file")
    keras = open_classifier(model)  # loaded once: measured here, converted below
    keras_model, size = keras.backend.model, keras.input_size
    dataset = load_utkface(data)
    split, split_source = resolve_split(model, dataset, options.split_file)
    outputs = tuple(spec.name for spec in keras.manifest.outputs)  # p_female, then age if there is one
    test_images = split.apply(dataset, "test")
    chips = decode_chips([s.data for s in test_images.samples], size)
    keras_p, keras_age = keras.predict_heads(chips)
    tests = TestSet(test_images, chips, keras_p, split_source, keras.threshold, keras_age)
    log.info("Keras: %.2f %% on %d test images (%s)", 100 * tests.keras_accuracy, len(chips), split_source)
    if keras_age is not None:
        log.info("Keras: age MAE %.2f years", tests.keras_age_mae)

    train = split.apply(dataset, "train")
    if options.framing_from is not None:
        framing = _framing_of(Path(options.framing_from))
    else:
        framing = _framing(train.sample(FRAMING_IMAGES, seed=0))
    base = _base_manifest(model, keras_model, size, options, framing, keras.threshold, outputs)
    base = replace(base, extra={**base.extra, RECORD_KEY: record.to_dict()})
    out_dir.mkdir(parents=True, exist_ok=True)
    proto = keras_to_onnx(keras_model, options.opset, options.nchw, outputs)

    context = ExportContext(proto, base, tests, train, record)
    artifacts = []
    for row in rows:  # FP32 first: the others are built from it, INT8 is gated against it
        artifacts.append(_publish(row, context))
        if row.name == FP32.name:
            context = replace(context, fp32=artifacts[-1])
    if options.triton_dir is not None:
        for folder in write_triton_repository(artifacts, options.triton_dir, options.triton):
            log.info("wrote the Triton model %s", folder)
    return artifacts


def _publish(row: ArtifactFormat, context: ExportContext) -> ExportedArtifact:
    """Build the artifact of ``row``; publish it if its predictions on the test split pass its gate."""
    built = row.build(context, row)
    tests, options = context.tests, context.record.options

    def measure(staged: Path):
        heads, measured_with = _measure(staged, tests, built.manifest)
        accuracy = {"measured_with": measured_with, **_agreement(tests, heads, options.probe_images)}
        return tuple(row.gate(context, heads)), accuracy, heads

    published = publish_gated(
        built.artifact, context.record.out / row.file_name(options.name), built.manifest, measure
    )
    if built.accepted is not None:
        built.accepted()
    return published


def _measure(staged: Path, tests: TestSet, manifest: Manifest) -> tuple[gate.Heads, str]:
    """P(female) (and the ages) of the test chips from the staged artifact (an engine on this GPU,
    an ONNX model on the CPU), and what computed it."""
    with open_classifier(staged) as runner:
        heads = gate.Heads(*runner.predict_heads(tests.chips))
        providers = ", ".join(runner.backend.providers)
    if manifest.format == "tensorrt":
        target = manifest.extra["target"]
        return heads, f"TensorRT {target['tensorrt']} on {target['gpu']}"
    return heads, f"onnxruntime {providers}"


def _agreement(tests: TestSet, heads: gate.Heads, probe_images: int) -> dict:
    """An artifact's test accuracy (and age MAE) and how closely it follows the Keras model."""
    probe = min(probe_images, len(tests.chips))
    p_female = heads.p_female
    figures = {
        "split": "test",
        "split_file": tests.split_source,
        "n": len(tests.chips),
        "accuracy": tests.accuracy(p_female),
        "keras_accuracy": tests.keras_accuracy,
        "max_abs_diff_vs_keras": float(np.max(np.abs(p_female[:probe] - tests.keras[:probe])))
        if probe
        else 0.0,
        "probe_images": probe,
        "decision_disagreement_vs_keras": float(
            np.mean((p_female >= tests.threshold) != (tests.keras >= tests.threshold))
        ),
    }
    if tests.keras_age is None or heads.age is None:  # the gate refuses an artifact that lost its age
        return figures
    return {
        **figures,
        "age_mae": tests.age_mae(heads.age),
        "keras_age_mae": tests.keras_age_mae,
        "max_age_diff_vs_keras": float(np.max(np.abs(heads.age[:probe] - tests.keras_age[:probe])))
        if probe
        else 0.0,
    }


def _framing(images: UtkFace) -> dict:
    """The measured framing of the training chips, or why it could not be measured."""
    try:
        return measure_chip_framing(images)
    except NoFacesError as exc:
        log.warning("%s; the manifest says so, and crops must be framed some other way", exc)
        return {"reference": "UTKFace aligned and cropped chip", "unmeasured": str(exc)}


def _framing_of(artifact: Path) -> dict:
    """The chip framing recorded in the manifest of ``artifact`` (the model file or its manifest)."""
    manifest_file = artifact if artifact.name.endswith(".manifest.json") else manifest_path(artifact)
    manifest = read_manifest(manifest_file)
    framing = manifest.preprocessing.get("crop")
    if manifest.task != "gender" or not isinstance(framing, dict) or "eye_distance" not in framing:
        raise ModelError(f"{manifest_file} records no measured chip framing to reuse")
    log.info("chip framing taken from %s", manifest_file)
    return {**framing, "taken_from": manifest.model_id}


def _base_manifest(
    model: Path,
    keras_model,
    size: int,
    options: ExportOptions,
    framing: dict,
    threshold: float,
    outputs: tuple[str, ...],
) -> Manifest:
    training = _training_record(model)
    arch = training.arch if training else keras_model.name
    source_hash = sha256_file(model)
    nchw = options.nchw
    shape = (BATCH_DIM, 3, size, size) if nchw else (BATCH_DIM, size, size, 3)
    trained_input = training.input if training else {}
    return Manifest(
        model_id=f"gender-{arch}-{size}px-{source_hash[:8]}",
        task="gender",
        format=FP32.format,
        precision=FP32.precision,
        files={},
        inputs=(
            TensorSpec(INPUT_NAME, shape, "float32", "NCHW" if nchw else "NHWC", "RGB", scale=1.0, mean=0.0),
        ),
        outputs=tuple(_output_spec(name, model) for name in outputs),
        labels=training.labels if training else tuple(GENDERS),
        decision={"output": OUTPUT_NAME, "kind": "probability", "positive": "female", "threshold": threshold},
        preprocessing={
            "input_size": size,
            "pixels": "0-255 as float32, no normalisation (the model scales them itself)",
            "trained_on": trained_input.get("crop", "UTKFace aligned and cropped chips (200x200)"),
            "crop": framing,
            "resize": trained_input.get("resize", "OpenCV INTER_AREA"),
        },
        source={"file": model.name, "sha256": source_hash, "arch": arch},
        tools=tool_versions(),
        extra={"opset": options.opset},
    )


def _output_spec(name: str, model: Path) -> TensorSpec:
    """The manifest's record of one output: its name, shape, meaning and unit.

    Raises:
        ModelError: the model has an output faceedge does not know.
    """
    if name not in OUTPUT_MEANINGS:
        raise ModelError(f"{model} has an output {name!r}; faceedge exports {', '.join(OUTPUT_MEANINGS)}")
    meaning, unit = OUTPUT_MEANINGS[name]
    return TensorSpec(name, (BATCH_DIM, 1), "float32", meaning=meaning, unit=unit)


def _training_record(model: Path) -> TrainingRecord | None:
    """What the training stage recorded beside the model (None for a bare .keras file).

    Raises:
        ModelError: the record is there but unreadable, or of a newer version.
    """
    path = model.parent / TRAINING_FILE
    return read_training_record(path) if path.is_file() else None
