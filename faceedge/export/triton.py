"""An NVIDIA Triton Inference Server model repository for the exported gender classifier.

One model per artifact: ``faceedge_gender`` (the ONNX Runtime backend, FP32 ONNX) and, where an
engine was built, ``faceedge_gender_trt`` (the TensorRT backend). Each has dynamic batching and an
instance group; inputs and outputs are written from the artifact's manifest, the same contract
the faceedge runtime reads, so the served model is fed exactly like the local one.

The instance kind (``KIND_GPU`` or ``KIND_CPU``) applies to the ONNX models only: Triton's TensorRT
backend runs a plan on a GPU or not at all ("supports only GPU device"), so the engine's model is
always ``KIND_GPU``.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from faceedge.errors import ModelError
from faceedge.export.artifact import ExportedArtifact
from faceedge.manifest import TensorSpec

log = logging.getLogger(__name__)

# What Triton calls each artifact format and the file name it looks for in a version folder.
BACKENDS = {
    "onnx": ("onnxruntime", "model.onnx", "faceedge_gender"),
    "tensorrt": ("tensorrt", "model.plan", "faceedge_gender_trt"),
}
_DTYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "uint8": "TYPE_UINT8"}


@dataclass(frozen=True)
class TritonOptions:
    """How Triton serves the model: the largest batch, how many copies, where they run."""

    max_batch: int = 64
    instances: int = 1
    kind: str = "KIND_GPU"  # or KIND_CPU, for the ONNX models only (see instance_kind)
    preferred_batches: tuple[int, ...] = (8, 32)
    max_queue_delay_us: int = 500


def _tensor(spec: TensorSpec, with_format: bool) -> str:
    dims = ", ".join(str(d) for d in spec.shape[1:])  # Triton leaves the batch dimension out
    fields = [f'name: "{spec.name}"', f"data_type: {_DTYPES[spec.dtype]}"]
    if with_format and spec.layout in ("NHWC", "NCHW"):
        fields.append(f"format: FORMAT_{spec.layout}")
    fields.append(f"dims: [ {dims} ]")
    return "  {\n    " + "\n    ".join(fields) + "\n  }"


def instance_kind(artifact_format: str, options: TritonOptions) -> str:
    """Where Triton runs the instances of a model of ``artifact_format``: a TensorRT plan always on
    the GPU (Triton's TensorRT backend refuses ``KIND_CPU``), an ONNX model where ``options`` say."""
    return "KIND_GPU" if artifact_format == "tensorrt" else options.kind


def model_config(artifact: ExportedArtifact, options: TritonOptions) -> str:
    """The ``config.pbtxt`` of one artifact.

    Raises:
        ModelError: a TensorRT engine whose profile does not take batches from 1.
    """
    backend, _, name = BACKENDS[artifact.manifest.format]
    kind = instance_kind(artifact.manifest.format, options)
    if kind != options.kind:
        log.warning(
            "%s: a TensorRT plan runs only on a GPU; its instances are %s, not %s", name, kind, options.kind
        )
    max_batch = options.max_batch
    if artifact.manifest.format == "tensorrt":
        profile = artifact.manifest.extra["profile"]
        if int(profile["min"]) > 1:  # Triton sends whatever batch it has formed, down to one
            raise ModelError(
                f"{artifact.path.name} accepts batches from {profile['min']}, but Triton sends batches "
                "from 1: build the engine with --min-batch 1 to serve it with Triton"
            )
        if max_batch > int(profile["max"]):
            log.warning(
                "%s: Triton's max batch lowered from %d to the engine's %s", name, max_batch, profile["max"]
            )
            max_batch = int(profile["max"])
    preferred = ", ".join(str(b) for b in options.preferred_batches if b <= max_batch)
    inputs = ",\n".join(_tensor(s, True) for s in artifact.manifest.inputs)
    outputs = ",\n".join(_tensor(s, False) for s in artifact.manifest.outputs)
    batching = f"  max_queue_delay_microseconds: {options.max_queue_delay_us}\n"
    if preferred:
        batching = f"  preferred_batch_size: [ {preferred} ]\n" + batching
    return (
        f"# {artifact.manifest.model_id}, written by faceedge export from {artifact.path.name}\n"
        f'name: "{name}"\n'
        f'backend: "{backend}"\n'
        f"max_batch_size: {max_batch}\n"
        f"input [\n{inputs}\n]\n"
        f"output [\n{outputs}\n]\n"
        f"dynamic_batching {{\n{batching}}}\n"
        f"instance_group [\n  {{\n    count: {options.instances}\n    kind: {kind}\n  }}\n]\n"
    )


def write_triton_repository(
    artifacts: list[ExportedArtifact], repository: str | Path, options: TritonOptions | None = None
) -> list[Path]:
    """Write a model (config, version 1, manifest) for each FP32 ONNX or TensorRT artifact.

    Returns the model folders written; an existing model folder of the same name is replaced.

    Raises:
        ModelError: a TensorRT engine whose profile does not take batches from 1.
    """
    options = options or TritonOptions()
    repository = Path(repository)
    written = []
    for artifact in artifacts:
        fmt = artifact.manifest.format
        if fmt not in BACKENDS or (fmt == "onnx" and artifact.manifest.precision != "fp32"):
            continue
        _, filename, name = BACKENDS[fmt]
        folder = repository / name
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "1").mkdir(parents=True)
        shutil.copyfile(artifact.path, folder / "1" / filename)
        # The manifest travels with the file under the name Triton gives it, so it still checks it.
        served = replace(
            artifact.manifest, files={f"1/{filename}": artifact.manifest.files[artifact.manifest.model_file]}
        )
        (folder / "faceedge.manifest.json").write_text(json.dumps(served.to_dict(), indent=2) + "\n")
        (folder / "config.pbtxt").write_text(model_config(artifact, options), encoding="utf-8")
        written.append(folder)
    return written
