"""How a :class:`~faceedge.runtime.pipeline.FacePipeline` is made: one frozen record, checked once.

`faceedge run`, `faceedge serve` and integrators all build a :class:`PipelineConfig`; the pipeline,
the run and the server read it and restate none of its fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faceedge.errors import BackendError, ModelError
from faceedge.runtime.backends import BACKENDS
from faceedge.runtime.detection import DetectorChoice

# A tracked face is classified again every third frame (ten times a second at 30 FPS); its label is
# smoothed over frames anyway, and on a 2-core CPU this lifts the demo from about 110 to 180 FPS
# (benchmarks/pipeline_speed.py).
CLASSIFY_EVERY = 3
# With tracking, the detector may skip every other frame while every tracked face holds still
# (moves under STEADY_MOTION of its width a frame): the tracker then says where the faces are.
DETECT_EVERY = 2
STEADY_MOTION = 0.05
MIN_FACE = 20  # pixels: narrower faces are not classified
# What a pipeline runs: exported artifacts, whose manifests say how to crop and feed them. A .keras
# model has no such manifest, so the Keras row of the backend table is not a pipeline backend.
PIPELINE_ARTIFACTS = (".onnx", ".engine")
# Which bundled classifier runs: `auto` takes INT8 on a CPU fast at it (faceedge.runtime.precision).
PRECISIONS = ("auto", "fp32", "int8")
# The backends the bundled INT8 classifier runs on: `auto` then resolves to the CPU.
INT8_BACKENDS = ("auto", "cpu")


def pipeline_backends() -> list[str]:
    """The backends a pipeline takes: ``auto`` and the rows of the backend table that run exported
    artifacts, fastest first."""
    return ["auto", *(name for name, kind in BACKENDS.items() if kind.artifact_suffix in PIPELINE_ARTIFACTS)]


@dataclass(frozen=True)
class PipelineConfig:
    """What a pipeline runs and how; every field has the default of ``FacePipeline()``.

    Args:
        model: a gender artifact (``.onnx`` or ``.engine`` with its manifest), run as it is; None:
            a bundled ONNX model, chosen by ``precision``.
        backend: ``auto`` (the fastest that works here) or a row of the backend table that runs
            exported artifacts (:func:`pipeline_backends`). An explicit choice that cannot run
            here is an error when the pipeline opens.
        detector: bundled BlazeFace ``short`` or ``full`` range, or ``yunet`` (with
            ``detector_model``); a :class:`DetectorChoice` or its value.
        detector_model: the detector's file; None: the bundled one (YuNet is not bundled).
        min_score, nms_iou: detection score threshold and merging overlap, in [0, 1]; None: the
            detector model's own.
        detect: False treats every frame as one face chip already (datasets of crops).
        track: False classifies every frame on its own (still images); no track ids.
        min_face: faces narrower than this many pixels (at least 1) are not classified.
        classify_every: with tracking, classify each tracked face every this many frames (new
            faces at once) and keep its smoothed probability in between; 1 classifies every face
            of every frame. Without tracking every face of every frame is classified.
        detect_every: with tracking, the detector may skip frames, looking at least every this
            many frames, while every tracked face holds still (started, found the last time the
            detector looked, moving under 5 % of its width a frame; frames dropped by a live source
            make it look again). The faces of a skipped frame are where their tracks expect them,
            classified as ``classify_every`` says; each ``FrameResult`` says whether the detector
            looked. 1 runs the detector on every frame.
        cache_dir: where the TensorRT provider caches its engines.
        precision: which bundled classifier runs: ``auto`` the INT8 one where the classifier runs
            on the CPU, the CPU has fast integer dot products (VNNI, ARM dot product) and the INT8
            artifact passed its export gate, else the FP32 one; ``fp32`` or ``int8`` outright
            (``int8`` on the CPU backend). Only ``auto`` with a ``model`` of one's own.

    Raises:
        ValueError: a field out of its range, an unknown backend, detector or precision.
        BackendError: a model that is not an exported artifact (a ``.keras`` model, say), or
            precision int8 with a GPU backend.
        ModelError: a precision other than ``auto`` with a ``model``.
    """

    model: str | Path | None = None
    backend: str = "auto"
    detector: DetectorChoice = DetectorChoice.short
    detector_model: str | Path | None = None
    min_score: float | None = None
    nms_iou: float | None = None
    detect: bool = True
    track: bool = True
    min_face: int = MIN_FACE
    classify_every: int = CLASSIFY_EVERY
    detect_every: int = DETECT_EVERY
    cache_dir: Path | None = None
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.model is not None and Path(self.model).suffix.lower() not in PIPELINE_ARTIFACTS:
            raise BackendError(
                f"a pipeline runs {' and '.join(PIPELINE_ARTIFACTS)} artifacts made by the export stage, "
                f"not {Path(self.model).name}"
            )
        backends = pipeline_backends()
        if self.backend not in backends:
            raise ValueError(f"unknown backend {self.backend!r}; choose one of {', '.join(backends)}")
        try:
            # Frozen: the detector's value ("yunet") is stored as its choice once, here.
            object.__setattr__(self, "detector", DetectorChoice(self.detector))
        except ValueError:
            choices = ", ".join(choice.value for choice in DetectorChoice)
            raise ValueError(f"unknown detector {self.detector!r}; choose one of {choices}") from None
        for name in ("min_score", "nms_iou"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], not {value}")
        self._check_precision()
        if self.min_face < 1:
            raise ValueError(f"min_face must be 1 or more, not {self.min_face}")
        for name in ("classify_every", "detect_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be 1 or more, not {getattr(self, name)}")

    def _check_precision(self) -> None:
        """Raises: ValueError, ModelError, BackendError as :class:`PipelineConfig` says."""
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if self.model is not None and self.precision != "auto":
            raise ModelError(
                f"`precision` {self.precision} chooses among the bundled classifiers; a `model` of "
                "your own runs as it is (leave `precision` auto)"
            )
        if self.precision == "int8" and self.backend not in INT8_BACKENDS:
            raise BackendError(
                f"the bundled INT8 classifier runs on the cpu backend, not {self.backend}: "
                "leave `precision` auto (FP32 on a GPU) or use `backend` cpu"
            )
