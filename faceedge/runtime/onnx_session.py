"""Opening an exported ONNX artifact with ONNX Runtime, checked against its manifest first."""

from __future__ import annotations

from pathlib import Path


def open_onnx_artifact(path: str | Path, task: str):
    """The manifest of the artifact at ``path`` and a CPU ONNX Runtime session on it.

    The file's sha256 is checked before it is opened, and the session's inputs and outputs after.

    Raises:
        ModelError: no manifest, a changed file, another task, or a model that does not match it.
        MissingExtraError: ONNX Runtime is not installed.
        BackendError: ONNX Runtime cannot open it.
    """
    from faceedge.runtime.backends.onnxruntime import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(path, task, "cpu")
    return backend.manifest, backend.session
