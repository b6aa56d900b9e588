"""What skipping the detector on steady frames costs: `--detect-every 2` (the default) against 1.

With tracking on, the pipeline runs the detector at least every `detect_every` frames while every
tracked face holds still; in between, each face is where its track expects it. This plays each
clip through two pipelines that differ only in `detect_every`, and compares them frame by frame:

- how many frames the detector skipped;
- on those frames, how well the expected boxes overlap the boxes the detector finds (IoU), the
  faces it finds that no expected box covers (missed) and the expected boxes over no found face;
- on every frame, how often the two runs give a face the same gender, and how far apart its ages are;
- the track events: the same arrivals, and how many frames later each arrives.

Clips: the demo clip (two faces drifting slowly), and a walk-by clip made here from three UTKFace
faces: one stands still, one walks in at 6 px a frame, stops, and walks out, one steps in front of
the camera at once and leaves at once. UTKFace is read from its archive; nothing is written but
the clip in a temporary folder and the results.

    python benchmarks/detect_every.py --data ../shared/data/utkface/UTKFace.tar.gz --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import logging
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT, FPS, FRAMES = 1280, 720, 30, 240
FACE = 320  # pixels a UTKFace chip is drawn at: its face is then about 200 px wide, as in the demo


@dataclass(frozen=True)
class Walk:
    """Where one face is drawn in each frame (top-left corner), or None where it is not there."""

    start: int
    stop: int
    path: list[tuple[int, float, float]]  # (frame, x, y) waypoints, straight lines between

    def at(self, frame: int) -> tuple[float, float] | None:
        if not self.start <= frame < self.stop:
            return None
        frames = [f for f, _, _ in self.path]
        return float(np.interp(frame, frames, [x for _, x, _ in self.path])), float(
            np.interp(frame, frames, [y for _, _, y in self.path])
        )


WALKS = (
    Walk(0, FRAMES, [(0, 40.0, 200.0), (FRAMES, 60.0, 210.0)]),  # stands, drifting 0.1 px a frame
    # walks in from the right at 6 px a frame, stops in the middle for 60 frames, walks out
    Walk(20, FRAMES, [(20, 1280.0, 180.0), (153, 480.0, 180.0), (213, 480.0, 180.0), (240, 660.0, 180.0)]),
    Walk(150, 210, [(150, 880.0, 120.0), (210, 880.0, 120.0)]),  # steps in, stands, leaves: cuts
)


def utkface_faces(archive: Path, count: int) -> list[np.ndarray]:
    """``count`` UTKFace chips (BGR), the same ones every time: evenly spaced in the archive's order."""
    with tarfile.open(archive) as tar:
        names = sorted(m.name for m in tar.getmembers() if m.isfile() and m.name.endswith(".jpg"))
        picked = [names[int(i)] for i in np.linspace(0, len(names) - 1, count + 2)[1:-1]]
        chips = []
        for name in picked:
            data = np.frombuffer(tar.extractfile(name).read(), np.uint8)
            chips.append(cv2.resize(cv2.imdecode(data, cv2.IMREAD_COLOR), (FACE, FACE)))
    return chips


def write_walk_by(archive: Path, path: Path) -> Path:
    """The walk-by clip: a grey room, three UTKFace faces moving as ``WALKS`` says."""
    faces = utkface_faces(archive, len(WALKS))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise SystemExit(f"OpenCV cannot write mp4v video to {path}")
    try:
        for index in range(FRAMES):
            frame = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
            for face, walk in zip(faces, WALKS):
                where = walk.at(index)
                if where is not None:
                    shift = np.array([[1.0, 0.0, where[0]], [0.0, 1.0, where[1]]])
                    cv2.warpAffine(face, shift, (WIDTH, HEIGHT), dst=frame, borderMode=cv2.BORDER_TRANSPARENT)
            writer.write(frame)
    finally:
        writer.release()
    return path


def play(video: Path | None, detect_every: int) -> tuple[list, list]:
    """Every frame's result and every track event of one tracked run."""
    from faceedge.runtime.pipeline import FacePipeline
    from faceedge.runtime.sources import SourceSpec, open_source

    spec = SourceSpec("demo") if video is None else SourceSpec("video", str(video))
    with FacePipeline(backend="cpu", detect_every=detect_every) as pipeline, open_source(spec) as source:
        results = [pipeline.process(frame.image, frame.index, frame.source) for frame in source]
        events = [e for r in results for e in r.events] + pipeline.finish()
    return results, events


def iou(a: tuple, b: tuple) -> float:
    """IoU of two (x, y, w, h) boxes."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(x1 - x0, 0) * max(y1 - y0, 0)
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1e-12)


def pairs(faces: tuple, truth: tuple) -> list[tuple[object, object, float]]:
    """Each face of ``faces`` with the face of ``truth`` it overlaps most, and that IoU (0 if none)."""
    out = []
    for face in faces:
        best = max(truth, key=lambda other: iou(face.box, other.box), default=None)
        out.append((face, best, 0.0 if best is None else iou(face.box, best.box)))
    return out


def compare(video: Path | None, name: str) -> dict:
    """The default run against the run that detects on every frame, on one clip."""
    skipping, skip_events = play(video, 2)
    every, every_events = play(video, 1)
    ious, missed, phantom, same_gender, age_gaps = [], 0, 0, [], []
    for mine, theirs in zip(skipping, every):
        matched = pairs(mine.faces, theirs.faces)
        if not mine.detected:
            ious += [overlap for _, _, overlap in matched]
            phantom += sum(overlap < 0.5 for _, _, overlap in matched)
            missed += sum(
                all(iou(face.box, other.box) < 0.5 for other in mine.faces) for face in theirs.faces
            )
        for face, other, overlap in matched:
            if overlap >= 0.5:
                same_gender.append(face.gender == other.gender)
                if face.age is not None:
                    age_gaps.append(abs(face.age - other.age))
    starts = [[e.frame for e in events if e.kind == "start"] for events in (skip_events, every_events)]
    skipped = sum(not r.detected for r in skipping)
    return {
        "clip": name,
        "frames": len(skipping),
        "detector_skipped": skipped,
        "skipped_share": round(skipped / max(len(skipping), 1), 3),
        "skipped_frames_faces": len(ious),
        "iou_median": round(float(np.median(ious)), 3) if ious else None,
        "iou_p5": round(float(np.percentile(ious, 5)), 3) if ious else None,
        "iou_min": round(float(np.min(ious)), 3) if ious else None,
        "missed_faces": missed,
        "phantom_faces": phantom,
        "faces_compared": len(same_gender),
        "same_gender": round(float(np.mean(same_gender)), 4) if same_gender else None,
        "age_gap_mean_years": round(float(np.mean(age_gaps)), 2) if age_gaps else None,
        "starts": {"detect_every_2": starts[0], "detect_every_1": starts[1]},
        "ends": {
            "detect_every_2": sum(e.kind == "end" for e in skip_events),
            "detect_every_1": sum(e.kind == "end" for e in every_events),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data/utkface/UTKFace.tar.gz"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    runs = [compare(None, "demo clip (2 faces drifting under 1 px a frame)")]
    if args.data.exists():
        with tempfile.TemporaryDirectory() as folder:
            clip = write_walk_by(args.data, Path(folder) / "walk_by.mp4")
            runs.append(
                compare(clip, "walk-by (UTKFace: one still, one walking 6 px a frame, one cut in and out)")
            )
    else:
        logging.warning("no UTKFace archive at %s: the walk-by clip is left out", args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "detect_every.json").write_text(json.dumps(runs, indent=2) + "\n")
    lines = [
        "`--detect-every 2` (default) against `--detect-every 1`, the same clip through both; "
        "IoU of the expected boxes with the detector's, on the frames it skipped.",
        "",
        "| clip | frames | detector skipped | IoU median | IoU 5th pct | IoU min | missed | phantom "
        "| same gender | age gap (y) | starts (skip / every) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        starts = run["starts"]
        lines.append(
            f"| {run['clip']} | {run['frames']} | {run['detector_skipped']} ({run['skipped_share']:.0%}) "
            f"| {run['iou_median']} | {run['iou_p5']} | {run['iou_min']} | {run['missed_faces']} "
            f"| {run['phantom_faces']} | {run['same_gender']:.2%} | {run['age_gap_mean_years']} "
            f"| {starts['detect_every_2']} / {starts['detect_every_1']} |"
        )
    (args.out / "detect_every.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
