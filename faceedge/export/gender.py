"""`faceedge export gender`: a trained Keras model -> gated ONNX artifacts, each with its manifest.

Every artifact is built in a staging folder beside the output, opened the way the runtime opens
it (through its manifest), measured on the test split, and moved into place only when it passes
its gate (:mod:`faceedge.export.gate`). A refused artifact leaves nothing at its output path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from faceedge.data.labels import GENDERS
from faceedge.data.split import resolve_split
from faceedge.data.utkface import UtkFace, load_utkface
from faceedge.errors import ModelError
from faceedge.evaluate.predictors import open_classifier
from faceedge.evaluate.report import evaluate_predictions
from faceedge.export import gate
from faceedge.export.artifact import ExportedArtifact, publish_gated, tool_versions
from faceedge.export.framing import FRAMING_IMAGES, NoFacesError, measure_chip_framing
from faceedge.export.keras_onnx import (
    BATCH_DIM,
    DEFAULT_OPSET,
    INPUT_NAME,
    OUTPUT_NAME,
    keras_to_onnx,
)
from faceedge.export.quantize import CALIBRATION_IMAGES, quantize_int8
from faceedge.export.tensorrt import DEFAULT_WORKSPACE_MIB, BatchProfile
from faceedge.export.triton import TritonOptions, write_triton_repository
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

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _TestSet:
    """The test images every artifact is measured on, and the Keras model's answers on them."""

    images: UtkFace
    chips: np.ndarray  # RGB uint8 (n, size, size, 3)
    keras: np.ndarray  # P(female) of the Keras model
    split_source: str

    def accuracy(self, p_female: np.ndarray) -> float:
        return evaluate_predictions(self.images, p_female).accuracy.accuracy

    @cached_property
    def keras_accuracy(self) -> float:
        return self.accuracy(self.keras)


def export_gender(
    model: str | Path,
    out_dir: str | Path,
    data: str | Path,
    split_file: str | Path | None = None,
    nchw: bool = False,
    opset: int = DEFAULT_OPSET,
    int8: bool = False,
    fp16: bool = False,
    trt_fp16: bool = False,
    trt_profile: BatchProfile | None = None,
    workspace_mib: int = DEFAULT_WORKSPACE_MIB,
    timing_cache: str | Path | None = None,
    triton_dir: str | Path | None = None,
    triton: TritonOptions | None = None,
    calibration_images: int = CALIBRATION_IMAGES,
    probe_images: int = gate.PROBE_IMAGES,
    name: str = "gender",
    framing_from: str | Path | None = None,
) -> list[ExportedArtifact]:
    """Export the Keras gender model at ``model`` to ``out_dir/{name}.onnx``, and with ``int8``,
    ``fp16`` and ``trt_fp16`` to ``{name}_int8.onnx``, ``{name}_fp16.onnx`` and the TensorRT engine
    ``{name}_trt_fp16.engine`` (built from the FP32 ONNX on this machine's GPU).

    Args:
        data: UTKFace (archive or folder): the test split measures every artifact, the training split
            calibrates INT8.
        split_file: the split to use; by default the one beside ``model``, else the default split.
        nchw: give the ONNX an NCHW input (no leading Transpose, for TensorRT).
        triton_dir: also write a Triton model repository there (FP32 ONNX, and the engine if built).
        framing_from: an artifact or manifest whose chip framing to reuse instead of measuring it,
            so that a model's new artifacts crop faces exactly as its existing ones do.

    Raises:
        ModelError, DatasetError, SplitError: the model, data or split cannot be used.
        ExportGateError: an artifact is not accurate enough; it was not written.
        MissingExtraError: ``trt_fp16`` without TensorRT or cuda-python (checked first).
        EngineBuildError: TensorRT cannot build the engine, or not in FP16.
    """
    model = Path(model)
    out_dir = Path(out_dir)
    if trt_fp16:  # known before minutes of export work: TensorRT, cuda-python and a GPU are here
        from faceedge.runtime.tensorrt_engine import current_target

        log.info("TensorRT engine target: %s", current_target())
    keras = open_classifier(model)  # loaded once: measured here, converted below
    if keras.backend.name != "keras":
        raise ModelError(f"{model}: the export stage converts a .keras model, not a {model.suffix} file")
    if keras.has_age:
        raise ModelError(
            f"{model} has an age head as well as the gender one: the export stage, its gates and the "
            "runtime carry P(female) only so far; export a gender-only model (faceedge train --no-age-head)"
        )
    keras_model, size = keras.backend.model, keras.input_size
    dataset = load_utkface(data)
    split, split_source = resolve_split(model, dataset, split_file)
    test_images = split.apply(dataset, "test")
    chips = decode_chips([s.data for s in test_images.samples], size)
    keras_p = keras.predict(chips)
    tests = _TestSet(test_images, chips, keras_p, split_source)
    log.info("Keras: %.2f %% on %d test images (%s)", 100 * tests.keras_accuracy, len(chips), split_source)

    if framing_from is not None:
        framing = _framing_of(Path(framing_from))
    else:
        framing = _framing(split.apply(dataset, "train").sample(FRAMING_IMAGES, seed=0))
    base = _base_manifest(model, keras_model, size, nchw, opset, framing)
    out_dir.mkdir(parents=True, exist_ok=True)
    proto = keras_to_onnx(keras_model, opset, nchw)

    def fp32_gate(p: np.ndarray) -> tuple[gate.GateCheck, ...]:
        return gate.parity_checks(tests.keras, p, probe_images)

    artifacts = [_publish(proto, out_dir / f"{name}.onnx", base, tests, fp32_gate, probe_images)]
    if int8:
        calibration = split.apply(dataset, "train").sample(calibration_images, seed=0)
        path = out_dir / f"{name}_int8.onnx"
        artifacts.append(
            _export_int8(proto, artifacts[0], calibration, path, base, tests, nchw, probe_images)
        )
    if fp16:
        artifacts.append(_export_fp16(proto, out_dir / f"{name}_fp16.onnx", base, tests, probe_images))
    if trt_fp16:
        profile = trt_profile or BatchProfile()
        cache = Path(timing_cache) if timing_cache else out_dir / "timing.cache"
        rebuild = _rebuild_command(
            model, data, out_dir, split_file, nchw, opset, profile, workspace_mib, cache, framing_from
        )
        engine_path = out_dir / f"{name}_trt_fp16.engine"
        artifacts.append(
            _publish_engine(
                artifacts[0], engine_path, base, tests, profile, workspace_mib, cache, rebuild, probe_images
            )
        )
    if triton_dir is not None:
        for folder in write_triton_repository(artifacts, triton_dir, triton):
            log.info("wrote the Triton model %s", folder)
    return artifacts


def _export_int8(
    proto, fp32: ExportedArtifact, calibration: UtkFace, path: Path, base: Manifest, tests, nchw, probe_images
) -> ExportedArtifact:
    """Quantize the FP32 graph; publish it if it loses at most half a point against FP32."""
    fp32_accuracy = fp32.manifest.accuracy["accuracy"]

    def int8_gate(p: np.ndarray) -> tuple[gate.GateCheck, ...]:
        drop = gate.accuracy_drop_check(fp32_accuracy, tests.accuracy(p), gate.MAX_INT8_ACCURACY_DROP)
        return gate.finite_check(p), drop

    chips = decode_chips([s.data for s in calibration.samples], tests.chips.shape[1])
    quantized = quantize_int8(_copy(proto), chips, nchw)
    manifest = replace(
        base,
        model_id=base.model_id + "-int8",
        precision="int8",
        extra={**base.extra, "calibration": {"split": "train", "images": len(calibration), "seed": 0}},
    )
    return _publish(quantized, path, manifest, tests, int8_gate, probe_images)


def _export_fp16(proto, path: Path, base: Manifest, tests, probe_images: int) -> ExportedArtifact:
    """Convert the FP32 graph to FP16 (inputs and outputs stay float32, so callers feed it like FP32)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    def fp16_gate(p: np.ndarray) -> tuple[gate.GateCheck, ...]:
        return gate.parity_checks(tests.keras, p, probe_images, max_abs_diff=gate.MAX_FP16_ABS_DIFF)

    half = convert_float_to_float16(_copy(proto), keep_io_types=True)
    manifest = replace(base, model_id=base.model_id + "-fp16", precision="fp16")
    return _publish(half, path, manifest, tests, fp16_gate, probe_images)


def _rebuild_command(
    model: Path,
    data,
    out_dir: Path,
    split_file,
    nchw: bool,
    opset: int,
    profile: BatchProfile,
    workspace,
    cache,
    framing_from=None,
) -> str:
    """The command that exports this engine again, with every setting that shaped it."""
    options = [f"--data {data}", f"--out {out_dir}", f"--opset {opset}"]
    if split_file is not None:
        options.append(f"--split-file {split_file}")
    if framing_from is not None:
        options.append(f"--framing-from {framing_from}")
    if nchw:
        options.append("--inputs-as-nchw")
    options += [
        "--trt-fp16",
        f"--min-batch {profile.min} --opt-batch {profile.opt} --max-batch {profile.max}",
        f"--workspace-mib {workspace} --timing-cache {cache}",
    ]
    return f"faceedge export gender {model} " + " ".join(options)


def _publish_engine(
    fp32: ExportedArtifact,
    path: Path,
    base: Manifest,
    tests: _TestSet,
    profile: BatchProfile,
    workspace_mib: int,
    timing_cache: Path,
    rebuild: str,
    probe_images: int,
) -> ExportedArtifact:
    """Build a TensorRT FP16 engine from the written FP32 ONNX; publish it if it passes the FP16
    gate against Keras, measured by the engine itself on this GPU."""
    from faceedge.export.tensorrt import build_fp16_engine

    engine, cache, record = build_fp16_engine(fp32.path, profile, workspace_mib, timing_cache)
    version = record["target"]["tensorrt"]
    manifest = replace(
        base,
        model_id=base.model_id + "-trt-fp16",
        format="tensorrt",
        precision="fp16",
        source={**base.source, "onnx": fp32.path.name, "onnx_sha256": fp32.manifest.files[fp32.path.name]},
        tools={**base.tools, "tensorrt": version},
        extra={**base.extra, **record, "rebuild": rebuild},
    )

    def measure(staged: Path):
        with open_classifier(staged) as runner:
            p_female = runner.predict(tests.chips)
        checks = gate.parity_checks(tests.keras, p_female, probe_images, max_abs_diff=gate.MAX_FP16_ABS_DIFF)
        accuracy = {
            "measured_with": f"TensorRT {version} on {record['target']['gpu']}",
            **_agreement(tests, p_female, probe_images),
        }
        return checks, accuracy, p_female

    published = publish_gated(engine, path, manifest, measure)
    if cache is not None:  # kept for the next build, once this one is accepted
        timing_cache.parent.mkdir(parents=True, exist_ok=True)
        timing_cache.write_bytes(cache)
    return published


def _agreement(tests: _TestSet, p_female: np.ndarray, probe_images: int) -> dict:
    """An artifact's test accuracy and how closely it follows the Keras model."""
    probe = min(probe_images, len(tests.chips))
    return {
        "split": "test",
        "split_file": tests.split_source,
        "n": len(tests.chips),
        "accuracy": tests.accuracy(p_female),
        "keras_accuracy": tests.keras_accuracy,
        "max_abs_diff_vs_keras": float(np.max(np.abs(p_female[:probe] - tests.keras[:probe])))
        if probe
        else 0.0,
        "probe_images": probe,
        "decision_disagreement_vs_keras": float(np.mean((p_female >= 0.5) != (tests.keras >= 0.5))),
    }


def _copy(proto):
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    return copy


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


def _base_manifest(model: Path, keras_model, size: int, nchw: bool, opset: int, framing: dict) -> Manifest:
    training = _training_record(model)
    arch = training.arch if training else keras_model.name
    source_hash = sha256_file(model)
    shape = (BATCH_DIM, 3, size, size) if nchw else (BATCH_DIM, size, size, 3)
    trained_input = training.input if training else {}
    return Manifest(
        model_id=f"gender-{arch}-{size}px-{source_hash[:8]}",
        task="gender",
        format="onnx",
        precision="fp32",
        files={},
        inputs=(
            TensorSpec(INPUT_NAME, shape, "float32", "NCHW" if nchw else "NHWC", "RGB", scale=1.0, mean=0.0),
        ),
        outputs=(TensorSpec(OUTPUT_NAME, (BATCH_DIM, 1), "float32"),),
        labels=training.labels if training else tuple(GENDERS),
        decision={"output": OUTPUT_NAME, "kind": "probability", "positive": "female", "threshold": 0.5},
        preprocessing={
            "input_size": size,
            "pixels": "0-255 as float32, no normalisation (the model scales them itself)",
            "trained_on": trained_input.get("crop", "UTKFace aligned and cropped chips (200x200)"),
            "crop": framing,
            "resize": trained_input.get("resize", "OpenCV INTER_AREA"),
        },
        source={"file": model.name, "sha256": source_hash, "arch": arch},
        tools=tool_versions(),
        extra={"opset": opset},
    )


def _training_record(model: Path) -> TrainingRecord | None:
    """What the training stage recorded beside the model (None for a bare .keras file).

    Raises:
        ModelError: the record is there but unreadable, or of a newer version.
    """
    path = model.parent / TRAINING_FILE
    return read_training_record(path) if path.is_file() else None


def _publish(
    proto,
    path: Path,
    manifest: Manifest,
    tests: _TestSet,
    gate_of: Callable[[np.ndarray], Iterable[gate.GateCheck]],
    probe_images: int,
) -> ExportedArtifact:
    """Publish ``proto`` if its predictions on the test split pass ``gate_of``."""

    def measure(staged: Path):
        p_female = open_classifier(staged).predict(tests.chips)
        accuracy = {
            "measured_with": "onnxruntime CPUExecutionProvider",
            **_agreement(tests, p_female, probe_images),
        }
        return tuple(gate_of(p_female)), accuracy, p_female

    return publish_gated(proto, path, manifest, measure)
