"""Opening an exported ONNX artifact with ONNX Runtime, checked against its manifest first."""

from __future__ import annotations

from pathlib import Path

from faceedge.errors import ModelError, require
from faceedge.manifest import check_io, load_artifact


def open_onnx_artifact(path: str | Path, task: str):
    """The manifest of the artifact at ``path`` and a CPU ONNX Runtime session on it.

    The file's sha256 is checked before it is opened, and the session's inputs and outputs after.

    Raises:
        ModelError: no manifest, a changed file, another task, or a model that does not match it.
        MissingExtraError: ONNX Runtime is not installed.
    """
    ort = require("onnxruntime", "cpu")
    manifest, model_file = load_artifact(path)
    if manifest.task != task:
        raise ModelError(f"{path} is a {manifest.task} model, not a {task} model")
    try:
        session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime raises its own untyped errors for unreadable models
        raise ModelError(f"ONNX Runtime cannot open {model_file}: {exc}") from exc
    check_io(manifest, "inputs", [(i.name, i.shape) for i in session.get_inputs()], str(path))
    check_io(manifest, "outputs", [(o.name, o.shape) for o in session.get_outputs()], str(path))
    return manifest, session
