"""The lean runtime: numpy, OpenCV and ONNX Runtime only (never TensorFlow), fed by manifests.

``from faceedge.runtime import FacePipeline, PipelineConfig`` is the integrators' entry point (see
:mod:`faceedge.runtime.pipeline`). The names below are imported on first use, so that importing one
module of the runtime does not load the others; editors and type checkers see them through the
``TYPE_CHECKING`` imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faceedge.runtime.config import PipelineConfig
    from faceedge.runtime.pipeline import Face, FacePipeline, FrameResult
    from faceedge.runtime.tracker import TrackEvent

# Written out, not derived, so that editors and type checkers read it (a test keeps the three lists
# of names, here, below and in the TYPE_CHECKING imports, the same).
__all__ = ["Face", "FacePipeline", "FrameResult", "PipelineConfig", "TrackEvent"]

# Where each public name lives.
_MODULES = {
    "Face": "faceedge.runtime.pipeline",
    "FacePipeline": "faceedge.runtime.pipeline",
    "FrameResult": "faceedge.runtime.pipeline",
    "PipelineConfig": "faceedge.runtime.config",
    "TrackEvent": "faceedge.runtime.tracker",
}


def __getattr__(name: str):
    if name in _MODULES:
        import importlib

        return getattr(importlib.import_module(_MODULES[name]), name)
    raise AttributeError(f"module 'faceedge.runtime' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
