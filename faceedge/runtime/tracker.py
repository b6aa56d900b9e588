"""Face tracks across video frames: a stable id per face, a smoothed gender and age, arrivals and departures.

Faces are matched to tracks greedily by the overlap (IoU) of their box with the box each track is
expected at, a constant-velocity step from where it was last seen. Each track smooths the
classifier's P(female) and holds its gender label with hysteresis, so a face the classifier is
unsure about does not flicker between labels; a two-head model's age is smoothed the same way, in
years. A track that has been seen in ``min_hits`` frames
emits one "start" event, and one "end" event when it is dropped or the source ends: an
access-control log gets one row per arrival, not one per frame.

While every face holds still, the tracker can say where the faces are in the next frame
(:meth:`coast`), so that the pipeline need not run the detector on every frame (:meth:`skip`).

numpy only; each frame costs O(tracks x faces).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from faceedge.ages import predicted_age_group

# Weight of the newest frame in a track's velocity. One frame's motion alone carries the detector's
# jitter twice (two noisy boxes); halving it still follows a face that turns within two frames.
_VELOCITY_WEIGHT = 0.5


@dataclass(frozen=True)
class TrackedFace:
    """One input face as the tracker sees it: its track, the track's smoothed P(female) and label,
    and its smoothed age in years (None where the classifier gives no age)."""

    track: int
    p_female: float
    gender: str
    hits: int
    age: float | None = None


@dataclass(frozen=True)
class TrackEvent:
    """A track started (seen in ``min_hits`` frames) or ended (dropped, or the source ended).

    ``frame`` and ``box`` are where the face was at that moment: for "end", the last frame it was
    seen in and its box there. ``frames`` counts the frames the track was seen in so far. Frames
    the detector skipped (:meth:`FaceTracker.skip`) count for none of these. ``age`` (smoothed,
    years) and ``age_group`` are None where the classifier gives no age.
    """

    kind: str
    track: int
    frame: int
    box: tuple[float, float, float, float]
    gender: str
    p_female: float
    frames: int
    age: float | None = None
    age_group: str | None = None

    def to_dict(self) -> dict:
        """The event as plain JSON types, under ``event``, ``track``, ``frame``, ``box`` and so on;
        ``age`` and ``age_group`` are null for a gender-only model, so every model gives one shape."""
        return {
            "event": self.kind,
            "track": self.track,
            "frame": self.frame,
            "box": [round(v, 1) for v in self.box],  # as in the frames' JSON lines
            "gender": self.gender,
            "p_female": round(self.p_female, 4),
            "age": None if self.age is None else round(self.age, 1),
            "age_group": self.age_group,
            "frames": self.frames,
        }


@dataclass
class _Track:
    """A track's state between frames. ``box`` is (x, y, w, h) where the face was last seen."""

    id: int
    box: np.ndarray
    frame: int
    p_female: float
    gender: str
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    hits: int = 1
    started: bool = False
    classified: int = 0  # the last frame whose P(female) went into the average
    age: float | None = None  # smoothed, in years; None for a model without an age output
    detail: object = None  # what the caller gave with the face in the frame it was last seen in

    def predicted(self, frame: int) -> np.ndarray:
        """Where the box should be at ``frame``: the centre moves on at the track's velocity, the
        size stays (extrapolating a size change over a long gap could give a negative width)."""
        box = self.box.copy()
        box[:2] += self.velocity * (frame - self.frame)
        return box

    def event(self, kind: str) -> TrackEvent:
        return TrackEvent(
            kind,
            self.id,
            self.frame,
            tuple(float(v) for v in self.box),
            self.gender,
            self.p_female,
            self.hits,
            self.age,
            None if self.age is None else predicted_age_group(self.age),
        )


class FaceTracker:
    """Gives every face a track id that lasts across frames, smooths its gender, and reports arrivals.

    Args:
        threshold: P(female) at or above which a new face is called ``positive``.
        positive, negative: the labels at or above ``threshold`` and below it: the classifier's
            manifest's (``GenderClassifier.positive`` and ``.negative``).
        iou_match: least IoU between a face and a track's expected box for them to be matched.
        max_missed: frames in a row a track may go unseen and still be matched again; one more ends it.
        min_hits: frames (not necessarily consecutive) a track must be seen in before it "starts".
            Tracks dropped earlier, one-frame false detections say, end without any event.
        smoothing: weight of the newest frame in the moving averages of P(female) and of the age;
            1 is no smoothing.
        hysteresis: how far past ``threshold`` the smoothed P(female) must go to change a label.

    Raises:
        ValueError: a parameter out of its range.
    """

    def __init__(
        self,
        threshold: float = 0.5,
        positive: str = "female",
        negative: str = "male",
        iou_match: float = 0.3,
        max_missed: int = 15,
        min_hits: int = 3,
        smoothing: float = 0.3,
        hysteresis: float = 0.1,
        ids: Iterator[int] | None = None,
    ) -> None:
        checks = {
            f"threshold must be in [0, 1], not {threshold}": 0 <= threshold <= 1,
            # At 0, faces and tracks that do not overlap at all would be paired.
            f"iou_match must be in (0, 1], not {iou_match}": 0 < iou_match <= 1,
            f"max_missed must be 0 or more, not {max_missed}": max_missed >= 0,
            f"min_hits must be 1 or more, not {min_hits}": min_hits >= 1,
            f"smoothing must be in (0, 1], not {smoothing}": 0 < smoothing <= 1,
            f"hysteresis must be 0 or more, not {hysteresis}": hysteresis >= 0,
        }
        for message, ok in checks.items():
            if not ok:
                raise ValueError(message)
        self.threshold = threshold
        self.positive, self.negative = positive, negative
        self.iou_match = iou_match
        self.max_missed = max_missed
        self.min_hits = min_hits
        self.smoothing = smoothing
        self.hysteresis = hysteresis
        self._tracks: list[_Track] = []
        # Several trackers (one per stream of a pipeline) may draw from one counter, so that a
        # track id is unique across all of them.
        self._ids = ids if ids is not None else itertools.count(1)
        self._last_frame: int | None = None
        self._last_detected: int | None = None  # the last frame given to update (not skipped)

    @property
    def active(self) -> int:
        """Live tracks, started or not."""
        return len(self._tracks)

    def due(self, frame: int, boxes: np.ndarray, every: int) -> np.ndarray:
        """Which of this frame's faces need the classifier, when each track is classified only every
        ``every`` frames: new faces, and faces of tracks last classified ``every`` or more frames ago.

        Changes nothing: :meth:`update` with the same frame and boxes matches the faces the same way.
        On a frame the detector skips, :meth:`due_tracks` says it of the tracks' own faces.
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        needed = np.ones(len(boxes), dtype=bool)
        if every > 1:
            alive = [t for t in self._tracks if not self._stale(t, int(frame))]
            for face, track in self._match(int(frame), boxes, alive).items():
                needed[face] = frame - track.classified >= every
        return needed

    def due_tracks(self, frame: int, every: int) -> np.ndarray:
        """:meth:`due` for a frame the detector skips: which tracks' faces, in :meth:`coast`'s order,
        were last classified ``every`` or more frames ago."""
        return np.array([frame - track.classified >= every for track in self._tracks], dtype=bool)

    def coast(self, frame: int, every: int, motion: float) -> list[tuple[object, np.ndarray]] | None:
        """Where the faces are expected at ``frame`` if the detector skips it, or None if it must look.

        The detector may skip a frame that follows the previous one directly (none dropped; give
        frames their real indices), fewer than ``every`` frames after the last frame it looked at
        (and never so many that its tracks would count as lost: at most ``max_missed`` in a row),
        while every track has started (no new or doubtful face), was found in that frame (none
        missing) and moves less than ``motion`` of its width a frame. An empty scene is steady too:
        a face that walks in is found at most ``every - 1`` frames late, and so is a cut to another
        picture. Returns, for every track, the ``detail`` it was last seen with (see :meth:`update`)
        and the ``(dx, dy)`` pixels its box is expected to have moved by since. Changes nothing:
        :meth:`skip` then takes the frame.
        """
        frame = int(frame)
        if every <= 1 or self._last_detected is None or self._last_frame != frame - 1:
            return None
        if frame - self._last_detected >= min(every, self.max_missed + 1):
            return None
        for track in self._tracks:
            steady = np.hypot(*track.velocity) < motion * track.box[2]
            if not (track.started and track.frame == self._last_detected and steady):
                return None
        return [(track.detail, track.velocity * (frame - track.frame)) for track in self._tracks]

    def skip(
        self, frame: int, p_female: np.ndarray | None = None, ages: np.ndarray | None = None
    ) -> list[TrackedFace]:
        """The detector skipped ``frame``, as :meth:`coast` allowed: every track's face, in
        :meth:`coast`'s order. ``p_female`` and ``ages`` are the classifier's outputs for those
        faces, in that order (NaN where not classified, see :meth:`due`; None: none classified),
        and go into the tracks' averages as :meth:`update` would take them. Nothing is matched,
        counted or ended: the tracks stay where they were last seen, and the next :meth:`update`
        takes them on from there.

        Raises:
            ValueError: ``frame`` not after the previous one, or outputs that are not one per track
                (or not as :meth:`update` takes them).
        """
        frame = int(frame)
        if p_female is None:
            p_female = np.full(len(self._tracks), np.nan)
        p_female = _checked_probabilities(p_female, len(self._tracks), "tracks")
        ages = _checked_ages(ages, p_female)
        if self._last_frame is not None and frame <= self._last_frame:
            raise ValueError(f"frame {frame} comes after frame {self._last_frame}: frames must increase")
        self._last_frame = frame
        for i, track in enumerate(self._tracks):
            self._classified(track, frame, float(p_female[i]), None if ages is None else float(ages[i]))
        return [TrackedFace(t.id, t.p_female, t.gender, t.hits, t.age) for t in self._tracks]

    def update(
        self,
        frame: int,
        boxes: np.ndarray,
        p_female: np.ndarray,
        ages: np.ndarray | None = None,
        details: list | None = None,
    ) -> tuple[list[TrackedFace], list[TrackEvent]]:
        """Take one frame's faces: ``boxes`` ``(n, 4)`` as (x, y, w, h) pixels, ``p_female`` ``(n,)``
        the classifier's raw outputs, ``ages`` ``(n,)`` its ages in years (None for a model without
        an age output); ``n`` may be 0. A NaN P(female) (and age) means that face was not
        classified this frame (see :meth:`due`): its track keeps its averages. ``details`` (one
        per face, anything: the pipeline gives its detections) are kept with the tracks for
        :meth:`coast`.

        Returns one ``TrackedFace`` per input face, in input order, and this frame's events: the
        "end" of tracks dropped now (their ``frame`` is earlier), then the "start" of tracks that
        reached ``min_hits`` now.

        Raises:
            ValueError: ``frame`` not after the previous one (since ``finish()``), a shape that is
                not ``(n, 4)`` and ``(n,)``, a box that is not finite, a P(female) outside [0, 1], an
                age that is infinite or NaN where P(female) is not (or the other way round), a
                NaN for a face that starts a new track, or ``details`` not one per face.
        """
        boxes, p_female = _checked(boxes, p_female)
        ages = _checked_ages(ages, p_female)
        details = [None] * len(boxes) if details is None else list(details)
        if len(details) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes need one detail each, not {len(details)}")
        frame = int(frame)
        if self._last_frame is not None and frame <= self._last_frame:
            raise ValueError(f"frame {frame} comes after frame {self._last_frame}: frames must increase")
        self._last_frame = self._last_detected = frame

        # Frames may be skipped between calls: a track unseen for too long by now cannot be matched.
        events = self._drop(lambda t: self._stale(t, frame))
        pairs = self._match(frame, boxes, self._tracks)
        matched = {t.id for t in pairs.values()}
        events += self._drop(lambda t: t.id not in matched and frame - t.frame > self.max_missed)

        faces = []
        for i, (box, p) in enumerate(zip(boxes, p_female)):
            age = None if ages is None else float(ages[i])
            if i in pairs:
                track = pairs[i]
                self._observe(track, frame, box, float(p), age)
            elif np.isnan(p):
                raise ValueError(f"face {i} of frame {frame} starts a track but was not classified")
            else:
                track = self._new_track(frame, box, float(p), age)
            track.detail = details[i]
            if not track.started and track.hits >= self.min_hits:
                track.started = True
                events.append(track.event("start"))
            faces.append(TrackedFace(track.id, track.p_female, track.gender, track.hits, track.age))
        return faces, events

    def finish(self) -> list[TrackEvent]:
        """The source ended: the "end" events of the started tracks still alive, in track order.

        The tracker is then empty and takes frames from any index again; track ids keep counting up.
        """
        events = [t.event("end") for t in self._tracks if t.started]
        self._tracks = []
        self._last_frame = self._last_detected = None
        return events

    def _stale(self, track: _Track, frame: int) -> bool:
        """Unseen for too long by ``frame`` to be matched again (frames may be skipped between calls)."""
        return frame - track.frame - 1 > self.max_missed

    def _match(self, frame: int, boxes: np.ndarray, tracks: list[_Track]) -> dict[int, _Track]:
        """Greedy matching of faces to ``tracks``, best IoU first: ``{face index: its track}``."""
        if not tracks or not len(boxes):
            return {}
        expected = np.stack([t.predicted(frame) for t in tracks])
        iou = _iou_matrix(expected, boxes)
        rows, cols = np.nonzero(iou >= self.iou_match)
        # Sorting only the pairs above the bar keeps this near O(tracks x faces): faces rarely overlap,
        # so there are about as many such pairs as faces. Stable: ties go to the older track.
        order = np.argsort(-iou[rows, cols], kind="stable")
        pairs: dict[int, _Track] = {}
        used_tracks: set[int] = set()
        for row, col in zip(rows[order], cols[order]):
            if row not in used_tracks and col not in pairs:
                used_tracks.add(row)
                pairs[int(col)] = tracks[row]
        return pairs

    def _drop(self, dead: Callable[[_Track], bool]) -> list[TrackEvent]:
        """Remove the tracks for which ``dead(track)`` holds; the "end" events of those that started."""
        events = [t.event("end") for t in self._tracks if t.started and dead(t)]
        self._tracks = [t for t in self._tracks if not dead(t)]
        return events

    def _new_track(self, frame: int, box: np.ndarray, p: float, age: float | None) -> _Track:
        track = _Track(
            next(self._ids),
            box.copy(),
            frame,
            p,
            self.positive if p >= self.threshold else self.negative,
            classified=frame,
            age=age,
        )
        self._tracks.append(track)
        return track

    def _observe(self, track: _Track, frame: int, box: np.ndarray, p: float, age: float | None) -> None:
        step = (_centre(box) - _centre(track.box)) / (frame - track.frame)
        # The first step is all the evidence there is: averaging it with the initial zero would lag.
        weight = 1.0 if track.hits == 1 else _VELOCITY_WEIGHT
        track.velocity = weight * step + (1 - weight) * track.velocity
        track.box, track.frame, track.hits = box.copy(), frame, track.hits + 1
        self._classified(track, frame, p, age)

    def _classified(self, track: _Track, frame: int, p: float, age: float | None) -> None:
        """Fold one classification of the track's face into its averages and label; a NaN ``p``
        (not classified this frame) changes nothing."""
        if np.isnan(p):  # not classified this frame: the average stands
            return
        track.classified = frame
        # Averaged as probabilities, not logits: one frame can then move the average by at most
        # `smoothing`, whereas in logit space a single overconfident frame (a blurred or turned face,
        # p = 0.9999, logit 9.2) would outweigh several ordinary ones. The threshold and hysteresis
        # are probabilities too, so the band means what it says.
        track.p_female = self.smoothing * p + (1 - self.smoothing) * track.p_female
        if track.p_female >= self.threshold + self.hysteresis:
            track.gender = self.positive
        elif track.p_female <= self.threshold - self.hysteresis:
            track.gender = self.negative
        if age is not None:
            # Years, with the same weight: one misread frame (a turned face read 20 years off) moves
            # the track's age by `smoothing` of its error, 6 years at 0.3, and the next frames pull
            # it back. A track that had no age (none can, from one classifier) takes the first.
            track.age = age if track.age is None else self.smoothing * age + (1 - self.smoothing) * track.age


def _checked(boxes: np.ndarray, p_female: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``boxes`` as float ``(n, 4)`` and ``p_female`` as float ``(n,)``, or a ValueError saying why not."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (n, 4) x, y, w, h, not {boxes.shape}")
    if not np.all(np.isfinite(boxes)):
        raise ValueError("boxes must be finite")
    return boxes, _checked_probabilities(p_female, len(boxes), "boxes")


def _checked_probabilities(p_female: np.ndarray, count: int, of: str) -> np.ndarray:
    """``p_female`` as float ``(count,)``, one per box or track (``of``), or a ValueError saying why not."""
    p_female = np.asarray(p_female, dtype=np.float64)
    if p_female.ndim != 1 or len(p_female) != count:
        raise ValueError(f"{count} {of} need p_female of shape ({count},), not {p_female.shape}")
    # NaN marks a face that was not classified this frame; any other value must be a probability.
    bad = ~((p_female >= 0) & (p_female <= 1)) & ~np.isnan(p_female)
    if bad.any():
        raise ValueError(f"p_female must be probabilities in [0, 1], got {p_female[bad][0]}")
    return p_female


def _checked_ages(ages: np.ndarray | None, p_female: np.ndarray) -> np.ndarray | None:
    """``ages`` as float ``(n,)`` beside the checked ``p_female``, or None; a ValueError saying why not.

    Both heads come from one classifier call, so a face is classified for both or for neither.
    """
    if ages is None:
        return None
    ages = np.asarray(ages, dtype=np.float64)
    if ages.shape != p_female.shape:
        raise ValueError(f"{len(p_female)} faces need ages of shape ({len(p_female)},), not {ages.shape}")
    if np.isinf(ages).any() or not np.array_equal(np.isnan(ages), np.isnan(p_female)):
        raise ValueError("ages must be finite, and NaN exactly where p_female is (not classified this frame)")
    return ages


def _centre(box: np.ndarray) -> np.ndarray:
    return box[:2] + box[2:] / 2


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every (x, y, w, h) box in ``a`` with every one in ``b``: ``(len(a), len(b))``."""
    a0, a1 = a[:, None, :2], a[:, None, :2] + a[:, None, 2:]
    b0, b1 = b[None, :, :2], b[None, :, :2] + b[None, :, 2:]
    overlap = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None).prod(axis=2)
    area_a, area_b = a[:, None, 2:].prod(axis=2), b[None, :, 2:].prod(axis=2)
    return overlap / np.maximum(area_a + area_b - overlap, 1e-12)
