from __future__ import annotations

import json
import math

import numpy as np
import pytest

from faceedge.runtime.tracker import FaceTracker, TrackedFace, TrackEvent

SIZE = 60.0


def box(x: float, y: float, size: float = SIZE) -> list[float]:
    return [x, y, size, size]


def step(
    tracker: FaceTracker, frame: int, boxes: list[list[float]], p: list[float] | float = 0.8
) -> tuple[list[TrackedFace], list[TrackEvent]]:
    ps = [p] * len(boxes) if isinstance(p, float) else p
    return tracker.update(frame, np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(ps))


def iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def flips(labels: list[str]) -> int:
    return sum(a != b for a, b in zip(labels, labels[1:]))


# Identity over time


def test_a_face_moving_smoothly_keeps_one_id_for_100_frames():
    tracker = FaceTracker()
    tracked = [step(tracker, t, [box(50 + 4 * t, 200 + 40 * math.sin(t / 10))])[0][0] for t in range(100)]
    assert {f.track for f in tracked} == {1}
    assert [f.hits for f in tracked] == list(range(1, 101))
    assert tracker.active == 1


def test_two_faces_side_by_side_keep_their_ids_whatever_the_input_order():
    tracker = FaceTracker()
    ids: dict[str, set[int]] = {"left": set(), "right": set()}
    for t in range(60):
        faces = {"left": box(100 + t, 100), "right": box(150 + t, 100)}  # overlapping by 10 px
        order = ["left", "right"] if t % 2 else ["right", "left"]
        tracked, _ = step(tracker, t, [faces[name] for name in order])
        for name, face in zip(order, tracked):
            ids[name].add(face.track)
    assert ids == {"left": {1}, "right": {2}} or ids == {"left": {2}, "right": {1}}


def test_two_crossing_faces_keep_their_ids():
    rng = np.random.default_rng(0)
    tracker = FaceTracker()
    ids: dict[str, list[int]] = {"a": [], "b": []}
    path = {"a": lambda t: box(12 * t, 100), "b": lambda t: box(300 - 12 * t, 105)}
    for t in range(26):
        jitter = rng.normal(0, 1, size=(2, 4)) * [1, 1, 0, 0]
        tracked, _ = step(tracker, t, [list(path["a"](t) + jitter[0]), list(path["b"](t) + jitter[1])])
        ids["a"].append(tracked[0].track)
        ids["b"].append(tracked[1].track)
    assert set(ids["a"]) == {1} and set(ids["b"]) == {2}
    # A real crossing: at frame 13 each face is nearer the other's last box than its own, so matching
    # on last boxes alone would swap the ids; the constant-velocity prediction is what keeps them.
    assert iou(path["a"](12), path["b"](13)) > iou(path["a"](12), path["a"](13))


def test_a_track_takes_at_most_one_face_a_frame():
    tracker = FaceTracker()
    step(tracker, 0, [box(100, 100)])
    # Both overlap the track well; the better match keeps it, the other is someone new.
    tracked, _ = step(tracker, 1, [box(115, 100), box(102, 100)])
    assert [f.track for f in tracked] == [2, 1]


@pytest.mark.parametrize(("gone", "same_id"), [(5, True), (15, True), (16, False), (30, False)])
def test_a_face_keeps_its_id_through_gaps_of_up_to_max_missed_frames(gone, same_id):
    tracker = FaceTracker(max_missed=15)
    for t in range(10):
        step(tracker, t, [box(100, 100)])
    for t in range(10, 10 + gone):
        step(tracker, t, [])
    tracked, _ = step(tracker, 10 + gone, [box(100, 100)])
    assert (tracked[0].track == 1) is same_id
    assert tracker.active == 1


def test_a_moving_face_is_found_again_where_it_went_behind_an_occlusion():
    tracker = FaceTracker()
    for t in range(10):
        step(tracker, t, [box(8 * t, 100)])
    for t in range(10, 20):
        step(tracker, t, [])
    # 88 px on from where it was last seen: no overlap with that box at all, a full one with the prediction.
    assert iou(box(8 * 9, 100), box(8 * 20, 100)) == 0
    tracked, _ = step(tracker, 20, [box(8 * 20, 100)])
    assert tracked[0].track == 1


def test_frames_skipped_between_calls_count_as_missed():
    tracker = FaceTracker(max_missed=15)
    for t in range(10):
        step(tracker, t, [box(100, 100)])
    tracked, events = step(tracker, 40, [box(100, 100)])
    assert tracked[0].track == 2
    assert [(e.kind, e.track, e.frame) for e in events] == [("end", 1, 9)]


# Gender


def test_a_noisy_p_female_with_a_clear_mean_gives_a_stable_label():
    p = [0.42, 0.88] * 50  # mean 0.65: the raw label flips on every frame
    tracker = FaceTracker()
    labels = [step(tracker, t, [box(100, 100)], p[t])[0][0].gender for t in range(100)]
    assert flips(["female" if x >= 0.5 else "male" for x in p]) == 99
    assert labels[0] == "male"  # the first frame is all there is to go on
    assert flips(labels) == 1 and set(labels[5:]) == {"female"}


def test_hysteresis_holds_the_label_of_a_face_wobbling_around_the_threshold():
    p = [0.44, 0.56] * 50  # the smoothed p wobbles between 0.49 and 0.51
    held, bare = FaceTracker(hysteresis=0.1), FaceTracker(hysteresis=0.0)
    labels_held = [step(held, t, [box(100, 100)], p[t])[0][0].gender for t in range(100)]
    labels_bare = [step(bare, t, [box(100, 100)], p[t])[0][0].gender for t in range(100)]
    assert set(labels_held) == {"male"}
    assert flips(labels_bare) > 50


def test_a_genuinely_changing_p_female_flips_the_label_once():
    p = [0.1] * 20 + [0.9] * 30
    tracker = FaceTracker()
    tracked = [step(tracker, t, [box(100, 100)], p[t])[0][0] for t in range(50)]
    labels = [f.gender for f in tracked]
    assert tracked[0].p_female == pytest.approx(0.1)  # the first observation is taken as it is
    # The smoothed p reaches 0.6 on the third frame of 0.9s: 0.34, 0.508, then 0.626.
    assert labels == ["male"] * 22 + ["female"] * 28
    assert tracked[-1].p_female == pytest.approx(0.9, abs=1e-3)


def test_the_labels_are_the_ones_given_as_the_classifier_manifest_names_them():
    p = [0.1] * 20 + [0.9] * 30
    tracker = FaceTracker(positive="woman", negative="man")
    labels = [step(tracker, t, [box(100, 100)], p[t])[0][0].gender for t in range(50)]
    assert labels == ["man"] * 22 + ["woman"] * 28  # as with female/male, above
    (end,) = [e for e in tracker.finish() if e.kind == "end"]
    assert end.gender == "woman"


# Events


def test_each_real_track_gets_exactly_one_start_and_one_end():
    tracker = FaceTracker(max_missed=15, min_hits=3)
    events = []
    for t in range(50):
        faces = ([box(100, 100)] if t < 30 else []) + ([box(400 + t, 100)] if t >= 10 else [])
        events += step(tracker, t, faces)[1]
    events += tracker.finish()
    got = sorted((e.track, e.kind, e.frame, e.frames) for e in events)
    # Track 1 is dropped 16 frames after it was last seen, its end reporting frame 29; track 2 ends with
    # the source. Each starts on its third frame.
    assert got == [(1, "end", 29, 30), (1, "start", 2, 3), (2, "end", 49, 40), (2, "start", 12, 3)]
    ends = {e.track: e.box for e in events if e.kind == "end"}
    assert ends == {1: tuple(box(100, 100)), 2: tuple(box(449, 100))}


def test_a_single_frame_detection_gives_no_event_and_no_id_to_anyone_else():
    tracker = FaceTracker(max_missed=5)
    events, ids = [], set()
    for t in range(30):
        faces = [box(100, 100)] + ([box(500, 300)] if t == 7 else [])
        tracked, new = step(tracker, t, faces)
        events += new
        ids |= {f.track for f in tracked}
    events += tracker.finish()
    assert ids == {1, 2}
    assert [(e.kind, e.track) for e in events] == [("start", 1), ("end", 1)]


@pytest.mark.parametrize("min_hits", [1, 3])
def test_a_track_starts_once_seen_in_min_hits_frames_not_necessarily_consecutive(min_hits):
    tracker = FaceTracker(min_hits=min_hits)
    seen = [0, 3, 6, 9]
    events = [(t, step(tracker, t, [box(100, 100)] if t in seen else [])[1]) for t in range(12)]
    starts = [(t, e) for t, new in events for e in new]
    assert [(t, e.kind, e.frames) for t, e in starts] == [(seen[min_hits - 1], "start", min_hits)]


def test_finish_ends_the_live_started_tracks_with_their_last_frame_and_box():
    tracker = FaceTracker()
    for t in range(10):
        step(tracker, t, [box(10 * t, 100, 50), box(300, 300)], [0.9, 0.2])
    step(tracker, 10, [box(300, 300)], 0.2)
    step(tracker, 11, [box(300, 300), box(600, 50)], [0.2, 0.5])  # a new track, not yet started
    step(tracker, 12, [])
    assert tracker.active == 3
    ended = tracker.finish()
    assert [(e.kind, e.track, e.frame, e.box, e.gender, e.frames) for e in ended] == [
        ("end", 1, 9, (90.0, 100.0, 50.0, 50.0), "female", 10),
        ("end", 2, 11, (300.0, 300.0, 60.0, 60.0), "male", 12),
    ]
    assert ended[0].p_female == pytest.approx(0.9) and ended[1].p_female == pytest.approx(0.2)
    assert tracker.active == 0 and tracker.finish() == []
    # Reusable from frame 0 on, with ids never given before.
    tracked, _ = step(tracker, 0, [box(90, 100, 50)])
    assert tracked[0].track == 4


def test_empty_frames_are_fine_and_keep_tracks_alive():
    tracker = FaceTracker()
    assert tracker.update(0, np.empty((0, 4)), np.empty(0)) == ([], [])
    step(tracker, 1, [box(100, 100)])
    assert tracker.update(2, np.zeros((0, 4), np.float32), np.zeros(0, np.float32)) == ([], [])
    assert tracker.update(3, [], []) == ([], [])
    assert step(tracker, 4, [box(100, 100)])[0][0].track == 1


def test_events_are_json_ready():
    tracker = FaceTracker(min_hits=1)
    _, events = tracker.update(np.int64(3), np.array([[1, 2, 3, 4]], np.float32), np.array([0.7], np.float32))
    record = json.loads(json.dumps(events[0].to_dict()))
    assert record == {
        "event": "start",
        "track": 1,
        "frame": 3,
        "box": [1.0, 2.0, 3.0, 4.0],
        "gender": "female",
        "p_female": pytest.approx(0.7),
        "age": None,  # a gender-only model: the same keys, null
        "age_group": None,
        "frames": 1,
    }


def test_fifty_faces_a_frame_keep_fifty_stable_ids():
    rng = np.random.default_rng(1)
    grid = np.array([(100.0 * i, 100.0 * j) for i in range(10) for j in range(5)])
    velocity = rng.uniform(-0.3, 0.3, size=(50, 2))
    tracker = FaceTracker()
    ids = np.zeros((200, 50), dtype=int)
    events = []
    for t in range(200):
        corners = grid + velocity * t + rng.normal(0, 1.5, size=(50, 2))
        boxes = np.hstack([corners, np.full((50, 2), SIZE)])
        order = rng.permutation(50)  # the detector lists faces in no fixed order
        tracked, new = tracker.update(t, boxes[order], rng.uniform(0, 1, 50))
        ids[t, order] = [f.track for f in tracked]
        events += new
    assert all(len(set(ids[:, face])) == 1 for face in range(50))
    assert sorted(ids[0]) == list(range(1, 51))
    assert tracker.active == 50
    assert sorted(e.track for e in events if e.kind == "start") == list(range(1, 51)) and len(events) == 50
    assert len(tracker.finish()) == 50


# Errors


def test_mismatched_or_malformed_inputs_are_value_errors():
    tracker = FaceTracker()
    with pytest.raises(ValueError, match="p_female"):
        tracker.update(0, np.zeros((2, 4)), np.zeros(3))
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        tracker.update(0, np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        tracker.update(0, np.zeros((1, 4)), np.array([1.5]))
    with pytest.raises(ValueError, match="starts a track but was not classified"):
        tracker.update(0, np.zeros((1, 4)), np.array([np.nan]))
    with pytest.raises(ValueError, match="finite"):
        tracker.update(0, np.full((1, 4), np.inf), np.array([0.5]))
    assert tracker.active == 0  # nothing half-taken


def test_frames_must_increase():
    tracker = FaceTracker()
    step(tracker, 5, [box(0, 0)])
    for frame in (5, 4):
        with pytest.raises(ValueError, match="increase"):
            step(tracker, frame, [box(0, 0)])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"smoothing": 0.0},
        {"smoothing": 1.5},
        {"max_missed": -1},
        {"min_hits": 0},
        {"threshold": 1.2},
        {"iou_match": 0.0},
        {"hysteresis": -0.1},
    ],
)
def test_parameters_out_of_range_are_value_errors(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        FaceTracker(**kwargs)


# Classifying each track every few frames


def test_due_asks_for_new_faces_and_for_tracks_not_classified_for_every_frames():
    tracker = FaceTracker(min_hits=1)
    faces = np.array([box(0, 0), box(300, 0)], dtype=float)
    assert tracker.due(0, faces, every=3).tolist() == [True, True]  # new faces
    tracker.update(0, faces, np.array([0.9, 0.1]))
    assert tracker.due(1, faces, every=3).tolist() == [False, False]
    tracker.update(1, faces, np.array([np.nan, np.nan]))
    newcomer = np.vstack([faces, [box(600, 0)]])
    assert tracker.due(2, newcomer, every=3).tolist() == [False, False, True]
    tracker.update(2, newcomer, np.array([np.nan, np.nan, 0.5]))
    assert tracker.due(3, newcomer, every=3).tolist() == [True, True, False]
    assert tracker.due(3, newcomer, every=1).tolist() == [True, True, True]


def test_a_face_left_unclassified_keeps_its_track_average_and_label():
    tracker = FaceTracker(min_hits=1)
    face = np.array([box(0, 0)], dtype=float)
    (first,), _ = tracker.update(0, face, np.array([0.9]))
    (kept,), _ = tracker.update(1, face, np.array([np.nan]))
    assert kept.track == first.track and kept.p_female == first.p_female and kept.gender == "female"
    assert kept.hits == 2  # still seen, only not classified


def test_due_and_update_pair_faces_alike_after_skipped_frames():
    # A live source drops frames: a track unseen for too long must be out of both due() and update().
    tracker = FaceTracker(max_missed=2, min_hits=1)
    kept = box(40, 0, size=100)
    tracker.update(0, np.array([box(0, 0, size=100), kept], dtype=float), np.array([0.5, 0.5]))
    for frame in (1, 2):
        tracker.update(frame, np.array([kept], dtype=float), np.array([0.5]))
    faces = np.array([box(5, 0, size=100), box(80, 0, size=100)], dtype=float)  # frame 3 was dropped
    due = tracker.due(4, faces, every=3)
    tracked, events = tracker.update(4, faces, np.where(due, 0.5, np.nan))
    assert [e.kind for e in events if e.track == 1] == ["end"]  # the stale track is gone
    # Every face that due() said needs no classifier joined a live track in update().
    assert all(t.track == 2 for t, needed in zip(tracked, due) if not needed)
    assert len(tracked) == 2 and any(due)


# Age: a two-head model's second output, smoothed per track in years


def test_a_tracks_age_is_smoothed_in_years_with_the_weight_of_p_female():
    tracker = FaceTracker()  # smoothing 0.3: the newest frame weighs 0.3, the average 0.7
    nan = float("nan")
    # Face A's ages by frame; frame 3 is not classified (classify_every), so its average stands.
    # Face B, far away, keeps its own average.
    ages_a = [30.0, 40.0, 20.0, nan, 30.0]
    seen_a, seen_b, events = [], [], []
    for t, age in enumerate(ages_a):
        p = nan if math.isnan(age) else 0.8
        boxes = np.array([box(100, 100), box(500, 100)], dtype=np.float64)
        tracked, new = tracker.update(
            t, boxes, np.array([p, p]), np.array([age, nan if math.isnan(age) else 5.0])
        )
        seen_a.append(tracked[0].age)
        seen_b.append(tracked[1].age)
        events += new
    # By hand: 30; 0.3*40 + 0.7*30 = 33; 0.3*20 + 0.7*33 = 29.1; 29.1 kept; 0.3*30 + 0.7*29.1 = 29.37
    assert seen_a == pytest.approx([30.0, 33.0, 29.1, 29.1, 29.37])
    assert seen_b == pytest.approx([5.0] * 5)
    starts = {e.track: e for e in events if e.kind == "start"}
    assert starts[1].age == pytest.approx(29.1) and starts[1].age_group == "18-29"  # 29.1 rounds to 29
    assert starts[2].age == pytest.approx(5.0) and starts[2].age_group == "3-9"
    ends = {e.track: e for e in tracker.finish()}
    assert ends[1].age == pytest.approx(29.37) and ends[1].age_group == "18-29"
    record = json.loads(json.dumps(ends[1].to_dict()))
    assert record["age"] == 29.4 and record["age_group"] == "18-29"  # one decimal in JSON


def test_the_first_frames_age_group_is_that_of_the_age_itself():
    tracker = FaceTracker(min_hits=1)
    _, events = step_with_ages(tracker, 0, [box(0, 0)], [44.6])
    assert events[0].age == pytest.approx(44.6) and events[0].age_group == "45-59"  # 44.6 rounds to 45


def test_a_gender_only_sequence_gives_no_age():
    tracker = FaceTracker(min_hits=1)
    events = []
    for t, p in enumerate([0.8, 0.7, float("nan"), 0.9]):
        tracked, new = tracker.update(t, np.array([box(100, 100)]), np.array([p]))
        assert tracked[0].age is None
        events += new
    events += tracker.finish()
    assert [e.kind for e in events] == ["start", "end"]
    assert all(e.age is None and e.age_group is None for e in events)
    assert all(e.to_dict()["age"] is None and e.to_dict()["age_group"] is None for e in events)


@pytest.mark.parametrize(
    ("p", "ages", "said"),
    [
        ([0.8], [float("nan")], "NaN exactly where p_female is"),  # both heads or neither
        ([float("nan")], [30.0], "NaN exactly where p_female is"),
        ([0.8], [float("inf")], "ages must be finite"),
        ([0.8], [30.0, 40.0], r"need ages of shape \(1,\)"),
    ],
)
def test_ages_that_do_not_match_the_probabilities_are_refused(p, ages, said):
    tracker = FaceTracker()
    step_with_ages(tracker, 0, [box(0, 0)], [20.0])
    with pytest.raises(ValueError, match=said):
        tracker.update(1, np.array([box(0, 0)]), np.array(p), np.array(ages))


def step_with_ages(
    tracker: FaceTracker, frame: int, boxes: list[list[float]], ages: list[float], p: float = 0.8
) -> tuple[list[TrackedFace], list[TrackEvent]]:
    return tracker.update(frame, np.array(boxes).reshape(-1, 4), np.full(len(boxes), p), np.array(ages))


# Coasting: where the faces are when the detector skips a frame


def steady(tracker: FaceTracker, frames: int, boxes: list[list[float]], details=None) -> None:
    """``frames`` detected frames of the same faces, each moving 1 px right a frame."""
    for t in range(frames):
        moved = [[x + t, y, w, h] for x, y, w, h in boxes]
        tracker.update(t, np.array(moved), np.full(len(boxes), 0.8), details=details)


def test_steady_started_tracks_coast_with_their_details_and_expected_shift():
    tracker = FaceTracker(min_hits=3)
    steady(tracker, 3, [box(100, 100), box(400, 100)], details=["left", "right"])
    expected = tracker.coast(3, every=2, motion=0.05)
    assert [detail for detail, _ in expected] == ["left", "right"]
    for _, shift in expected:
        np.testing.assert_allclose(shift, [1.0, 0.0])  # one frame at 1 px a frame
    assert tracker.coast(3, every=1, motion=0.05) is None  # 1: the detector looks at every frame


def test_a_skipped_frame_changes_no_track_and_the_detector_looks_again_after_every_frames():
    tracker = FaceTracker(min_hits=3)
    steady(tracker, 3, [box(100, 100)], details=["face"])
    ((_, shift),) = tracker.coast(3, 3, 0.05)
    ((_, again),) = tracker.coast(3, 3, 0.05)
    np.testing.assert_array_equal(shift, again)  # asking twice: the same answer, nothing changed
    (face,) = tracker.skip(3)
    assert (face.hits, face.p_female, face.gender) == (3, pytest.approx(0.8), "female")  # nothing counted
    ((detail, shift),) = tracker.coast(4, 3, 0.05)
    assert detail == "face"
    np.testing.assert_allclose(shift, [2.0, 0.0])  # two frames on from frame 2, where it was last seen
    assert tracker.coast(5, 3, 0.05) is None  # the third frame after frame 2: the detector looks
    assert tracker.coast(4, 2, 0.05) is None
    with pytest.raises(ValueError, match="frame 3 comes after frame 3"):
        tracker.skip(3)


def test_after_skipped_frames_the_track_is_matched_and_ends_where_it_was_last_seen():
    tracker = FaceTracker(min_hits=3, max_missed=2)
    steady(tracker, 3, [box(100, 100)])
    tracker.skip(3)
    faces, _ = step(tracker, 4, [box(104, 100)])  # found again, two frames on from frame 2
    assert faces[0].track == 1 and faces[0].hits == 4
    tracker.skip(5)
    _, events = step(tracker, 8, [])  # gone: ended, at the last frame a detector found it in
    assert [(e.kind, e.frame, e.box, e.frames) for e in events] == [("end", 4, (104.0, 100.0, 60.0, 60.0), 4)]


@pytest.mark.parametrize(
    "why, setup, frame",
    [
        ("a track not started yet", lambda t: steady(t, 2, [box(100, 100)]), 2),
        (
            "a face the detector did not find the last time it looked",
            lambda t: (
                steady(t, 3, [box(100, 100), box(400, 100)]),
                t.update(3, np.array([box(103, 100)]), np.array([0.8])),
            ),
            4,
        ),
        ("frames dropped since the last one", lambda t: steady(t, 3, [box(100, 100)]), 4),
        (
            "a face moving faster than motion x its width a frame",
            lambda t: [t.update(f, np.array([box(100 + 4 * f, 100)]), np.array([0.8])) for f in range(3)],
            3,
        ),
        ("no frame yet", lambda t: None, 0),
        ("a finished source", lambda t: (steady(t, 3, [box(100, 100)]), t.finish()), 3),
    ],
)
def test_the_detector_must_look_at(why, setup, frame):
    tracker = FaceTracker(min_hits=3)
    setup(tracker)
    # every=10: none of these is refused for the detector having skipped too many frames already
    assert tracker.coast(frame, every=10, motion=0.05) is None, why


def test_an_empty_scene_is_steady_and_a_face_walking_in_is_found_at_the_next_look():
    tracker = FaceTracker(min_hits=1)
    tracker.update(0, np.empty((0, 4)), np.empty(0))
    assert tracker.coast(1, 2, 0.05) == []  # nothing there: frame 1 may be skipped
    assert tracker.skip(1) == []
    assert tracker.coast(2, 2, 0.05) is None  # the detector looks at frame 2 and finds the newcomer
    tracker.update(2, np.array([box(100, 100)]), np.array([0.8]), details=["newcomer"])
    assert tracker.coast(3, 2, 0.05)[0][0] == "newcomer"


def test_details_must_be_one_per_face():
    tracker = FaceTracker()
    with pytest.raises(ValueError, match="2 boxes need one detail each, not 1"):
        tracker.update(0, np.array([box(0, 0), box(100, 0)]), np.array([0.5, 0.5]), details=["one"])


def test_a_skipped_frames_classifications_go_into_the_tracks_averages_in_coasts_order():
    tracker = FaceTracker(min_hits=3, smoothing=0.5)
    steady(tracker, 3, [box(100, 100), box(400, 100)])  # both at 0.8
    faces = tracker.skip(3, np.array([0.2, np.nan]), np.array([30.0, np.nan]))
    assert [f.p_female for f in faces] == [pytest.approx(0.5), pytest.approx(0.8)]  # 0.5 x 0.2 + 0.5 x 0.8
    assert faces[0].age == 30.0 and faces[1].age is None  # the first age a track gets is its own
    assert tracker.due(4, np.array([box(104, 100), box(404, 100)]), every=2).tolist() == [False, True]
    with pytest.raises(ValueError, match=r"2 tracks need p_female of shape \(2,\), not \(1,\)"):
        tracker.skip(4, np.array([0.5]))
    with pytest.raises(ValueError, match="probabilities in"):
        tracker.skip(4, np.array([1.5, 0.5]))


def test_the_detector_never_skips_so_long_that_its_tracks_would_be_lost():
    tracker = FaceTracker(min_hits=3, max_missed=4)
    steady(tracker, 3, [box(100, 100)])
    for frame in range(3, 7):  # 4 frames skipped in a row: max_missed
        assert tracker.coast(frame, every=20, motion=0.05) is not None
        tracker.skip(frame)
    assert tracker.coast(7, every=20, motion=0.05) is None  # one more and frame 2's track would go
    faces, events = step(tracker, 7, [box(107, 100)])
    assert faces[0].track == 1 and events == []  # found again, the same track


def test_due_tracks_says_which_tracks_faces_are_due_in_coasts_order():
    tracker = FaceTracker(min_hits=1)
    tracker.update(0, np.array([box(100, 100)]), np.array([0.8]))
    tracker.update(1, np.array([box(100, 100), box(400, 100)]), np.array([np.nan, 0.8]))
    assert tracker.due_tracks(3, every=3).tolist() == [True, False]  # classified at 0 and at 1
