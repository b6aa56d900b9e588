"""The lean runtime: numpy, OpenCV and ONNX Runtime only (never TensorFlow), fed by manifests.

``from faceedge.runtime import FacePipeline`` is the integrators' entry point (see
:mod:`faceedge.runtime.pipeline`); it is imported on first use, so that importing one module of
the runtime does not load the others.
"""

from __future__ import annotations

_PUBLIC = {"FacePipeline", "Face", "FrameResult"}


def __getattr__(name: str):
    if name in _PUBLIC:
        from faceedge.runtime import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'faceedge.runtime' has no attribute {name!r}")
