"""The artifacts the gender export can write, one row each: :data:`FORMATS`.

A row names its file, its precision, how it is built from the FP32 ONNX graph and the gate it
must pass (on P(female) and, for a two-head model, on the age too);
:func:`faceedge.export.gender.export_gender` walks the table in order, builds the rows an
:class:`~faceedge.export.options.ExportOptions` asks for, measures each the way the runtime opens
it and publishes it only when its gate passes. Adding a format is adding a row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from faceedge.errors import ExportGateError
from faceedge.export import gate
from faceedge.export.artifact import ExportedArtifact
from faceedge.export.quantize import quantize_int8
from faceedge.imaging import decode_chips
from faceedge.manifest import Manifest

if TYPE_CHECKING:
    from faceedge.data.utkface import UtkFace
    from faceedge.export.gender import TestSet
    from faceedge.export.options import ExportRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportContext:
    """What every row's builder and gate get: the FP32 graph and manifest, the test images with the
    Keras model's answers, the training images, what was asked, and the FP32 artifact once written."""

    proto: Any  # the FP32 ONNX ModelProto
    base: Manifest  # the FP32 manifest, before its files and accuracy are known
    tests: TestSet
    train: UtkFace  # the training split (INT8 calibration)
    record: ExportRecord
    fp32: ExportedArtifact | None = None  # set once the FP32 ONNX is published


@dataclass(frozen=True)
class Built:
    """A row's artifact before its gate: an ONNX ``ModelProto`` or an engine's bytes, its manifest,
    and what to do once it is accepted (the engine's timing cache is kept only then)."""

    artifact: Any
    manifest: Manifest
    accepted: Callable[[], None] | None = None


@dataclass(frozen=True)
class ArtifactFormat:
    """One kind of artifact: written to ``{name}{suffix}`` with a manifest of ``format`` and
    ``precision`` (its model id ends in ``id_suffix``), built by ``build``, and published only if
    ``gate`` passes on its test predictions. ``check_first`` runs before any export work, to fail
    in seconds what would fail after minutes."""

    name: str  # what ExportOptions.formats calls it
    suffix: str
    format: str  # "onnx" or "tensorrt": how it is opened to be measured
    precision: str
    id_suffix: str
    build: Callable[[ExportContext, ArtifactFormat], Built]
    gate: Callable[[ExportContext, gate.Heads], Iterable[gate.GateCheck]]
    check_first: Callable[[], None] | None = None

    def file_name(self, stem: str) -> str:
        return f"{stem}{self.suffix}"

    def manifest(self, ctx: ExportContext, **changes) -> Manifest:
        """The FP32 manifest made this row's, with ``changes``."""
        base = ctx.base
        return replace(
            base,
            model_id=base.model_id + self.id_suffix,
            format=self.format,
            precision=self.precision,
            **changes,
        )


def _copy(proto):
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    return copy


def _build_fp32(ctx: ExportContext, row: ArtifactFormat) -> Built:
    return Built(ctx.proto, row.manifest(ctx))


def _build_int8(ctx: ExportContext, row: ArtifactFormat) -> Built:
    """Quantize the FP32 graph, calibrated on a seeded sample of training images."""
    calibration = ctx.train.sample(ctx.record.options.calibration_images, seed=0)
    chips = decode_chips([s.data for s in calibration.samples], ctx.tests.chips.shape[1])
    quantized = quantize_int8(_copy(ctx.proto), chips, ctx.record.options.nchw)
    calibrated = {"split": "train", "images": len(calibration), "seed": 0}
    return Built(quantized, row.manifest(ctx, extra={**ctx.base.extra, "calibration": calibrated}))


def _build_fp16(ctx: ExportContext, row: ArtifactFormat) -> Built:
    """Convert the FP32 graph to FP16 (inputs and outputs stay float32, so callers feed it like FP32)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return Built(convert_float_to_float16(_copy(ctx.proto), keep_io_types=True), row.manifest(ctx))


def _build_engine(ctx: ExportContext, row: ArtifactFormat) -> Built:
    """Build a TensorRT FP16 engine from the written FP32 ONNX on this machine's GPU; its timing
    cache is kept for the next build once the engine is accepted."""
    from faceedge.export.options import rebuild_command
    from faceedge.export.tensorrt import build_fp16_engine

    fp32, record = ctx.fp32, ctx.record
    timing_cache = record.timing_cache
    engine, cache, built = build_fp16_engine(
        fp32.path, record.options.profile, record.options.workspace_mib, timing_cache
    )
    manifest = row.manifest(
        ctx,
        source={
            **ctx.base.source,
            "onnx": fp32.path.name,
            "onnx_sha256": fp32.manifest.files[fp32.path.name],
        },
        tools={**ctx.base.tools, "tensorrt": built["target"]["tensorrt"]},
        extra={**ctx.base.extra, **built, "rebuild": rebuild_command(record, row.name)},
    )

    def keep_cache() -> None:
        if cache is not None:
            timing_cache.parent.mkdir(parents=True, exist_ok=True)
            timing_cache.write_bytes(cache)

    return Built(engine, manifest, keep_cache)


def _log_engine_target() -> None:
    """TensorRT, cuda-python and a GPU are here (raises MissingExtraError or GpuError if not)."""
    from faceedge.runtime.tensorrt_engine import current_target

    log.info("TensorRT engine target: %s", current_target())


def _parity(max_abs_diff: float, max_age_abs_diff: float):
    """A gate: reproduce the Keras model within ``max_abs_diff`` (P(female)) and, for a two-head
    model, ``max_age_abs_diff`` (years) on the probe images."""

    def checks(ctx: ExportContext, heads: gate.Heads) -> tuple[gate.GateCheck, ...]:
        probe, tests = ctx.record.options.probe_images, ctx.tests
        found = gate.parity_checks(
            tests.keras, heads.p_female, probe, max_abs_diff=max_abs_diff, threshold=tests.threshold
        )
        if tests.keras_age is None:
            return found
        return found + gate.age_parity_checks(tests.keras_age, _ages(heads), probe, max_age_abs_diff)

    return checks


def _ages(heads: gate.Heads) -> np.ndarray:
    """The ages of an artifact exported from a two-head model.

    Raises:
        ExportGateError: the artifact gave none (it lost the age head).
    """
    if heads.age is None:
        raise ExportGateError("the artifact gives no age, though the Keras model it came from does")
    return heads.age


def _int8_gate(ctx: ExportContext, heads: gate.Heads) -> tuple[gate.GateCheck, ...]:
    """Lose at most half a point of test accuracy, and add at most 0.3 years of age MAE, against
    the FP32 ONNX."""
    fp32, tests = ctx.fp32.manifest.accuracy, ctx.tests
    accuracy = tests.accuracy(heads.p_female)
    checks = (
        gate.finite_check(heads.p_female),
        gate.accuracy_drop_check(fp32["accuracy"], accuracy, gate.MAX_INT8_ACCURACY_DROP),
    )
    if tests.keras_age is None:
        return checks
    ages = _ages(heads)
    mae_rise = gate.age_mae_rise_check(fp32["age_mae"], tests.age_mae(ages), gate.MAX_INT8_AGE_MAE_RISE)
    return (*checks, gate.finite_check(ages, "ages"), mae_rise)


_FP32_PARITY = _parity(gate.MAX_ABS_DIFF, gate.MAX_AGE_ABS_DIFF)
_FP16_PARITY = _parity(gate.MAX_FP16_ABS_DIFF, gate.MAX_FP16_AGE_ABS_DIFF)
FP32 = ArtifactFormat("fp32", ".onnx", "onnx", "fp32", "", _build_fp32, _FP32_PARITY)
FORMATS: tuple[ArtifactFormat, ...] = (
    FP32,
    ArtifactFormat("int8", "_int8.onnx", "onnx", "int8", "-int8", _build_int8, _int8_gate),
    ArtifactFormat("fp16", "_fp16.onnx", "onnx", "fp16", "-fp16", _build_fp16, _FP16_PARITY),
    ArtifactFormat(
        "trt_fp16",
        "_trt_fp16.engine",
        "tensorrt",
        "fp16",
        "-trt-fp16",
        _build_engine,
        _FP16_PARITY,  # an FP16 engine: the FP16 ONNX's limits
        check_first=_log_engine_target,
    ),
)


def formats_of(names: Iterable[str]) -> tuple[ArtifactFormat, ...]:
    """The rows ``names`` asks for, in table order (the FP32 ONNX first: the others are built from it).

    Raises:
        ValueError: a name is not in the table, or the FP32 ONNX is not asked for.
    """
    names = set(names)
    unknown = names - {row.name for row in FORMATS}
    if unknown:
        known = ", ".join(row.name for row in FORMATS)
        raise ValueError(f"no artifact format {', '.join(sorted(unknown))}: the formats are {known}")
    if FP32.name not in names:
        raise ValueError("the FP32 ONNX is always exported: every other artifact is built from it")
    return tuple(row for row in FORMATS if row.name in names)
