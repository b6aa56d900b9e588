"""A benchmark run as JSON records, a Markdown table, a terminal table and a PNG chart."""

from __future__ import annotations

import json
from pathlib import Path

from faceedge.bench.run import BenchReport, EngineResult

KERAS_ROWS = ("keras-predict", "keras-call", "keras-tf-function")
CAPPED = "100 % (capped)"  # the peak cell of a row that read more than its measured peak


def records(report: BenchReport) -> dict:
    """``{"machine": ..., "records": [...]}``: one record per engine and batch size (one with
    ``batch`` None for an engine that was skipped or failed)."""
    rows = []
    for r in report.results:
        base = {
            "engine": r.engine,
            "precision": r.precision,
            "family": r.family,
            "device": r.device,
            "status": r.status,
            "reason": r.reason or None,
            "providers": r.providers,
            "size_mb": None if r.size_mb is None else round(r.size_mb, 2),
            "accuracy": None if r.accuracy is None else round(r.accuracy, 4),
            "age_mae": _round(r.age_mae, 3),  # years; None where the model gives no age
        }
        for batch in report.batches if r.status == "ok" else (None,):
            t = r.timings.get(batch)
            failed = batch in r.errors
            rows.append(
                {
                    **base,
                    "status": "failed" if failed else r.status,
                    "reason": r.errors.get(batch) if failed else base["reason"],
                    "batch": batch,
                    "p50_ms": _round(t.p50_ms) if t else None,
                    "p95_ms": _round(t.p95_ms) if t else None,
                    "p99_ms": _round(t.p99_ms) if t else None,
                    "images_per_s": _round(t.images_per_s, 1) if t else None,
                    "calls": t.calls if t else None,
                    **_peak_record(report, r, t),
                    "speedup": {k: round(v, 2) for k, v in report.speedups(r, batch).items()} if t else {},
                }
            )
    return {
        "machine": report.machine,
        "flops_per_image": report.flops_per_image,
        "test_images": report.images,
        "records": rows,
    }


def peak_share(report: BenchReport, r: EngineResult, timing) -> tuple[float | None, bool]:
    """The share of the CPU's peak for ``r``'s arithmetic (INT8 or FP32) that ``r`` computes at
    ``timing`` (None where there is none, see :meth:`BenchReport.peak_fraction`), and whether it was
    capped. No row can outrun the peak of its own arithmetic, so a row over 1 means that peak was
    measured low (a busy moment, a BLAS held to an older kernel): it is reported as 1, flagged,
    never as more."""
    fraction = report.peak_fraction(r, timing) if timing is not None else None
    if fraction is not None and fraction > 1:
        return 1.0, True
    return fraction, False


def _peak_record(report: BenchReport, r: EngineResult, timing) -> dict:
    fraction, capped = peak_share(report, r, timing)
    return {"peak_fraction": _round(fraction), "peak_capped": capped}


def _peak_cell(report: BenchReport, r: EngineResult, timing) -> str:
    fraction, capped = peak_share(report, r, timing)
    if fraction is None:
        return ""
    return CAPPED if capped else f"{100 * fraction:.0f} %"


def _peak_words(machine: dict) -> str:
    """The peak, what set it and every product's rate beside (older records name only the peak)."""
    rates = machine.get("fp32_peak_gflops_by_product") or {}
    beside = "; ".join(f"{name} {rate} GFLOP/s" for name, rate in rates.items())
    what = machine.get("peak_measured_with")
    details = ", ".join(part for part in (what, beside) if part)
    return f"{machine['fp32_peak_gflops']} GFLOP/s" + (f" ({details})" if details else "")


def _int8_words(machine: dict) -> str:
    """The INT8 peak and what set it, with the separator after it; empty where none was measured."""
    if not machine.get("int8_peak_gops"):
        return ""
    return f"INT8 peak: {machine['int8_peak_gops']} GOP/s ({machine['int8_peak_measured_with']}); "


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _age(r: EngineResult) -> str:
    """The age MAE cell: years, or "no age" for a row that ran a model without an age output."""
    if r.age_mae is not None:
        return f"{r.age_mae:.2f}"
    return "no age" if r.status == "ok" else ""


def _status(r: EngineResult) -> str:
    return "ok" if r.status == "ok" else f"{r.status}: {r.reason}"


def table_rows(report: BenchReport) -> tuple[list[str], list[list[str]]]:
    """The summary table: a row per engine, the columns the README shows."""
    header = ["engine", "precision", "status", "MB", "accuracy", "age MAE (years)", "p50 / p95 / p99 ms @1"]
    header += [f"img/s @{b}" for b in report.batches if b > 1]
    header += [f"× {k.removeprefix('keras-')} @1" for k in KERAS_ROWS]
    header += ["peak @32"]
    rows = []
    for r in report.results:
        one = r.timings.get(1)
        row = [
            r.engine,
            r.precision,
            _status(r),
            f"{r.size_mb:.2f}" if r.size_mb is not None else "",
            f"{100 * r.accuracy:.2f} %" if r.accuracy is not None else "",
            _age(r),
            f"{_ms(one.p50_ms)} / {_ms(one.p95_ms)} / {_ms(one.p99_ms)} ({one.calls} calls)" if one else "",
        ]
        for b in report.batches:
            if b > 1:
                t = r.timings.get(b)
                row.append(f"{t.images_per_s:,.0f}" if t else ("failed" if b in r.errors else ""))
        speedups = report.speedups(r, 1)
        row += [f"{speedups[k]:.1f}" if k in speedups and k != r.engine else "" for k in KERAS_ROWS]
        row.append(_peak_cell(report, r, r.timings.get(32)))
        rows.append(row)
    return header, rows


def markdown(report: BenchReport) -> str:
    m = report.machine
    header, rows = table_rows(report)
    lines = [
        f"Machine: {m['cpu']}, {m['cpus']} CPUs ({', '.join(m['cpu_flags']) or 'no AVX flags'}); "
        f"GPU: {', '.join(m['gpus']) or 'none'}; {m['platform']}.",
        f"FP32 peak measured in this run: {_peak_words(m)}; {_int8_words(m)}"
        + (f"model: {report.flops_per_image:,} FLOPs per image; " if report.flops_per_image else "")
        + f"{report.images} test images.",
        "Libraries: " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items()) + ".",
        "Providers really used: "
        + "; ".join(f"{r.label}: {r.providers}" for r in report.results if r.status == "ok")
        + ".",
        "Accuracy is the gender's on the test split; age MAE is the mean absolute error of the "
        'estimated age against the split\'s labels, in years ("no age": the model gives none). Both '
        "are measured apart from the timed calls, which return every output the model gives. "
        "Throughput is images over the total time of the timed calls; p95 and p99 are left out (–) "
        "where too few calls were made for them to mean more than the slowest call. The peak share "
        "is of the CPU's peak for the row's arithmetic, for CPU rows only: the FP32 peak (the faster "
        "of the matrix products measured) for FP32 rows, the INT8 peak (ONNX Runtime's integer "
        f'matrix product) for INT8 rows; a row that reads more than its peak is shown as "{CAPPED}" '
        "(the peak was measured low: no arithmetic outruns its own peak), never over 100 %.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


def print_table(report: BenchReport) -> None:
    """The summary table on the terminal (rich, which faceedge's CLI already brings); the reasons
    of skipped and failed rows follow it, so that the table stays narrow."""
    from rich.console import Console
    from rich.table import Table

    header, rows = table_rows(report)
    m = report.machine
    table = Table(
        title=f"faceedge bench: {m['cpu']}, {m['cpus']} CPUs, FP32 peak {m['fp32_peak_gflops']} GFLOP/s"
    )
    for name in header:
        table.add_column(name)
    for r, row in zip(report.results, rows):
        table.add_row(*row[:2], r.status, *row[3:])
    console = Console(width=max(160, Console().width))
    for line in markdown(report).split("\n\n", 1)[0].splitlines():  # the machine, first
        console.print(line, highlight=False, markup=False)
    console.print(table)
    for r in report.results:
        if r.status != "ok":
            console.print(f"{r.label}: {r.status}: {r.reason}", highlight=False, markup=False)


def plot(data: dict, path: str | Path) -> Path:
    """Two panels from :func:`records`' output (so a saved JSON can be drawn again): latency at batch 1
    and throughput at batch 32 per engine, on log scales."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    from faceedge.plotting import pyplot

    plt = pyplot()
    colours = {"keras": "#999999", "alternative": "#e69f00", "faceedge": "#0072b2"}
    rows = [r for r in data["records"] if r["status"] == "ok"]
    engines = list(dict.fromkeys(_row_label(r) for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * max(len(engines), 4) + 1.5))
    for ax, batch, key, title in (
        (axes[0], 1, "p50_ms", "latency at batch 1 (ms, p50; lower is better)"),
        (axes[1], 32, "images_per_s", "throughput at batch 32 (images/s; higher is better)"),
    ):
        cells = [r for r in rows if r["batch"] == batch and r[key] is not None]
        values = [r[key] for r in cells]
        ax.barh(
            [_row_label(r) for r in cells],
            values,
            color=[colours[r["family"]] for r in cells],
        )
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        for y, value in enumerate(values):
            ax.text(value, y, f" {value:,.1f}", va="center", fontsize=8)
    axes[1].set_yticklabels([])
    machine = data["machine"]
    fig.suptitle(
        f"{machine['cpu']}, {machine['cpus']} CPUs, FP32 peak {machine['fp32_peak_gflops']} GFLOP/s",
        fontsize=10,
    )
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _row_label(record: dict) -> str:
    """A chart row's name: the engine, and what it scored (gender accuracy, age MAE where it has one)."""
    scores = [f"{100 * record['accuracy']:.1f} %"] if record.get("accuracy") is not None else []
    if record.get("age_mae") is not None:
        scores.append(f"age MAE {record['age_mae']:.1f} y")
    return f"{record['engine']} {record['precision']}" + (f" ({', '.join(scores)})" if scores else "")


def pipeline_markdown(result: dict) -> str:
    """The end-to-end section: faceedge's pipeline against the original application's, and streams."""
    stages = ("decode", "detect", "crop", "classify", "track", "draw")
    lines = [
        f"End to end on {result['video']}, headless, drawing included:",
        "",
        "| pipeline | FPS | " + " | ".join(f"{s} ms" for s in stages) + " |",
        "| --- | --- | " + " | ".join("---" for _ in stages) + " |",
    ]
    for name, label in (
        (
            "faceedge",
            "faceedge run (defaults: a tracked face classified every 3rd frame, the detector "
            "skipping every other frame while the faces hold still)",
        ),
        (
            "faceedge_every_frame",
            "faceedge run --detect-every 1 --classify-every 1 (every face of every frame)",
        ),
        ("original", "the original application's way (model.predict per face, every frame)"),
    ):
        if name in result:
            run = result[name]
            cells = " | ".join(f"{run['stage_ms'][s]:.2f}" if s in run["stage_ms"] else "" for s in stages)
            lines.append(f"| {label} | {run['fps']} | {cells} |")
    if "speedup_faceedge" in result:
        lines += [
            "",
            f"faceedge is {result['speedup_faceedge']}x faster end to end with its defaults, "
            f"{result['speedup_faceedge_every_frame']}x detecting and classifying every face of every "
            "frame. Its "
            "stage times overlap: decoding and the detector's resize run in a reader thread.",
        ]
    if result.get("streams"):
        lines += ["", "| streams in one process (decoded in the same thread) | total FPS |", "| --- | --- |"]
        lines += [f"| {s['streams']} | {s['fps']} |" for s in result["streams"]]
    return "\n".join(lines) + "\n"


def write(
    report: BenchReport, json_path=None, md_path=None, png_path=None, pipeline: dict | None = None
) -> None:
    if json_path:
        data = records(report)
        if pipeline is not None:
            data["pipeline"] = pipeline
        Path(json_path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if md_path:
        text = markdown(report) + ("\n" + pipeline_markdown(pipeline) if pipeline is not None else "")
        Path(md_path).write_text(text, encoding="utf-8")
    if png_path:
        plot(records(report), png_path)
