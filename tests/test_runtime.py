"""The runtime pipeline and its Python API on real faces: the demo clip and a portrait."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

pytest.importorskip("onnxruntime")
from faceedge.runtime.detection import Detection  # noqa: E402
from faceedge.runtime.pipeline import Face, FacePipeline, FrameResult  # noqa: E402


@pytest.fixture(scope="module")
def pipeline():
    # FP32 outright: with precision auto, a CPU with VNNI would run the INT8 classifier.
    with FacePipeline(backend="cpu", precision="fp32") as pipeline:
        yield pipeline


def test_the_demo_clip_gives_two_stable_tracks_with_one_start_and_one_end_each(pipeline, demo_frames):
    results = [pipeline.process(frame, i, "demo") for i, frame in enumerate(demo_frames)]
    ends = pipeline.finish()
    assert all(len(r.faces) == 2 for r in results)
    tracks = {face.track for r in results for face in r.faces}
    assert len(tracks) == 2  # the same two people from the first frame to the last
    starts = [e for r in results for e in r.events if e.kind == "start"]
    assert sorted(e.track for e in starts) == sorted(tracks)
    assert sorted(e.track for e in ends) == sorted(tracks) and all(e.kind == "end" for e in ends)
    # Labels do not flicker along a track: at most one change, as the smoothed probability settles.
    for track in tracks:
        labels = [f.gender for r in results for f in r.faces if f.track == track]
        assert sum(a != b for a, b in zip(labels, labels[1:])) <= 1


def test_results_are_frozen_dataclasses_with_what_integrators_need(pipeline, demo_frames):
    result = pipeline.process(demo_frames[0], 0, "demo")
    pipeline.finish()
    assert isinstance(result, FrameResult) and isinstance(result.faces[0], Face)
    face = result.faces[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        face.gender = "male"
    height, width = demo_frames[0].shape[:2]
    x, y, w, h = face.box
    assert x >= 0 and y >= 0 and x + w <= width and y + h <= height and w > 40
    assert face.gender in {"female", "male"} and 0 <= face.p_female <= 1 and face.score > 0.5
    assert len(face.landmarks) == 6 and face.track is not None
    assert set(result.timings_ms) == {"detect", "crop", "classify", "track"}
    assert set(result.to_dict()) == {"source", "frame", "detected", "faces"}
    assert set(result.to_dict()["faces"][0]) == {
        *("box", "score", "gender", "p_female", "age", "age_group", "track")
    }


def test_all_faces_of_a_frame_go_to_the_classifier_in_one_call(monkeypatch):
    class FiftyFaces:
        """A detector of the FaceDetector protocol that finds fifty faces in a grid."""

        name = "grid"
        backend = None

        def prepare(self, bgr):
            return None

        def close(self):
            pass

        def detect(self, bgr, prepared=None):
            names = ("right_eye", "left_eye", "mouth_centre")
            faces = []
            for i in range(50):
                x, y = 40 + (i % 10) * 100, 40 + (i // 10) * 100
                points = ((x + 25, y + 30), (x + 55, y + 30), (x + 40, y + 60))
                faces.append(Detection((x, y, 80, 80), 0.9, points, names))
            return faces

    with FacePipeline(backend="cpu") as pipeline:
        pipeline.detector.close()
        pipeline.detector = FiftyFaces()
        batches = _count_batches(monkeypatch, pipeline.classifier.backend)
        result = pipeline.process(np.full((600, 1100, 3), 120, np.uint8))
    assert len(result.faces) == 50 and len({f.track for f in result.faces}) == 50
    assert batches == [50]


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 3, 3), (31, 17, 3)])
def test_tiny_frames_give_no_faces_and_no_error(pipeline, shape):
    assert pipeline.process(np.zeros(shape, np.uint8)).faces == ()


def test_an_8k_frame_finds_the_face(demo_frames):
    big = cv2.resize(demo_frames[0], (7680, 4320), interpolation=cv2.INTER_LINEAR)
    with FacePipeline(backend="cpu", track=False) as pipeline:
        result = pipeline.process(big)
    assert len(result.faces) == 2 and all(f.box[2] > 400 for f in result.faces)


def test_a_face_cut_by_the_border_is_found_and_its_box_clamped(pipeline, demo_frames):
    frame = demo_frames[0]
    pipeline.finish()
    (left, *_) = sorted(pipeline.process(frame).faces, key=lambda f: f.box[0])
    pipeline.finish()
    x, y, w, h = left.box
    shifted = frame[:, int(x + w * 0.3) :].copy()  # a third of the face is off the frame
    faces = pipeline.process(shifted).faces
    pipeline.finish()
    assert faces and min(f.box[0] for f in faces) == 0.0
    assert all(f.box[0] + f.box[2] <= shifted.shape[1] for f in faces)


def test_no_detect_takes_each_frame_as_one_face_crop(demo_frames):
    with FacePipeline(backend="cpu", detect=False, track=False) as pipeline:
        result = pipeline.process(np.ascontiguousarray(demo_frames[0][100:400, 200:500]))
    (face,) = result.faces
    assert face.box == (0.0, 0.0, 300.0, 300.0) and face.track is None


def test_a_frame_that_is_not_bgr_uint8_is_a_programming_error(pipeline):
    with pytest.raises(ValueError, match="BGR uint8"):
        pipeline.process(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="BGR uint8"):
        pipeline.process(np.zeros((10, 10, 3), np.uint16))


@pytest.mark.parametrize(
    ("frame", "said"),
    [
        (None, "not None"),  # what a failed cv2.VideoCapture.read() gives
        ([[[0, 0, 0]]], "not a list"),
        (np.zeros((0, 0, 3), np.uint8), r"not an empty array \(0, 0, 3\)"),
        (np.zeros((0, 640, 3), np.uint8), r"not an empty array \(0, 640, 3\)"),
    ],
)
def test_what_is_not_a_frame_is_a_value_error_that_says_what_it_got(pipeline, frame, said):
    with pytest.raises(ValueError, match=said):
        pipeline.process(frame)
    with pytest.raises(ValueError, match=said):
        pipeline.prepare(frame)


def test_a_pipeline_is_made_from_one_config_or_keyword_fields_of_it():
    from faceedge.runtime import PipelineConfig

    with FacePipeline(PipelineConfig(backend="cpu", track=False, min_face=40)) as pipeline:
        assert pipeline.config == PipelineConfig(backend="cpu", track=False, min_face=40)
        assert pipeline.tracker is None and pipeline.cropper.min_face == 40
    with pytest.raises(ValueError, match=r"min_score must be in \[0, 1\], not 5.0"):
        FacePipeline(backend="cpu", min_score=5.0)  # checked before any model opens
    with pytest.raises(TypeError, match="not min_faces"):
        FacePipeline(backend="cpu", min_faces=40)
    with pytest.raises(TypeError, match="pass a model as FacePipeline\\(model=...\\)"):
        FacePipeline("gender.onnx")


def test_the_tracker_labels_with_the_classifier_manifest_labels(pipeline):
    classifier = pipeline.classifier
    tracker = pipeline.tracker
    assert (tracker.positive, tracker.negative) == (classifier.positive, classifier.negative)
    assert tracker.threshold == classifier.threshold


def test_backends_say_what_really_runs(pipeline):
    assert pipeline.backends == {
        "classifier": "cpu fp32 (CPUExecutionProvider)",
        "detector": "cpu fp32 (CPUExecutionProvider)",
    }


def test_classifying_tracked_faces_every_third_frame_calls_the_model_a_third_as_often(
    demo_frames, monkeypatch
):
    with FacePipeline(backend="cpu", classify_every=3, detect_every=1) as pipeline:
        batches = _count_batches(monkeypatch, pipeline.classifier.backend)
        results = [pipeline.process(frame, i, "demo") for i, frame in enumerate(demo_frames)]
    assert sum(batches) == 2 * 10  # 30 frames, 2 faces, each classified on frames 0, 3, 6, ...
    assert all(len(r.faces) == 2 and all(0 <= f.p_female <= 1 for f in r.faces) for r in results)
    assert len({f.track for r in results for f in r.faces}) == 2


def test_the_integrators_entry_point_is_the_package():
    import ast
    import importlib
    from pathlib import Path

    import faceedge.runtime

    # Each public name is the class of the module it lives in, and is what editors see: the
    # package's TYPE_CHECKING imports name exactly the public names, from those modules.
    source = ast.parse(Path(faceedge.runtime.__file__).read_text())
    checked = next(node for node in source.body if isinstance(node, ast.If))
    seen = {alias.name: node.module for node in checked.body for alias in node.names}
    assert seen == faceedge.runtime._MODULES and sorted(faceedge.runtime.__all__) == sorted(seen)
    for name, module in seen.items():
        assert getattr(faceedge.runtime, name) is getattr(importlib.import_module(module), name)
    assert {"FacePipeline", "PipelineConfig", "TrackEvent"} <= set(faceedge.runtime.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Pipeline'"):
        faceedge.runtime.Pipeline  # noqa: B018


def test_a_backend_with_a_largest_batch_gets_the_faces_in_several_calls(monkeypatch):
    from faceedge.runtime import classifier as module

    chips = np.random.default_rng(0).integers(0, 255, (10, 96, 96, 3), dtype=np.uint8)
    whole = module.GenderClassifier(_bundled_gender(), "cpu").predict(chips)
    opened = module.open_backend

    def with_largest_batch(*args, **kwargs):  # a backend that takes at most 4 inputs a run
        backend = opened(*args, **kwargs)
        backend.max_batch = 4
        return backend

    monkeypatch.setattr(module, "open_backend", with_largest_batch)
    classifier = module.GenderClassifier(_bundled_gender(), "cpu")
    sizes = _count_batches(monkeypatch, classifier.backend)
    np.testing.assert_allclose(classifier.predict(chips), whole, atol=1e-6)
    assert sizes == [4, 4, 2]


def test_an_inference_failure_is_a_backend_error_not_a_traceback(monkeypatch):
    from faceedge.errors import BackendError
    from faceedge.runtime.classifier import GenderClassifier

    classifier = GenderClassifier(_bundled_gender(), "cpu")

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(classifier.backend.session, "run", out_of_memory)
    with pytest.raises(BackendError, match="ONNX Runtime failed on cpu: CUDA out of memory"):
        classifier.predict(np.zeros((1, 96, 96, 3), np.uint8))


def _bundled_gender():
    from faceedge.bundled import bundled_path

    return bundled_path("gender")


def test_frames_of_several_streams_share_one_classifier_call_and_keep_their_own_tracks(
    demo_frames, monkeypatch
):
    with FacePipeline(backend="cpu", classify_every=1, detect_every=1) as pipeline:
        batches = _count_batches(monkeypatch, pipeline.classifier.backend)
        streams = ("door", "hall", "yard")
        results = [
            pipeline.process_streams([(frame, i, name) for name in streams])
            for i, frame in enumerate(demo_frames[:5])
        ]
        ends = pipeline.finish()
    assert batches == [6] * 5  # two faces in each of three streams, one call per step
    for step in results:
        assert [r.source for r in step] == list(streams) and all(len(r.faces) == 2 for r in step)
    tracks = {
        name: {f.track for step in results for r in step if r.source == name for f in r.faces}
        for name in streams
    }
    assert all(len(ids) == 2 for ids in tracks.values())
    assert len(set().union(*tracks.values())) == 6  # no track is shared between streams
    assert len(ends) == 6


def _count_batches(monkeypatch, backend) -> list[int]:
    """The batch size of every call ``backend`` gets from now on."""
    batches: list[int] = []
    run = backend.run
    monkeypatch.setattr(
        backend, "run", lambda feeds: batches.append(len(next(iter(feeds.values())))) or run(feeds)
    )
    return batches


# Age: a two-head model gives each face an age beside P(female)


def fake_age_head(monkeypatch, years=lambda p: 100.0 * p) -> None:
    """Every classifier opened from now on is two-head: its backend (the real one, on the bundled
    model) also gives an ``age`` output, ``years(p_female)`` in years, and its manifest says so, as
    a two-head export's does. Ages that follow P(female) let a test know each face's raw age."""
    from faceedge.manifest import TensorSpec
    from faceedge.runtime import classifier as module

    opened = module.open_backend

    def two_head(*args, **kwargs):
        backend = opened(*args, **kwargs)
        manifest = backend.manifest
        p_name = manifest.outputs[0].name
        age = TensorSpec("age", ("batch", 1), meaning="age", unit="years")
        backend.manifest = dataclasses.replace(manifest, outputs=(manifest.outputs[0], age))
        run = backend.run

        def run_both(feeds):
            outputs = dict(run(feeds))
            outputs["age"] = years(np.asarray(outputs[p_name], dtype=np.float32))
            return outputs

        backend.run = run_both
        return backend

    monkeypatch.setattr(module, "open_backend", two_head)


def gender_only(monkeypatch) -> None:
    """Every classifier opened from now on is gender-only, whatever the bundled model is: its
    manifest and its runs have P(female) alone, as a model v1 export's do."""
    from faceedge.runtime import classifier as module

    opened = module.open_backend

    def one_head(*args, **kwargs):
        backend = opened(*args, **kwargs)
        manifest = backend.manifest
        p_name = manifest.outputs[0].name
        backend.manifest = dataclasses.replace(manifest, outputs=manifest.outputs[:1])
        run = backend.run
        backend.run = lambda feeds: {p_name: run(feeds)[p_name]}
        return backend

    monkeypatch.setattr(module, "open_backend", one_head)


def test_a_two_head_model_gives_each_face_its_age_and_age_group_in_one_call(demo_frames, monkeypatch):
    from faceedge.ages import predicted_age_group

    fake_age_head(monkeypatch)
    with FacePipeline(backend="cpu", track=False) as pipeline:
        assert pipeline.classifier.has_age
        batches = _count_batches(monkeypatch, pipeline.classifier.backend)
        results = [pipeline.process(frame, i, "demo") for i, frame in enumerate(demo_frames[:3])]
    assert batches == [2, 2, 2]  # both heads from one classifier call per frame
    for face in (f for r in results for f in r.faces):
        assert face.age == pytest.approx(100 * face.p_female, rel=1e-5)  # the model's age, untouched
        assert face.age_group == predicted_age_group(face.age)
        record = face.to_dict()
        assert record["age"] == round(face.age, 1) and record["age_group"] == face.age_group


def test_a_tracked_faces_age_is_the_moving_average_of_its_ages(demo_frames, monkeypatch):
    fake_age_head(monkeypatch)
    frames = demo_frames[:8]
    with FacePipeline(backend="cpu", track=False) as pipeline:
        raw = [pipeline.process(frame, i, "demo").faces for i, frame in enumerate(frames)]
    # Every face of every frame, each found by the detector, as in the untracked run.
    with FacePipeline(backend="cpu", classify_every=1, detect_every=1) as pipeline:
        results = [pipeline.process(frame, i, "demo") for i, frame in enumerate(frames)]
        ends = pipeline.finish()
    weight = pipeline.tracker.smoothing  # P(female)'s weight, the newest frame's share
    for k in range(2):  # the detector lists the two faces in the same order in both runs
        expected = raw[0][k].age
        for t, result in enumerate(results):
            if t:
                expected = weight * raw[t][k].age + (1 - weight) * expected
            assert result.faces[k].age == pytest.approx(expected, rel=1e-5)
    starts = [e for r in results for e in r.events]
    last = {f.track: f for f in results[-1].faces}
    assert len(starts) == 2 and all(e.age is not None and e.age_group is not None for e in starts)
    assert {e.track: (e.age, e.age_group) for e in ends} == {t: (f.age, f.age_group) for t, f in last.items()}


def test_a_two_head_models_age_is_kept_between_classifications_and_in_every_stream(demo_frames, monkeypatch):
    fake_age_head(monkeypatch)
    with FacePipeline(backend="cpu", classify_every=3, detect_every=1) as pipeline:
        ages = [[f.age for f in pipeline.process(frame, i).faces] for i, frame in enumerate(demo_frames[:4])]
        pipeline.finish()
        steps = [
            pipeline.process_streams([(frame, i, "door"), (frame, i, "hall")])
            for i, frame in enumerate(demo_frames[:2])
        ]
    assert ages[0] == ages[1] == ages[2] and ages[3] != ages[0]  # classified on frames 0 and 3 only
    assert all(f.age is not None and f.age_group is not None for step in steps for r in step for f in r.faces)


def test_a_gender_only_model_gives_no_age_and_the_same_json_keys(demo_frames, monkeypatch):
    gender_only(monkeypatch)
    for track in (True, False):
        with FacePipeline(backend="cpu", track=track) as pipeline:
            assert not pipeline.classifier.has_age
            results = [pipeline.process(frame, i, "demo") for i, frame in enumerate(demo_frames[:3])]
            events = [e for r in results for e in r.events] + pipeline.finish()
        faces = [f for r in results for f in r.faces]
        assert faces and all(f.age is None and f.age_group is None for f in faces)
        assert all(e.age is None and e.age_group is None for e in events)
        record = results[0].to_dict()["faces"][0]
        assert record["age"] is None and record["age_group"] is None


def test_the_label_shows_the_age_in_whole_years_or_as_before_without_one():
    from faceedge.runtime.outputs import label

    face = Face((0, 0, 10, 10), 0.9, (), "female", 0.87, track=3)
    assert label(face) == "female 87% #3"  # a gender-only model: as before
    assert label(dataclasses.replace(face, age=34.4, age_group="30-44")) == "female 34 (87%) #3"
    male = Face((0, 0, 10, 10), 0.9, (), "male", 0.1, age=-0.4, age_group="0-2")
    assert label(male) == "male 0 (90%)"  # an estimate a little below 0 reads 0, as its group does


# Detection skipped on steady frames (detect_every)


def _count_detections(monkeypatch, detector) -> list[int]:
    """The frames ``detector`` is run on from now on, by their order of arrival."""
    calls: list[int] = []
    detect = detector.detect
    monkeypatch.setattr(detector, "detect", lambda *a, **k: calls.append(len(calls)) or detect(*a, **k))
    return calls


def test_with_steady_faces_the_detector_looks_at_every_other_frame_and_the_boxes_follow_the_faces(
    demo_frames, monkeypatch
):
    with FacePipeline(backend="cpu", precision="fp32", detect_every=1) as pipeline:
        looked = [pipeline.process(frame, i, "demo") for i, frame in enumerate(demo_frames)]
    with FacePipeline(backend="cpu", precision="fp32") as pipeline:  # detect_every 2, the default
        calls = _count_detections(monkeypatch, pipeline.detector)
        batches = _count_batches(monkeypatch, pipeline.classifier.backend)
        coasted = [pipeline.process(frame, i, "demo") for i, frame in enumerate(demo_frames)]
        ends = pipeline.finish()
    detected = [r.frame for r in coasted if r.detected]
    # Frames 0-2 until both tracks start (min_hits 3), then every other frame: the clip drifts slowly.
    assert detected == [0, 1, 2, *range(4, 30, 2)] and len(calls) == len(detected)
    assert all(r.to_dict()["detected"] is r.detected for r in coasted)
    assert [r.frame for r in looked if r.detected] == list(range(30))
    # Classified every third frame as ever (0, 3, 6, ...), skipped frames (3, 9, ...) included
    assert batches == [2] * 10
    for mine, theirs in zip(coasted, looked):
        assert len(mine.faces) == 2 and [f.track for f in mine.faces] == [f.track for f in theirs.faces]
        for face, other in zip(mine.faces, theirs.faces):
            assert _iou(face.box, other.box) > 0.9  # where the detector would have found it
            assert face.score == pytest.approx(other.score, abs=0.05) and len(face.landmarks) == 6
            # classified on the same frames from nearly the same crops (IoU > 0.9): the same labels, and
            # a smoothed P(female) close to it (one face of the clip sits near the threshold)
            assert face.gender == other.gender and face.p_female == pytest.approx(other.p_female, abs=0.1)
    # The end events are where the detector last found the faces: frame 28 (it skipped 29).
    assert {e.track for e in ends} == {f.track for f in coasted[-1].faces}
    assert {e.frame for e in ends} == {28}
    assert [tuple(e.box) for e in ends] == [f.box for f in coasted[-2].faces]


def test_each_stream_skips_the_detector_on_its_own(demo_frames):
    still = [demo_frames[0]] * 6  # one stream holds still; the other's faces jump 16 px a frame
    moving = [np.ascontiguousarray(np.roll(demo_frames[0], 16 * i, axis=1)) for i in range(6)]
    with FacePipeline(backend="cpu", precision="fp32") as pipeline:
        steps = [
            pipeline.process_streams([(a, i, "door"), (b, i, "hall")])
            for i, (a, b) in enumerate(zip(still, moving))
        ]
    assert [[r.detected for r in step] for step in steps] == [
        [True, True],
        [True, True],
        [True, True],
        [False, True],  # both door tracks started and hold still; the hall's move on
        [True, True],
        [False, True],
    ]
    with FacePipeline(backend="cpu", precision="fp32") as pipeline:  # the door alone
        alone = [pipeline.process(frame, i, "door") for i, frame in enumerate(still)]
    for step, single in zip(steps, alone):  # the same faces, labels and tracks as on its own
        door = step[0]
        assert door.detected == single.detected
        assert [f.box for f in door.faces] == [f.box for f in single.faces]
        for mine, its in zip(door.faces, single.faces):  # classified in another batch: float noise
            assert (mine.p_female, mine.age) == (
                pytest.approx(its.p_female, abs=1e-4),
                pytest.approx(its.age, abs=1e-2),
            )
        assert len({f.track for f in door.faces}) == 2


def test_the_detector_looks_at_every_frame_when_told_or_when_nothing_is_tracked(demo_frames, monkeypatch):
    for config in ({"detect_every": 1}, {"track": False}):
        with FacePipeline(backend="cpu", precision="fp32", **config) as pipeline:
            calls = _count_detections(monkeypatch, pipeline.detector)
            results = [pipeline.process(frame, i, "demo") for i, frame in enumerate(demo_frames[:8])]
        assert len(calls) == 8 and all(r.detected for r in results), config


def test_a_face_that_moves_fast_is_looked_for_in_every_frame(demo_frames, monkeypatch):
    # The first frame shifted 16 px further right each frame: faces 170-220 px wide moving 7-9 % of
    # their width a frame, over the 5 % a steady face may move.
    jumps = [np.ascontiguousarray(np.roll(demo_frames[0], 16 * i, axis=1)) for i in range(8)]
    with FacePipeline(backend="cpu", precision="fp32") as pipeline:
        calls = _count_detections(monkeypatch, pipeline.detector)
        results = [pipeline.process(frame, i, "demo") for i, frame in enumerate(jumps)]
    assert len(calls) == 8 and all(r.detected for r in results)
    assert len({f.track for r in results for f in r.faces}) == 2  # followed all the same


def _iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(x1 - x0, 0) * max(y1 - y0, 0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)
