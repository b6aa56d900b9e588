"""Writing an artifact only once it has passed its gate.

The ONNX file and its manifest are written to a staging folder beside the output, opened there
the way the runtime opens them (through the manifest), measured, and moved into place only when
every check passes. A refused artifact leaves nothing at its output path, and an older artifact
there stays as it was.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from faceedge.errors import ExportGateError
from faceedge.export.gate import GateCheck
from faceedge.export.keras_onnx import count_ops, set_metadata
from faceedge.manifest import Manifest, manifest_path, sha256_file, write_manifest

log = logging.getLogger(__name__)

# Opens the staged artifact and measures it: the gate's checks, the figures for the manifest's
# ``accuracy`` record, and whatever the caller wants back (predictions, detections).
Measure = Callable[[Path], tuple[tuple[GateCheck, ...], dict[str, Any], Any]]


@dataclass(frozen=True)
class ExportedArtifact:
    """One artifact that passed its gate and was written."""

    path: Path
    manifest: Manifest
    checks: tuple[GateCheck, ...]
    measured: Any  # what the measurement returned besides the checks (e.g. test predictions)

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


def tool_versions() -> dict[str, str]:
    """The versions of what makes ONNX artifacts, for their manifests."""
    import onnx
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    from faceedge import __version__

    return {
        "faceedge": __version__,
        "tensorflow": tf.__version__,
        "tf2onnx": tf2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def publish_gated(artifact, path: Path, manifest: Manifest, measure: Measure) -> ExportedArtifact:
    """Write ``artifact`` (an ONNX ``ModelProto``, or the bytes of an engine) to ``path`` with its
    manifest if ``measure`` finds every check passed. An ONNX gets the manifest's key fields as
    metadata and its Transpose count in the manifest.

    Raises:
        ExportGateError: a check failed; nothing was written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".faceedge-export-", dir=path.parent))
    try:
        staged = staging / path.name
        extra = dict(manifest.extra)
        if isinstance(artifact, bytes):
            staged.write_bytes(artifact)
        else:
            set_metadata(artifact, manifest.metadata_props())
            staged.write_bytes(artifact.SerializeToString())
            extra["transposes"] = count_ops(artifact, "Transpose")
        manifest = replace(manifest, files={path.name: sha256_file(staged)}, extra=extra)
        write_manifest(manifest, staged)

        checks, accuracy, measured = measure(staged)
        if not checks:
            raise ExportGateError(f"{path.name} refused, nothing written: its gate measured nothing")
        for check in checks:
            log.info("%s: %s", path.name, check.describe())
        failed = [c for c in checks if not c.passed]
        if failed:
            raise ExportGateError(
                f"{path.name} refused, nothing written: " + "; ".join(c.describe() for c in failed)
            )
        gate = [{"check": c.name, "measured": c.measured, "limit": c.limit} for c in checks]
        manifest = replace(manifest, accuracy={**accuracy, "gate": gate})
        staged_manifest = write_manifest(manifest, staged)
        os.replace(staged, path)
        os.replace(staged_manifest, manifest_path(path))
        log.info("wrote %s and %s", path, manifest_path(path).name)
        return ExportedArtifact(path, manifest, checks, measured)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
