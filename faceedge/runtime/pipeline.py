"""The runtime pipeline and its Python API: a BGR frame in, the faces with their gender (and age) out.

    from faceedge.runtime import FacePipeline

    with FacePipeline() as pipeline:          # bundled classifier and detector, fastest backend
        result = pipeline.process(frame)      # frame: BGR uint8, as OpenCV reads it
        for face in result.faces:
            print(face.box, face.gender, face.p_female, face.age, face.age_group, face.track)

One object, created once: it opens the models (checking each against its manifest) when it is
made, not at the first frame. Per frame: detection, crops framed like the training chips, one
batched classifier call for all faces (both heads of a two-head model), then the tracker, which
gives each face a track id and smooths its probability and age so labels do not flicker. While
every tracked face holds still, the detector skips frames (every other one by default) and the
tracker says where the faces are (``PipelineConfig.detect_every``; ``FrameResult.detected``).
A gender-only model gives every face ``age`` and ``age_group`` None (null in JSON).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceedge.ages import predicted_age_group
from faceedge.bundled import bundled_path
from faceedge.errors import ModelError
from faceedge.imaging import chip_to_input
from faceedge.runtime.classifier import GenderClassifier
from faceedge.runtime.config import STEADY_MOTION, PipelineConfig
from faceedge.runtime.crop import ChipTemplate, FaceCropper
from faceedge.runtime.detection import Detection, DetectorChoice, FaceDetector
from faceedge.runtime.precision import open_bundled_classifier
from faceedge.runtime.tracker import FaceTracker, TrackEvent

log = logging.getLogger(__name__)

STAGES = ("detect", "crop", "classify", "track")


@dataclass(frozen=True)
class Face:
    """One face in a frame. ``box`` is ``(x, y, w, h)`` in pixels, clamped to the image;
    ``landmarks`` are the detector's keypoints, named in order by ``landmark_names``; ``p_female``
    and ``age`` (years) are smoothed over the face's track when tracking is on. ``age_group`` is the
    age's group (:func:`faceedge.ages.predicted_age_group`); both are None for a gender-only model."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: tuple[tuple[float, float], ...]
    gender: str
    p_female: float
    track: int | None = None
    landmark_names: tuple[str, ...] = ()
    age: float | None = None
    age_group: str | None = None

    def to_dict(self) -> dict:
        """The face as plain JSON types; ``age`` (one decimal) and ``age_group`` are null for a
        gender-only model, so that every model gives the same keys."""
        return {
            "box": [round(v, 1) for v in self.box],
            "score": round(self.score, 4),
            "gender": self.gender,
            "p_female": round(self.p_female, 4),
            "age": None if self.age is None else round(self.age, 1),
            "age_group": self.age_group,
            "track": self.track,
        }


@dataclass(frozen=True)
class FrameResult:
    """What the pipeline found in one frame; ``timings_ms`` holds each stage's milliseconds.
    ``detected`` is False where the detector skipped the frame and the faces are where their
    tracks expected them (see ``PipelineConfig.detect_every``)."""

    source: str
    frame: int
    faces: tuple[Face, ...]
    events: tuple[TrackEvent, ...] = ()
    too_small: int = 0  # faces detected but below the minimum size, not classified (0 if not detected)
    timings_ms: dict[str, float] = field(default_factory=dict)
    detected: bool = True

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "frame": self.frame,
            "detected": self.detected,
            "faces": [f.to_dict() for f in self.faces],
        }


def open_detector(
    detector: DetectorChoice | str = DetectorChoice.short,
    model: str | Path | None = None,
    backend: str = "auto",
    min_score: float | None = None,
    nms_iou: float | None = None,
    cache_dir: Path | None = None,
) -> FaceDetector:
    """A face detector: a bundled BlazeFace (or a BlazeFace artifact at ``model``), or YuNet from
    the ONNX file at ``model``. Scores and suppression default to the model's own settings.

    Raises:
        ModelError: YuNet without its file, or a model that does not load.
        BackendError: the backend cannot run here.
    """
    detector = DetectorChoice(detector)
    if detector is DetectorChoice.yunet:
        from faceedge.runtime.yunet import YuNetDetector

        if model is None:
            raise ModelError("YuNet is not bundled: pass its ONNX file with `detector_model`")
        kwargs = {k: v for k, v in (("min_score", min_score), ("nms_iou", nms_iou)) if v is not None}
        return YuNetDetector(model, **kwargs)
    from faceedge.runtime.blazeface import BlazeFaceDetector

    path = model or bundled_path(f"blazeface_{detector.value}")
    return BlazeFaceDetector(path, min_score, nms_iou, backend=backend, cache_dir=cache_dir)


def _detector_backend(backend: str) -> str:
    # The native TensorRT engine runs the classifier only; the detector then takes the fastest
    # ONNX Runtime backend that works.
    return "auto" if backend == "trt-engine" else backend


class FacePipeline:
    """Detection, crops, one batched classification and tracking, for frame after frame.

    ``FacePipeline()`` runs the bundled models on the fastest backend that works here. A
    :class:`PipelineConfig` says otherwise, and keyword arguments replace single fields of it:
    ``FacePipeline(backend="cpu", track=False)`` is ``FacePipeline(PipelineConfig(backend="cpu",
    track=False))``.

    Raises:
        ValueError: a field out of its range (see :class:`PipelineConfig`).
        TypeError: a keyword that is not a field of PipelineConfig, or a config that is not one.
        ModelError, BackendError: a model that does not load or a backend that cannot run here.
    """

    def __init__(self, config: PipelineConfig | None = None, **overrides) -> None:
        if config is not None and not isinstance(config, PipelineConfig):
            # The model used to be the first argument: say how to pass it now.
            raise TypeError(
                f"FacePipeline takes a PipelineConfig, not a {type(config).__name__}; "
                "pass a model as FacePipeline(model=...)"
            )
        config = config or PipelineConfig()
        if overrides:
            unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(PipelineConfig)})
            if unknown:
                raise TypeError(f"FacePipeline takes the fields of PipelineConfig, not {', '.join(unknown)}")
            config = dataclasses.replace(config, **overrides)
        self.config = config
        if config.model is not None:  # the user's own model runs as it is
            self.classifier = GenderClassifier(config.model, config.backend, config.cache_dir)
        else:  # a bundled one, FP32 or INT8 by config.precision and this machine
            self.classifier = open_bundled_classifier(config)
        self.detector: FaceDetector | None = None
        try:
            if config.detect:
                template = ChipTemplate.from_manifest(self.classifier.manifest)
                self.cropper = FaceCropper(template, self.classifier.input_size, config.min_face)
                self.detector = open_detector(
                    config.detector,
                    config.detector_model,
                    _detector_backend(config.backend),
                    config.min_score,
                    config.nms_iou,
                    config.cache_dir,
                )
        except BaseException:
            self.classifier.close()  # a GPU backend holds device memory: free it before giving up
            raise
        self._track_ids = itertools.count(1)  # one counter: a track id is unique across streams
        self.tracker = self._new_tracker() if config.track else None
        self._streams: dict[str, FaceTracker] = {}  # the tracks of each stream of process_streams
        self._frames = 0

    def _new_tracker(self) -> FaceTracker:
        """A tracker that labels with the classifier's own threshold and labels, drawing its ids
        from the pipeline's one counter."""
        classifier = self.classifier
        return FaceTracker(
            threshold=classifier.threshold,
            positive=classifier.positive,
            negative=classifier.negative,
            ids=self._track_ids,
        )

    @property
    def backends(self) -> dict[str, str]:
        """What runs each model, as ``{"classifier": ..., "detector": ...}``: the backend, the
        precision it computes in, and the providers that really run it."""

        def describe(backend) -> str:
            return f"{backend.name} {backend.precision} ({', '.join(backend.providers)})"

        found = {"classifier": describe(self.classifier.backend)}
        if self.detector is not None:
            backend = self.detector.backend
            found["detector"] = describe(backend) if backend is not None else "OpenCV DNN (CPU)"
        return found

    def prepare(self, bgr: np.ndarray) -> object | None:
        """What of a frame's work can be done ahead, in another thread (the detector's resize), or
        None; hand it to :meth:`process` with the same frame.

        Raises:
            ValueError: ``bgr`` is not a BGR uint8 image ``(h, w, 3)`` with pixels.
        """
        _check_frame(bgr)
        return self.detector.prepare(bgr) if self.detector is not None else None

    def process(
        self, bgr: np.ndarray, frame: int | None = None, source: str = "frame", prepared=None
    ) -> FrameResult:
        """The faces in one BGR uint8 frame ``(h, w, 3)``. ``frame`` defaults to a running count;
        give a stream's real frame indices instead where frames may be dropped, so that the gaps
        show (the detector looks again after a gap). ``prepared`` is :meth:`prepare`'s result for
        this frame, where it was made ahead.

        Raises:
            ValueError: ``bgr`` is not a BGR uint8 image ``(h, w, 3)`` with pixels (None, what a
                failed ``cv2.VideoCapture.read()`` gives, a list, an empty array).
        """
        index = self._frames if frame is None else frame
        self._frames = index + 1
        clock = _Clock()
        located = self._locate(bgr, index, self.tracker, prepared, clock)
        heads = self._classify([located], clock)[0]
        return self._label(located, heads, self.tracker, index, source, clock)

    def process_streams(self, frames: list[tuple[np.ndarray, int, str]]) -> list[FrameResult]:
        """One frame ``(bgr, index, source)`` from each of several streams: each is searched for
        faces, then the faces of all of them go to the classifier in one call. Each stream (by
        ``source``) keeps its own tracks; :meth:`finish` ends them all. The results' ``timings_ms``
        are those of the whole set of frames."""
        sources = [source for _, _, source in frames]
        if not frames or len(set(sources)) != len(sources):
            raise ValueError(f"process_streams takes one frame from each of several streams, not {sources}")
        clock = _Clock()
        trackers = [self._stream_tracker(source) for source in sources]
        located = [
            self._locate(bgr, index, tracker, None, clock)
            for (bgr, index, _), tracker in zip(frames, trackers)
        ]
        heads = self._classify(located, clock)
        results = [
            self._label(found, h, tracker, index, source, clock)
            for found, h, tracker, (_, index, source) in zip(located, heads, trackers, frames)
        ]
        return [dataclasses.replace(r, timings_ms=dict(clock.timings)) for r in results]

    def _stream_tracker(self, source: str) -> FaceTracker | None:
        if self.tracker is None:
            return None
        if source not in self._streams:
            self._streams[source] = self._new_tracker()
        return self._streams[source]

    def _locate(self, bgr: np.ndarray, index: int, tracker, prepared, clock: _Clock) -> _Located:
        """Detection (or, on a frame the detector skips, the tracks' faces where they are expected),
        the faces large enough, and the chips of those the classifier must see now."""
        _check_frame(bgr)
        height, width = bgr.shape[:2]
        expected = None
        if self.detector is None:
            detections = [Detection((0.0, 0.0, float(width), float(height)), 1.0, (), ())]
            kept = [0]
        else:
            if tracker is not None:
                expected = tracker.coast(index, self.config.detect_every, STEADY_MOTION)
            if expected is None:
                detections = self.detector.detect(bgr, prepared)
                kept = self.cropper.large_enough(detections)
            else:  # faces of tracks, each large enough when it was last seen, and as large now
                detections = [seen.moved(*shift) for seen, shift in expected]
                kept = list(range(len(detections)))
        clock.lap("detect")
        boxes = np.array([_clamp(detections[i].box, width, height) for i in kept], dtype=np.float64)
        boxes = boxes.reshape(-1, 4)
        due = np.ones(len(kept), dtype=bool)
        every = self.config.classify_every
        if tracker is not None and every > 1:
            due = tracker.due(index, boxes, every) if expected is None else tracker.due_tracks(index, every)
        if self.detector is None:
            size = self.classifier.input_size
            chips = chip_to_input(bgr, size)[None] if due.any() else np.empty((0, size, size, 3), np.uint8)
        else:
            chips = self.cropper.crops(bgr, [detections[i] for i, d in zip(kept, due) if d])
        clock.lap("crop")
        return _Located(detections, kept, boxes, due, chips, detected=expected is None)

    def _classify(self, located: list[_Located], clock: _Clock) -> list[_Heads]:
        """P(female) and age (None for a gender-only model) of every face of ``located``, NaN where
        not classified now: one classifier call for both heads."""
        p_due, ages_due = self.classifier.predict_heads(np.concatenate([found.chips for found in located]))
        out, start = [], 0
        for found in located:
            count = int(found.due.sum())
            p_female = _spread(p_due[start : start + count], found.due)
            ages = None if ages_due is None else _spread(ages_due[start : start + count], found.due)
            start += count
            out.append((p_female, ages))
        clock.lap("classify")
        return out

    def _label(
        self, found: _Located, heads: _Heads, tracker, index: int, source: str, clock: _Clock
    ) -> FrameResult:
        """Tracks, smoothed labels and events for the located faces of one frame."""
        p_female, ages = heads
        events: list[TrackEvent] = []
        if tracker is not None:
            if found.detected:
                details = [found.detections[i] for i in found.kept]
                tracked, events = tracker.update(index, found.boxes, p_female, ages, details)
            else:  # the faces are the tracks', in their order
                tracked = tracker.skip(index, p_female, ages)
            labels = [(t.gender, t.p_female, t.track, t.age) for t in tracked]
        else:
            raw_ages = [None] * len(p_female) if ages is None else [float(a) for a in ages]
            labels = [
                (self.classifier.label(float(p)), float(p), None, a) for p, a in zip(p_female, raw_ages)
            ]
        clock.lap("track")
        detections = found.detections
        faces = tuple(
            Face(
                tuple(float(v) for v in box),
                detections[i].score,
                detections[i].keypoints,
                gender,
                p,
                track,
                landmark_names=detections[i].keypoint_names,
                age=age,
                age_group=None if age is None else predicted_age_group(age),
            )
            for i, box, (gender, p, track, age) in zip(found.kept, found.boxes, labels)
        )
        too_small = len(detections) - len(found.kept)
        return FrameResult(
            source, index, faces, tuple(events), too_small, dict(clock.timings), found.detected
        )

    def finish(self) -> list[TrackEvent]:
        """End of a source (or of all the streams): the end events of the tracks still alive; the
        next frame starts afresh."""
        self._frames = 0
        events = self.tracker.finish() if self.tracker is not None else []
        for tracker in self._streams.values():
            events += tracker.finish()
        self._streams.clear()
        return events

    def close(self) -> None:
        """Free the models (a GPU backend holds device memory)."""
        self.classifier.close()
        if self.detector is not None:
            self.detector.close()

    def __enter__(self) -> FacePipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# One frame's classifier outputs per face: P(female), and the ages in years or None for a
# gender-only model; NaN for a face not classified this frame.
_Heads = tuple[np.ndarray, np.ndarray | None]


def _spread(values: np.ndarray, due: np.ndarray) -> np.ndarray:
    """The outputs of the faces classified now placed among all of a frame's faces, NaN elsewhere."""
    out = np.full(len(due), np.nan, dtype=np.float32)
    out[due] = values
    return out


@dataclass(frozen=True)
class _Located:
    """One frame's detections, the indices of those large enough, their boxes, which of them the
    classifier must see now, and those faces' chips; ``detected``: False where the detections are
    where the tracks expected the faces."""

    detections: list[Detection]
    kept: list[int]
    boxes: np.ndarray
    due: np.ndarray
    chips: np.ndarray
    detected: bool


class _Clock:
    """Milliseconds per stage, each stage timed from the end of the one before."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter_ns()

    def lap(self, stage: str) -> None:
        now = time.perf_counter_ns()
        self.timings[stage] = self.timings.get(stage, 0.0) + (now - self._last) / 1e6
        self._last = now


def _check_frame(bgr: np.ndarray) -> None:
    """Refuse what is not a frame, saying what it is.

    Raises:
        ValueError: not a numpy array, not BGR uint8 ``(h, w, 3)``, or without pixels.
    """
    if not isinstance(bgr, np.ndarray):
        got = "None (a failed read gives None)" if bgr is None else f"a {type(bgr).__name__}"
        raise ValueError(f"a frame is a BGR uint8 numpy array (h, w, 3), not {got}")
    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
        raise ValueError(f"a frame is BGR uint8 (h, w, 3), not {bgr.dtype} {bgr.shape}")
    if bgr.size == 0:
        raise ValueError(f"a frame is BGR uint8 (h, w, 3) with pixels, not an empty array {bgr.shape}")


def _clamp(box: tuple[float, float, float, float], width: int, height: int) -> tuple[float, ...]:
    """A box ``(x, y, w, h)`` cut to the image; a face cut by the border keeps its visible part."""
    x0, y0 = min(max(box[0], 0.0), width), min(max(box[1], 0.0), height)
    x1, y1 = min(max(box[0] + box[2], 0.0), width), min(max(box[1] + box[3], 0.0), height)
    return (x0, y0, x1 - x0, y1 - y0)
