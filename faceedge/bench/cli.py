"""`faceedge bench`: a thin command over :func:`faceedge.bench.run.run_bench`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceedge.bench.run import BATCHES
from faceedge.bench.timing import MAX_SECONDS
from faceedge.bundled import BUNDLED_DIR


def bench(
    model: Annotated[Path, typer.Option(help="The .keras model the artifacts were exported from.")],
    data: Annotated[
        Path | None,
        typer.Option(envvar="FACEEDGE_UTKFACE", help="UTKFace (archive or folder): the test split."),
    ] = None,
    artifacts: Annotated[
        Path, typer.Option(help="The folder of exported artifacts (gender.onnx, gender_int8.onnx, ...).")
    ] = BUNDLED_DIR,
    split: Annotated[
        Path | None, typer.Option(help="The split file; the one beside the model by default.")
    ] = None,
    batch: Annotated[list[int] | None, typer.Option(help="Batch sizes (repeat).")] = None,
    engine: Annotated[
        list[str] | None, typer.Option(help="Only these engines (repeat), e.g. ort-cpu.")
    ] = None,
    max_seconds: Annotated[float, typer.Option(help="Timing per engine and batch size, at most.")] = (
        MAX_SECONDS
    ),
    pipeline: Annotated[
        bool, typer.Option("--pipeline", help="Also measure end to end, against the original app's way.")
    ] = False,
    video: Annotated[
        Path | None, typer.Option(help="The video for --pipeline; the demo clip by default.")
    ] = None,
    loops: Annotated[int, typer.Option(min=1, help="Times --pipeline plays the video.")] = 3,
    streams: Annotated[
        list[int] | None, typer.Option(help="Streams side by side for --pipeline (repeat).")
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the records as JSON.")] = None,
    md: Annotated[Path | None, typer.Option(help="Write the table as Markdown.")] = None,
    png: Annotated[Path | None, typer.Option(help="Draw the chart as PNG.")] = None,
) -> None:
    """Measure every engine (Keras, LiteRT, OpenCV DNN, ONNX Runtime, TensorRT) on one model, in one run."""
    from faceedge.bench.engines import ENGINES
    from faceedge.bench.report import print_table, write
    from faceedge.bench.run import run_bench
    from faceedge.errors import DatasetError, require
    from faceedge.paths import check_writable

    if data is None:
        raise DatasetError("pass the UTKFace archive or folder with --data (or set FACEEDGE_UTKFACE)")
    # Refused now, not after minutes of timing: each output, and the plotting library for the chart.
    for path, what in ((json_path, "benchmark JSON"), (md, "benchmark table"), (png, "benchmark chart")):
        if path is not None:
            check_writable(path, what)
    if png is not None:
        require("matplotlib", "train")
    names = list(dict.fromkeys(e.name for e in ENGINES))
    unknown = [name for name in engine or () if name not in names]
    if unknown:
        raise typer.BadParameter(f"no engine called {', '.join(unknown)}; there are {', '.join(names)}")
    engines = tuple(e for e in ENGINES if not engine or e.name in engine)
    report = run_bench(model, data, artifacts, split, tuple(batch or BATCHES), engines, max_seconds)
    print_table(report)
    end_to_end = None
    if pipeline:
        from faceedge.bench.pipeline import pipeline_bench
        from faceedge.bench.report import pipeline_markdown

        end_to_end = pipeline_bench(video, model, loops, tuple(streams or (1, 2, 4)))
        typer.echo(pipeline_markdown(end_to_end))
    write(report, json_path, md, png, end_to_end)
