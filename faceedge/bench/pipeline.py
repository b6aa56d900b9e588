"""End to end: `faceedge run`'s pipeline against one built the way the original application worked,
on the same frames, and several streams batched into one classifier call."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from faceedge.ages import predicted_age_group
from faceedge.runtime.outputs import draw
from faceedge.runtime.pipeline import Face, FacePipeline, FrameResult
from faceedge.runtime.run import run_pipeline
from faceedge.runtime.sources import DEMO_CLIP, SourceSpec, open_source


class _DrawOnly:
    """A window that is never shown: the frames are drawn, as for a display, and nothing else."""

    def show(self, canvas: np.ndarray) -> bool:
        return True

    def close(self) -> None:
        pass


def faceedge_fps(video: Path | None, loops: int, limit: int | None = None, every_frame: bool = False) -> dict:
    """`faceedge run` headless on the video (the demo clip by default), drawing included: with its
    defaults, or with ``every_frame`` the detector and the classifier on every face of every frame
    (``--detect-every 1 --classify-every 1``). Its stage times overlap: decoding (with the
    detector's resize) runs in a reader thread beside the rest."""
    open_video = (
        (lambda n: open_source(SourceSpec("demo", loop=n)))
        if video is None
        else (lambda n: open_source(SourceSpec("video", str(video), loop=n)))
    )
    every = {"classify_every": 1, "detect_every": 1} if every_frame else {}
    with FacePipeline(backend="cpu", **every) as pipeline:
        run_pipeline(open_video(1), pipeline, max_frames=30)  # warm-up
        summary = run_pipeline(open_video(loops), pipeline, display=_DrawOnly(), max_frames=limit)
    return {
        "classify_every": pipeline.config.classify_every,
        "detect_every": pipeline.config.detect_every,
        "detector_skipped": summary.detector_skipped,
        "frames": summary.frames,
        "fps": round(summary.fps, 1),
        "stage_ms": {k: round(v, 3) for k, v in summary.mean_ms().items()},
    }


def _heads(model, outputs) -> tuple[float, float | None]:
    """P(female) and the age (None for a gender-only model) of one face from ``model.predict``, read
    by the names of the model's outputs (a two-head model gives a list or a dict of both)."""
    if not isinstance(outputs, dict):
        outputs = dict(zip(model.output_names, outputs if isinstance(outputs, (list, tuple)) else [outputs]))
    p = float(np.asarray(outputs["p_female"]).reshape(-1)[0])
    age = outputs.get("age")
    return p, None if age is None else float(np.asarray(age).reshape(-1)[0])


def _face(pipeline: FacePipeline, found, p: float, age: float | None) -> Face:
    """A face as faceedge would draw it: its label, and its age where the model gives one."""
    label = pipeline.classifier.label(p)
    group = None if age is None else predicted_age_group(age)
    return Face(found.box, found.score, found.keypoints, label, p, age=age, age_group=group)


def original_app_fps(video: Path | None, keras_model: Path, loops: int, limit: int | None = None) -> dict:
    """The same frames the way the original application handled them: decode, detect, and for each
    face a crop and a ``model.predict`` call of its own (both heads of a two-head model, its age
    drawn as faceedge draws it), then draw; one thread, no tracking.

    It uses faceedge's detector and crops, so the difference is how the classifier is called."""
    import keras

    model = keras.models.load_model(keras_model, compile=False)
    with FacePipeline(backend="cpu", track=False) as pipeline:
        detector, cropper = pipeline.detector, pipeline.cropper
        stages = dict.fromkeys(("decode", "detect", "crop", "classify", "draw"), 0.0)
        frames, start = 0, None
        for lap in range(loops + 1):  # the first lap (10 frames) warms up
            capture = cv2.VideoCapture(str(video or DEMO_CLIP))
            if lap == 1:
                stages, frames, start = dict.fromkeys(stages, 0.0), 0, time.perf_counter()
            while (frames < 10) if lap == 0 else (limit is None or frames < limit):
                t0 = time.perf_counter_ns()
                ok, image = capture.read()
                if not ok:
                    break
                t1 = time.perf_counter_ns()
                found = detector.detect(image)
                t2 = time.perf_counter_ns()
                chips = [cropper.crop(image, face) for face in found]
                t3 = time.perf_counter_ns()
                heads = [
                    _heads(model, model.predict(chip[None].astype(np.float32), verbose=0)) for chip in chips
                ]
                t4 = time.perf_counter_ns()
                faces = tuple(_face(pipeline, face, p, age) for face, (p, age) in zip(found, heads))
                draw(image, FrameResult("original", frames, faces))
                t5 = time.perf_counter_ns()
                for stage, ns in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                    stages[stage] += ns / 1e6
                frames += 1
            capture.release()
        seconds = time.perf_counter() - start
    return {
        "frames": frames,
        "fps": round(frames / seconds, 1),
        "stage_ms": {k: round(v / max(frames, 1), 3) for k, v in stages.items()},
    }


def multi_stream_fps(video: Path | None, streams: int, frames_per_stream: int) -> dict:
    """``streams`` copies of the video read side by side in one process, the faces of each step's
    frames classified in one call (:meth:`FacePipeline.process_streams`): total frames per second.
    The frames are decoded in the same thread (no reader thread), for every N alike."""
    with FacePipeline(backend="cpu") as pipeline:
        for warm in range(2):  # the first pass warms up
            captures = [cv2.VideoCapture(str(video or DEMO_CLIP)) for _ in range(streams)]
            start, frames = time.perf_counter(), 0
            for index in range(frames_per_stream if warm else 10):
                batch = []
                for n, capture in enumerate(captures):
                    ok, image = capture.read()
                    if not ok:
                        capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                        ok, image = capture.read()
                    batch.append((image, index, f"stream-{n}"))
                pipeline.process_streams(batch)
                frames += len(batch)
            seconds = time.perf_counter() - start
            for capture in captures:
                capture.release()
            pipeline.finish()
    return {"streams": streams, "frames": frames, "fps": round(frames / seconds, 1)}


def pipeline_bench(
    video: Path | None,
    keras_model: Path | None,
    loops: int,
    streams: tuple[int, ...],
    limit: int | None = None,
) -> dict:
    """Everything above, in one run; ``limit`` caps the frames of each part (a quick check)."""
    result = {
        "video": str(video) if video else "demo clip (1280x720)",
        "faceedge": faceedge_fps(video, loops, limit),
        "faceedge_every_frame": faceedge_fps(video, loops, limit, every_frame=True),
    }
    if keras_model is not None:
        result["original"] = original_app_fps(video, keras_model, loops, limit)
        for name in ("faceedge", "faceedge_every_frame"):
            result[f"speedup_{name}"] = round(result[name]["fps"] / result["original"]["fps"], 1)
    result["streams"] = [multi_stream_fps(video, n, limit or 180) for n in streams]
    return result
