"""The manifest: one versioned JSON contract written beside every artifact faceedge makes.

The export stage writes it; the runtime reads it and nothing else to learn what a model file is,
how to feed it and how to read its output. It records the sha256 of every file, so that a
runtime refuses a file that changed after export (:func:`load_artifact`), when the model is
loaded rather than at the first frame.

This module imports only the standard library: the lean runtime depends on it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from faceedge.errors import ModelError

SCHEMA = "faceedge.manifest"
# Version 2 says what each output means and in which unit (model v2 gives an age as well as P(female));
# version 1 manifests, which say neither, are still read.
SCHEMA_VERSION = 2
SUFFIX = ".manifest.json"
# Keys mirrored into an ONNX file's metadata_props, so the file alone says what it is.
METADATA_PREFIX = "faceedge."


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: its name in the model file and how to fill or read it."""

    name: str
    shape: tuple[int | str, ...]  # a string names a dynamic dimension ("batch")
    dtype: str = "float32"
    layout: str | None = None  # "NHWC" or "NCHW" for images
    color: str | None = None  # "RGB" or "BGR" for images
    scale: float = 1.0  # model input = (pixel - mean) * scale
    mean: float = 0.0
    meaning: str = ""  # for an output: what it says ("P(female)", "age"); "" in version 1
    unit: str = ""  # for an output: "probability", "years"; "" in version 1

    @classmethod
    def from_dict(cls, values: dict) -> TensorSpec:
        values = dict(values)
        values["shape"] = tuple(values["shape"])
        return cls(**values)


@dataclass(frozen=True)
class Manifest:
    """What an artifact is. ``files`` maps each file name (beside the manifest) to its sha256."""

    model_id: str
    task: str  # "gender" or "face-detection"
    format: str  # "onnx" or "tensorrt"
    precision: str  # "fp32", "fp16" or "int8"
    files: dict[str, str]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    labels: tuple[str, ...] = ()
    decision: dict[str, Any] = field(default_factory=dict)  # output kind, positive label, threshold
    preprocessing: dict[str, Any] = field(default_factory=dict)  # crop, resize: how inputs are made
    accuracy: dict[str, Any] = field(default_factory=dict)  # measured at export, with what it compares to
    source: dict[str, Any] = field(default_factory=dict)  # what it was made from (file, sha256)
    tools: dict[str, str] = field(default_factory=dict)  # versions of what made it
    extra: dict[str, Any] = field(default_factory=dict)  # per-format data (opset, engine's GPU, anchors)
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION

    @property
    def model_file(self) -> str:
        """The file a backend opens: the first one listed."""
        return next(iter(self.files))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Manifest:
        values = dict(values)
        values["inputs"] = tuple(TensorSpec.from_dict(v) for v in values["inputs"])
        values["outputs"] = tuple(TensorSpec.from_dict(v) for v in values["outputs"])
        values["labels"] = tuple(values.get("labels", ()))
        return cls(**values)

    def metadata_props(self) -> dict[str, str]:
        """The fields an ONNX file carries about itself (strings, as ONNX metadata requires)."""
        return {
            f"{METADATA_PREFIX}schema": f"{self.schema}/{self.schema_version}",
            f"{METADATA_PREFIX}model_id": self.model_id,
            f"{METADATA_PREFIX}task": self.task,
            f"{METADATA_PREFIX}precision": self.precision,
            f"{METADATA_PREFIX}labels": json.dumps(list(self.labels)),
            f"{METADATA_PREFIX}inputs": json.dumps([asdict(s) for s in self.inputs]),
            f"{METADATA_PREFIX}outputs": json.dumps([asdict(s) for s in self.outputs]),
            f"{METADATA_PREFIX}decision": json.dumps(self.decision),
            f"{METADATA_PREFIX}preprocessing": json.dumps(self.preprocessing),
        }


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(artifact: str | Path) -> Path:
    """Where the manifest of ``artifact`` lives: ``gender.onnx`` -> ``gender.manifest.json``."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.stem + SUFFIX)


def write_manifest(manifest: Manifest, artifact: str | Path) -> Path:
    path = manifest_path(artifact)
    path.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n", encoding="utf-8")
    return path


def read_manifest(path: str | Path) -> Manifest:
    """Read and check a manifest file (not the files it lists: see :func:`load_artifact`).

    Raises:
        ModelError: the file is missing, not JSON, of another schema or a newer version.
    """
    path = Path(path)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(
            f"no manifest at {path}: faceedge runs only artifacts made by `faceedge export`"
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the manifest {path}: {exc}") from exc
    if not isinstance(values, dict) or values.get("schema") != SCHEMA:
        raise ModelError(f"{path} is not a faceedge manifest")
    version = values.get("schema_version")
    if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
        raise ModelError(
            f"{path} has manifest version {version}; this faceedge reads versions 1 to "
            f"{SCHEMA_VERSION}: re-export the model or upgrade faceedge"
        )
    try:
        manifest = Manifest.from_dict(values)
    except (KeyError, TypeError) as exc:
        raise ModelError(f"the manifest {path} is incomplete: {exc}") from exc
    if not manifest.files:
        raise ModelError(f"the manifest {path} lists no file")
    return manifest


def load_artifact(path: str | Path) -> tuple[Manifest, Path]:
    """The manifest of an artifact and the model file to open, after checking every file's sha256.

    ``path`` is the model file or its manifest.

    Raises:
        ModelError: no manifest, a listed file is missing, or its bytes differ from the export's.
    """
    path = Path(path)
    manifest_file = path if path.name.endswith(SUFFIX) else manifest_path(path)
    manifest = read_manifest(manifest_file)
    folder = manifest_file.parent
    if not path.name.endswith(SUFFIX) and path.name not in manifest.files:
        raise ModelError(
            f"the manifest {manifest_file} describes {', '.join(manifest.files)}, not {path.name}"
        )
    for name, expected in manifest.files.items():
        file = folder / name
        if not file.is_file():
            raise ModelError(f"{file} is listed in {manifest_file.name} but missing")
        if sha256_file(file) != expected:
            raise ModelError(
                f"{file} is not the file that was exported (its sha256 differs from {manifest_file.name}): "
                "refusing a changed or corrupted model; export it again"
            )
    return manifest, folder / manifest.model_file


def check_io(manifest: Manifest, kind: str, actual: list[tuple[str, tuple]], source: str) -> None:
    """Check that a loaded model's inputs or outputs are the manifest's: names, ranks, fixed sizes.

    ``kind`` is "inputs" or "outputs"; ``actual`` lists ``(name, shape)`` as the engine reports them,
    a dynamic dimension as a string or None.

    Raises:
        ModelError: a name, rank or fixed dimension differs.
    """
    expected = {spec.name: spec.shape for spec in getattr(manifest, kind)}
    found = dict(actual)
    if set(found) != set(expected):
        raise ModelError(
            f"{source} has {kind} {sorted(found)} where its manifest says {sorted(expected)}: "
            "the model and its manifest do not belong together"
        )
    for name, shape in expected.items():
        real = tuple(found[name])
        fixed_differs = any(
            isinstance(want, int) and isinstance(got, int) and want != got for want, got in zip(shape, real)
        )
        if len(real) != len(shape) or fixed_differs:
            raise ModelError(f"{source}: {kind[:-1]} {name!r} has shape {real}, its manifest says {shape}")


# The training record: what the training stage did, written beside its model as training.json and
# read by the export stage. Records written before it carried a schema are read as version 1.
TRAINING_SCHEMA = "faceedge.training"
TRAINING_SCHEMA_VERSION = 1
TRAINING_FILE = "training.json"


@dataclass(frozen=True, kw_only=True)
class TrainingRecord:
    """How a model was trained: its architecture and input, how long it trained and on what, the best
    validation figures, the machine and the versions.

    ``input`` describes the pixels the model takes (name, shape, layout, colour, range, crop, resize);
    ``outputs`` names each output with what it holds (empty in records from before model v2, whose
    one output is ``output``); ``best_epoch`` and the figures at it are None when no epoch completed.
    """

    arch: str
    img_size: int
    labels: tuple[str, ...]
    output: str
    outputs: dict[str, str] = field(default_factory=dict)
    input: dict[str, Any]
    parameters: int
    model_bytes: int
    flops_per_image: int
    epochs_run: int
    best_epoch: int | None
    best_val_accuracy: float | None
    epoch_seconds_median: float | None
    epoch_seconds: tuple[float, ...]
    fit_seconds_this_session: float
    images: dict[str, int]  # train, val, test
    precision_policy: str
    replicas: int
    gpus: tuple[str, ...]
    machine: dict[str, Any]  # platform, processor, cpu_count
    versions: dict[str, str]  # python, tensorflow, keras, numpy, opencv
    best_val_age_mae: float | None = None  # a two-head model's, at the best epoch
    best_val_raw_accuracy: float | None = None  # with weight averaging: the weights as trained
    schema: str = TRAINING_SCHEMA
    schema_version: int = TRAINING_SCHEMA_VERSION

    def to_dict(self) -> dict:
        values = asdict(self)
        for name in ("labels", "epoch_seconds", "gpus"):
            values[name] = list(values[name])
        return values

    @classmethod
    def from_dict(cls, values: dict) -> TrainingRecord:
        values = dict(values)
        for name in ("labels", "epoch_seconds", "gpus"):
            values[name] = tuple(values[name])
        return cls(**values)


def write_training_record(record: TrainingRecord, path: str | Path) -> Path:
    """Write ``record`` as JSON at ``path`` (a run's :data:`TRAINING_FILE`)."""
    path = Path(path)
    path.write_text(json.dumps(record.to_dict(), indent=2) + "\n", encoding="utf-8")
    return path


def read_training_record(path: str | Path) -> TrainingRecord:
    """Read and check a training record written by :func:`write_training_record`; a record without
    ``schema`` and ``schema_version`` (written before they existed) is read as version 1.

    Raises:
        ModelError: the file is missing, not JSON, of another schema, a newer version, or incomplete.
    """
    path = Path(path)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the training record {path}: {exc}") from exc
    if not isinstance(values, dict) or values.setdefault("schema", TRAINING_SCHEMA) != TRAINING_SCHEMA:
        raise ModelError(f"{path} is not a faceedge training record")
    version = values.setdefault("schema_version", 1)
    if not isinstance(version, int) or not 1 <= version <= TRAINING_SCHEMA_VERSION:
        raise ModelError(
            f"{path} has training record version {version}; this faceedge reads versions 1 to "
            f"{TRAINING_SCHEMA_VERSION}: upgrade faceedge"
        )
    try:
        return TrainingRecord.from_dict(values)
    except (KeyError, TypeError) as exc:
        raise ModelError(f"the training record {path} is incomplete: {exc}") from exc
