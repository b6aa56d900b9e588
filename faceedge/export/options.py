"""What one export was asked to do: :class:`ExportOptions`, and the record of it kept in each manifest.

The record (:class:`ExportRecord`: the model, the data, the output folder and the options) is stored
under ``extra["export"]`` of every manifest the gender export writes, with a version, so that any
artifact says how it was made and the command that makes it again can be rendered from it
(:func:`rebuild_command`). This module holds data only; it builds nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from faceedge.errors import ModelError
from faceedge.export.gate import PROBE_IMAGES
from faceedge.export.keras_onnx import DEFAULT_OPSET
from faceedge.export.quantize import CALIBRATION_IMAGES
from faceedge.export.tensorrt import DEFAULT_WORKSPACE_MIB, BatchProfile
from faceedge.export.triton import TritonOptions

RECORD_KEY = "export"  # where a manifest's ``extra`` holds the record
RECORD_VERSION = 1
TIMING_CACHE = "timing.cache"  # the engine's timing cache in the output folder, unless one is given


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """How to export a gender model; the defaults are those of ``faceedge export gender``.

    ``formats`` names rows of :data:`faceedge.export.formats.FORMATS` (``fp32``, ``int8``, ``fp16``,
    ``trt_fp16``); the FP32 ONNX is always among them, since every other artifact is built from it.
    ``split_file`` is the split to gate on (by default the one beside the model, else the default
    split); ``nchw`` gives the ONNX an NCHW input (no leading Transpose, for TensorRT);
    ``framing_from`` is an artifact or manifest whose chip framing to reuse instead of measuring it;
    ``triton_dir`` also writes a Triton model repository there. ``name`` is the artifacts' file stem.
    """

    formats: tuple[str, ...] = ("fp32",)
    split_file: Path | None = None
    nchw: bool = False
    opset: int = DEFAULT_OPSET
    calibration_images: int = CALIBRATION_IMAGES
    probe_images: int = PROBE_IMAGES
    profile: BatchProfile = field(default_factory=BatchProfile)
    workspace_mib: int = DEFAULT_WORKSPACE_MIB
    timing_cache: Path | None = None
    framing_from: Path | None = None
    triton_dir: Path | None = None
    triton: TritonOptions = field(default_factory=TritonOptions)
    name: str = "gender"

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON values (paths as strings)."""
        values = asdict(self)
        for key, value in values.items():
            if isinstance(value, Path):
                values[key] = str(value)
        values["formats"] = list(self.formats)
        values["triton"]["preferred_batches"] = list(self.triton.preferred_batches)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ExportOptions:
        """The options :meth:`to_dict` wrote.

        Raises:
            ModelError: the values are not such options.
        """
        try:
            values = dict(values)
            for key in ("split_file", "timing_cache", "framing_from", "triton_dir"):
                values[key] = None if values.get(key) is None else Path(values[key])
            triton = dict(values["triton"])
            triton["preferred_batches"] = tuple(triton["preferred_batches"])
            return cls(
                **{
                    **values,
                    "formats": tuple(values["formats"]),
                    "profile": BatchProfile(**values["profile"]),
                    "triton": TritonOptions(**triton),
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"not a record of export options: {exc}") from exc


@dataclass(frozen=True)
class ExportRecord:
    """One export as it was asked for: what it read, where it wrote, with which options."""

    model: Path
    data: Path
    out: Path
    options: ExportOptions

    @property
    def timing_cache(self) -> Path:
        """The TensorRT timing cache the engine build reads and updates."""
        return self.options.timing_cache or self.out / TIMING_CACHE

    def to_dict(self) -> dict[str, Any]:
        """The record as stored in a manifest's ``extra[RECORD_KEY]``."""
        return {
            "version": RECORD_VERSION,
            "model": str(self.model),
            "data": str(self.data),
            "out": str(self.out),
            "options": self.options.to_dict(),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ExportRecord:
        """The record :meth:`to_dict` wrote.

        Raises:
            ModelError: it is of another version, or not such a record.
        """
        if not isinstance(values, dict) or values.get("version") != RECORD_VERSION:
            version = values.get("version") if isinstance(values, dict) else None
            raise ModelError(f"an export record of version {version}; this faceedge reads {RECORD_VERSION}")
        try:
            paths = (Path(values[key]) for key in ("model", "data", "out"))
            return cls(*paths, ExportOptions.from_dict(values["options"]))
        except (KeyError, TypeError) as exc:
            raise ModelError(f"not an export record: {exc}") from exc


def _engine_flags(record: ExportRecord) -> list[str]:
    profile = record.options.profile
    return [
        f"--min-batch {profile.min} --opt-batch {profile.opt} --max-batch {profile.max}",
        f"--workspace-mib {record.options.workspace_mib} --timing-cache {record.timing_cache}",
    ]


# The options of `faceedge export gender` that shape each format's artifact, beyond those that shape
# the FP32 ONNX every artifact is built from.
_FORMAT_FLAGS = {
    "fp32": lambda record: [],
    "int8": lambda record: ["--int8", f"--calibration-images {record.options.calibration_images}"],
    "fp16": lambda record: ["--fp16"],
    "trt_fp16": lambda record: ["--trt-fp16", *_engine_flags(record)],
}


def rebuild_command(record: ExportRecord, artifact_format: str) -> str:
    """The ``faceedge export gender`` command that makes the ``artifact_format`` artifact of
    ``record`` again, with every setting that shaped it (and the FP32 ONNX it is built from)."""
    options = record.options
    words = [f"faceedge export gender {record.model}", f"--data {record.data}", f"--out {record.out}"]
    words.append(f"--opset {options.opset}")
    if options.split_file is not None:
        words.append(f"--split-file {options.split_file}")
    if options.framing_from is not None:
        words.append(f"--framing-from {options.framing_from}")
    if options.nchw:
        words.append("--inputs-as-nchw")
    return " ".join(words + _FORMAT_FLAGS[artifact_format](record))
