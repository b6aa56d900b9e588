"""End-to-end speed of `faceedge run`, headless: frames per second and milliseconds per stage.

Runs the demo clip (1280x720), or any video, through the runtime exactly as `faceedge run
--no-display` does (decoding included, frames read ahead in a reader thread), for every
classifier artifact, `--classify-every` and `--detect-every` asked for, in one process so the
figures compare as ratios. Then times a
fresh `faceedge run --source demo` from process start to its first frame's JSON line.

    python benchmarks/pipeline_speed.py --loops 5 --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def pipeline_fps(
    model: str | None, video: str | None, loops: int, backend: str, every: int, detect_every: int
) -> dict:
    """One headless run of the whole source (after a short warm-up) with one configuration."""
    from faceedge.runtime.pipeline import FacePipeline
    from faceedge.runtime.run import run_pipeline
    from faceedge.runtime.sources import SourceSpec, open_source

    with FacePipeline(
        model=model, backend=backend, classify_every=every, detect_every=detect_every
    ) as pipeline:
        warm = open_source(SourceSpec("demo") if video is None else SourceSpec("video", video))
        run_pipeline(warm, pipeline, max_frames=30)  # sessions and caches warm
        source = open_source(SourceSpec("demo", loop=loops) if video is None else SourceSpec("video", video))
        summary = run_pipeline(source, pipeline)
        backends = pipeline.backends
        precision = pipeline.classifier.manifest.precision
    return {
        # The bundled default is chosen by --precision auto: say which artifact it took here.
        "model": model or f"bundled, --precision auto ({precision} here)",
        "classify_every": every,
        "detect_every": detect_every,
        # A share here; `faceedge run`'s summary and the bench count frames under "detector_skipped".
        "detector_skipped_share": round(summary.detector_skipped / max(summary.frames, 1), 3),
        "backends": backends,
        "frames": summary.frames,
        "faces_per_frame": round(summary.faces / max(summary.frames, 1), 2),
        "fps": round(summary.fps, 1),
        "stage_ms": {k: round(v, 3) for k, v in summary.mean_ms().items()},
    }


def median_run(runs: list[dict]) -> dict:
    """The run with the median frame rate of repeated runs of one configuration, with the spread."""
    ordered = sorted(runs, key=lambda run: run["fps"])
    return {**ordered[len(ordered) // 2], "fps_runs": [run["fps"] for run in runs]}


def first_frame_seconds(repeats: int) -> list[float]:
    """Wall time from launching `faceedge run --source demo` to its first JSON line."""
    command = [
        sys.executable,
        "-m",
        "faceedge",
        "run",
        "--source",
        "demo",
        "--no-display",
        "--json",
        "--max-frames",
        "1",
    ]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        process.stdout.readline()
        times.append(round(time.perf_counter() - start, 3))
        process.wait()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", default=None, help="a video file; the demo clip by default")
    parser.add_argument("--loops", type=int, default=5, help="times the demo clip is played")
    parser.add_argument(
        "--models",
        nargs="*",
        default=[None, "faceedge/models/gender.onnx", "faceedge/models/gender_int8.onnx"],
        help="classifier artifacts; the bundled default (--precision auto) for none given",
    )
    parser.add_argument("--backend", default="cpu")
    parser.add_argument("--classify-every", type=int, nargs="*", default=[1, 3])
    parser.add_argument("--detect-every", type=int, nargs="*", default=[2, 1])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each configuration, interleaved")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    configs = [
        (model, every, detect)
        for model in args.models
        for every in args.classify_every
        for detect in args.detect_every
    ]
    # Interleaved, so that a noisy spell on a shared machine hits every configuration alike.
    repeated = [[] for _ in configs]
    for _ in range(args.repeats):
        for runs_of, (model, every, detect) in zip(repeated, configs):
            runs_of.append(pipeline_fps(model, args.video, args.loops, args.backend, every, detect))
    runs = [median_run(runs_of) for runs_of in repeated]
    result = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
        },
        "source": args.video or "demo clip, 1280x720",
        "runs": runs,
        "first_frame_s": first_frame_seconds(3),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pipeline_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    stages = list(runs[0]["stage_ms"])
    lines = [
        f"Source: {result['source']}; {result['machine']['cpus']} CPUs, {result['machine']['platform']}.",
        "",
        f"Median of {args.repeats} interleaved runs (every run's FPS in brackets); "
        "stage times of the median run.",
        "",
        "| classifier | classify every | detect every | detector skipped | FPS | faces/frame | "
        + " | ".join(f"{s} ms" for s in stages)
        + " |",
        "| --- | --- | --- | --- | --- | --- | " + " | ".join("---" for _ in stages) + " |",
    ]
    for run in runs:
        cells = " | ".join(f"{run['stage_ms'].get(s, 0):.2f}" for s in stages)
        name, every, detect = Path(run["model"]).name, run["classify_every"], run["detect_every"]
        spread = ", ".join(str(fps) for fps in run["fps_runs"])
        lines.append(
            f"| {name} | {every} | {detect} | {run['detector_skipped_share']:.0%} | {run['fps']} ({spread}) "
            f"| {run['faces_per_frame']} | {cells} |"
        )
    lines += ["", f"Process start to first frame (s): {', '.join(map(str, result['first_frame_s']))}"]
    (args.out / "pipeline_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
