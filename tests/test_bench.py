"""`faceedge bench`'s harness on a tiny model: every row has a status, the report is well formed.

Benchmarks are not part of the suite's pass or fail; this only checks that the harness runs and
reports what it measured (timings are never compared here)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")
ort = pytest.importorskip("onnxruntime")

RECORD_FIELDS = {
    "engine",
    "precision",
    "status",
    "batch",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "images_per_s",
    "accuracy",
    "age_mae",
    "peak_fraction",
    "peak_capped",
}
REPO = Path(__file__).resolve().parents[1]
MODEL_V2 = REPO / "models" / "gender_age" / "model.keras"  # two heads; the bundled artifacts are its exports


@pytest.fixture(scope="module")
def report(source, exported):
    from faceedge.bench.run import run_bench

    model, data = source
    _, folder = exported
    return run_bench(model, data, folder, batches=(1, 8), max_seconds=0.05)


def test_every_engine_has_a_row_with_a_status_and_the_cpu_rows_ran(report):
    from faceedge.bench.engines import ENGINES

    assert [(r.engine, r.precision) for r in report.results] == [(e.name, e.precision) for e in ENGINES]
    by_label = {r.label: r for r in report.results}
    for label in (
        "keras-predict fp32",
        "keras-call fp32",
        "keras-tf-function fp32",
        "opencv-dnn fp32",
        "ort-cpu fp32",
        "ort-cpu int8",
    ):
        row = by_label[label]
        assert row.status == "ok", (label, row.reason)
        assert 0.0 <= row.accuracy <= 1.0 and set(row.timings) == {1, 8}
        assert row.age_mae is None  # the session's model is gender-only: no age figure at all
        one = row.timings[1]
        assert one.calls >= 20 and 0 < one.p50_ms <= one.p95_ms
        assert one.p99_ms is None if one.calls < 100 else one.p95_ms <= one.p99_ms
    litert = by_label["litert-xnnpack fp32"]
    if importlib.util.find_spec("ai_edge_litert") is None:
        assert litert.status == "skipped" and "ai-edge-litert" in litert.reason
    else:
        assert litert.status == "ok" and litert.providers.startswith("LiteRT XNNPACK")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        for label in ("ort-cuda fp32", "ort-cuda fp16", "ort-tensorrt fp16"):
            assert by_label[label].status == "skipped" and "ExecutionProvider" in by_label[label].reason
    assert by_label["tensorrt fp16"].status == "skipped"  # no engine file was built


def test_the_engines_agree_on_accuracy_and_keras_rows_give_speedups(report):
    by_label = {r.label: r for r in report.results}
    fp32 = [by_label[k].accuracy for k in ("keras-tf-function fp32", "ort-cpu fp32", "opencv-dnn fp32")]
    assert max(fp32) - min(fp32) < 0.01  # the same model, the same images, through three engines
    speedups = report.speedups(by_label["ort-cpu fp32"], 1)
    assert set(speedups) == {"keras-predict", "keras-call", "keras-tf-function"}
    assert all(v > 0 for v in speedups.values())
    fraction = report.peak_fraction(by_label["ort-cpu fp32"], by_label["ort-cpu fp32"].timings[8])
    assert report.flops_per_image > 0 and report.machine["fp32_peak_gflops"] > 0 and fraction > 0


def test_json_markdown_and_png_reports_are_written_and_well_formed(report, tmp_path):
    from faceedge.bench.report import markdown, write

    paths = tmp_path / "bench.json", tmp_path / "bench.md", tmp_path / "bench.png"
    write(report, *paths)
    data = json.loads(paths[0].read_text())
    assert {"platform", "cpu", "cpu_flags", "cpus", "gpus", "libraries", "fp32_peak_gflops"} <= set(
        data["machine"]
    )
    ok = [r for r in data["records"] if r["status"] == "ok"]
    assert ok and all(set(r) >= RECORD_FIELDS for r in ok)
    assert {r["batch"] for r in ok} == {1, 8}
    skipped = [r for r in data["records"] if r["status"] == "skipped"]
    assert all(r["batch"] is None and r["reason"] for r in skipped)
    text = paths[1].read_text()
    assert text == markdown(report) and "| engine | precision | status |" in text
    assert "| accuracy | age MAE (years) |" in text
    assert all(r["age_mae"] is None for r in data["records"])  # a gender-only model: none, not 0
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_without_data_is_one_clear_error(monkeypatch):
    from typer.testing import CliRunner

    from faceedge.cli import app

    monkeypatch.delenv("FACEEDGE_UTKFACE", raising=False)
    result = CliRunner().invoke(app, ["bench", "--model", "models/gender/model.keras"])
    assert result.exit_code == 2 and "pass the UTKFace archive or folder with --data" in result.output


def test_the_end_to_end_comparison_runs_both_pipelines_and_the_streams(tmp_path, report):
    from faceedge.bench.pipeline import pipeline_bench
    from faceedge.bench.report import write

    result = pipeline_bench(None, MODEL_V2, loops=1, streams=(1, 2), limit=4)  # two heads
    runs = (result["faceedge"], result["faceedge_every_frame"], result["original"])
    assert [run["frames"] for run in runs] == [4, 4, 4]
    for run in runs:
        assert run["fps"] > 0 and {"decode", "detect", "crop", "classify", "draw"} <= set(run["stage_ms"])
    assert result["speedup_faceedge"] > 0 and result["speedup_faceedge_every_frame"] > 0
    # The defaults skip the detector on frame 3, once both tracks have started; every frame skips none.
    every = result["faceedge_every_frame"]
    assert (every["detect_every"], every["classify_every"], every["detector_skipped"]) == (1, 1, 0)
    assert result["faceedge"]["detector_skipped"] == 1
    assert [(s["streams"], s["frames"]) for s in result["streams"]] == [(1, 4), (2, 8)]
    json_path, md_path = tmp_path / "bench.json", tmp_path / "bench.md"
    write(report, json_path, md_path, pipeline=result)
    assert json.loads(json_path.read_text())["pipeline"] == result
    text = md_path.read_text()
    assert "model.predict per face" in text and "| 2 |" in text


class _Sleeper:
    """A fake engine that takes a known time per call, whatever the batch."""

    providers, size_mb, threshold = "sleep", None, 0.5

    def __init__(self, seconds: float, fail_at_batch: int | None = None, ages=None) -> None:
        self.seconds, self.fail_at_batch, self.ages = seconds, fail_at_batch, ages
        self.has_age = ages is not None

    def prepare(self, chips):
        return chips

    def infer(self, x):
        import time

        import numpy as np

        if len(x) == self.fail_at_batch:
            raise RuntimeError("out of memory")
        time.sleep(self.seconds)
        return {"p_female": np.full(len(x), 0.9), "age": None if self.ages is None else self.ages[: len(x)]}

    def heads(self, outputs):
        return outputs["p_female"], outputs["age"]

    def close(self):
        pass


def test_timings_speedups_and_peak_shares_follow_from_known_call_times():
    import numpy as np

    from faceedge.bench.engines import Engine
    from faceedge.bench.run import BenchReport, bench_engine

    chips, labels = np.zeros((4, 8, 8, 3), np.uint8), np.array([1, 1, 0, 0])
    slow, fast, broken = (
        bench_engine(
            Engine(name, "fp32", family, lambda inputs, r=runner: r), None, chips, labels, (1, 8), 0.2
        )
        for name, family, runner in (
            ("keras-predict", "keras", _Sleeper(0.008)),
            ("quick", "faceedge", _Sleeper(0.002)),
            ("broken", "faceedge", _Sleeper(0.002, fail_at_batch=8)),
        )
    )
    assert fast.accuracy == 0.5  # says female for all four: two right
    assert 1.5 < slow.timings[1].p50_ms / fast.timings[1].p50_ms < 6  # 8 ms against 2 ms
    report = BenchReport({"fp32_peak_gflops": 1.0}, 1_000_000, len(chips), (1, 8), [slow, fast, broken])
    assert report.speedups(fast, 1)["keras-predict"] > 1.5  # times faster, not slower
    assert broken.status == "ok" and 1 in broken.timings and "out of memory" in broken.errors[8]
    failed = bench_engine(
        Engine("x", "fp32", "faceedge", lambda inputs: 1 / 0), None, chips, labels, (1,), 0.1
    )
    assert failed.status == "failed" and "ZeroDivisionError" in failed.reason


def test_throughput_peak_share_and_speedup_of_known_timings():
    from faceedge.bench.run import BenchReport, EngineResult
    from faceedge.bench.timing import Timing

    # 10 calls of 8 images in 40 ms: 2,000 images/s; at 1 MFLOP each, 2 GFLOP/s of a 4 GFLOP/s peak.
    fast = EngineResult("quick", "fp32", "faceedge", timings={8: Timing(8, 10, 40.0, 4.0, None, None)})
    keras = EngineResult("keras-call", "fp32", "keras", timings={8: Timing(8, 10, 100.0, 10.0, None, None)})
    gpu = EngineResult("ort-cuda", "fp32", "faceedge", device="gpu", timings=fast.timings)
    report = BenchReport({"fp32_peak_gflops": 4.0}, 1_000_000, 8, (8,), [keras, fast, gpu])
    assert fast.timings[8].images_per_s == pytest.approx(2000.0)
    assert report.peak_fraction(fast, fast.timings[8]) == pytest.approx(0.5)
    assert report.peak_fraction(gpu, gpu.timings[8]) is None  # a GPU row has no CPU peak share
    assert report.speedups(fast, 8) == {"keras-call": pytest.approx(2.5)}  # 10 ms against 4 ms


def test_the_pipeline_speedups_are_frame_rates_against_the_original_app(monkeypatch):
    import faceedge.bench.pipeline as bench_pipeline

    def faceedge_fps(video, loops, limit=None, every_frame=False):
        return {"fps": 12.0 if every_frame else 32.0}

    monkeypatch.setattr(bench_pipeline, "faceedge_fps", faceedge_fps)
    monkeypatch.setattr(bench_pipeline, "original_app_fps", lambda *args: {"fps": 8.0})
    monkeypatch.setattr(bench_pipeline, "multi_stream_fps", lambda video, n, frames: {"streams": n})
    result = bench_pipeline.pipeline_bench(None, Path("model.keras"), loops=1, streams=(2,))
    assert result["speedup_faceedge"] == 4.0 and result["speedup_faceedge_every_frame"] == 1.5
    assert result["streams"] == [{"streams": 2}]


def test_the_terminal_table_prints_a_skipped_row_s_reason_as_written(capsys):
    # Square brackets in a reason (an extra's name) are text, not the terminal library's markup.
    from faceedge.bench.report import print_table
    from faceedge.bench.run import BenchReport, EngineResult

    machine = {
        "cpu": "Test CPU",
        "cpus": 2,
        "cpu_flags": ["avx2"],
        "gpus": [],
        "platform": "Linux",
        "fp32_peak_gflops": 1.0,
        "peak_measured_with": "numpy",
        "libraries": {"numpy": "2"},
    }
    reason = "TensorFlow is not installed; install it with: pip install 'faceedge[train]'"
    skipped = EngineResult("keras-call", "fp32", "keras", status="skipped", reason=reason)
    print_table(BenchReport(machine, None, 0, (8,), [skipped]))
    assert reason in capsys.readouterr().out


def test_age_mae_is_the_mean_absolute_error_in_years_of_hand_made_numbers():
    import numpy as np

    from faceedge.evaluate.metrics import mean_absolute_error as age_mae

    assert age_mae(np.array([20, 30, 40, 5]), np.array([22.0, 27.0, 40.5, -1.0])) == pytest.approx(2.875)
    assert age_mae(np.array([61]), np.array([61.0])) == 0.0
    assert np.isnan(age_mae(np.array([20, 30]), np.array([21.0, np.nan])))  # a broken head shows
    with pytest.raises(ValueError, match="2 predictions for 3 true values"):
        age_mae(np.array([1, 2, 3]), np.array([1.0, 2.0]))


def test_a_two_head_engine_s_age_mae_is_in_its_row_and_a_gender_only_one_shows_no_age():
    import numpy as np

    from faceedge.bench.engines import Engine
    from faceedge.bench.report import records, table_rows
    from faceedge.bench.run import BenchReport, EngineResult, bench_engine

    chips, labels = np.zeros((4, 8, 8, 3), np.uint8), np.array([1, 1, 0, 0])
    true_ages = np.array([10.0, 20.0, 30.0, 40.0])
    estimates = np.array([12.0, 20.0, 27.0, 41.0])  # off by 2, 0, 3 and 1 years: MAE 1.5

    def row(name, runner, ages=true_ages):
        engine = Engine(name, "fp32", "faceedge", lambda inputs: runner)
        return bench_engine(engine, None, chips, labels, (1,), 0.01, ages)

    two_head = row("two-head", _Sleeper(0, ages=estimates))
    gender_only = row("gender-only", _Sleeper(0))
    no_labels = row("no-true-ages", _Sleeper(0, ages=estimates), ages=None)
    assert two_head.age_mae == pytest.approx(1.5) and two_head.accuracy == 0.5
    assert gender_only.age_mae is None and gender_only.accuracy == 0.5
    assert no_labels.age_mae is None
    skipped = EngineResult("missing", "fp32", "faceedge", status="skipped", reason="no file")
    report = BenchReport({"fp32_peak_gflops": 1.0}, None, 4, (1,), [two_head, gender_only, skipped])
    header, rows = table_rows(report)
    column = header.index("age MAE (years)")
    assert header[column - 1] == "accuracy"
    assert [r[column] for r in rows] == ["1.50", "no age", ""]
    ages = {r["engine"]: r["age_mae"] for r in records(report)["records"]}
    assert ages == {"two-head": 1.5, "gender-only": None, "missing": None}


def test_every_engine_reads_both_heads_of_model_v2_and_they_agree_on_its_age_error():
    """Model v2 and its bundled exports through each CPU row: P(female) and age read by name (a
    swapped pair would put probabilities against years), and the same age MAE from every FP32 engine
    as from the runtime's classifier."""
    import numpy as np

    from faceedge.bench.engines import ENGINES, BenchInputs
    from faceedge.bench.run import bench_engine
    from faceedge.bundled import BUNDLED_DIR
    from faceedge.evaluate.metrics import mean_absolute_error as age_mae
    from faceedge.runtime.classifier import GenderClassifier

    rng = np.random.default_rng(7)
    chips = rng.integers(0, 256, (12, 96, 96, 3), dtype=np.uint8)
    labels, ages = rng.integers(0, 2, 12), rng.uniform(1, 90, 12)
    with GenderClassifier(BUNDLED_DIR / "gender.onnx", "cpu") as reference:
        p, predicted = reference.predict_heads(chips)
    expected = age_mae(ages, predicted)
    inputs = BenchInputs(MODEL_V2, BUNDLED_DIR)
    cpu_rows = [e for e in ENGINES if e.device == "cpu"]
    results = {
        f"{e.name} {e.precision}": bench_engine(e, inputs, chips, labels, (1,), 0.01, ages) for e in cpu_rows
    }
    for label, result in results.items():
        if label == "litert-xnnpack fp32" and result.status == "skipped":
            continue  # without ai-edge-litert
        assert result.status == "ok", (label, result.reason)
        assert result.age_mae is not None and result.timings[1].calls >= 20, label
        if "int8" in label:
            # Quantised, on noise chips far from its calibration images: near, not equal (its export
            # gate holds it to 0.3 years of added MAE on real faces).
            assert abs(result.age_mae - expected) < 3.0, label
        else:
            assert result.age_mae == pytest.approx(expected, abs=0.05), label
            assert result.accuracy == np.mean((p >= 0.5) == (labels == 1)), label


def test_the_original_app_s_way_reads_p_female_and_age_by_name():
    import numpy as np

    from faceedge.bench.pipeline import _heads

    class Model:
        output_names = ["p_female", "age"]

    assert _heads(Model(), [np.array([[0.8]]), np.array([[33.5]])]) == pytest.approx((0.8, 33.5))
    assert _heads(Model(), {"age": np.array([[33.5]]), "p_female": np.array([[0.8]])}) == pytest.approx(
        (0.8, 33.5)
    )
    Model.output_names = ["p_female"]
    assert _heads(Model(), np.array([[0.3]])) == (pytest.approx(0.3), None)


def test_a_bench_run_of_a_two_head_model_scores_age_against_the_split_s_true_ages(two_head_source, tmp_path):
    import numpy as np

    from faceedge.bench.engines import ENGINES
    from faceedge.bench.report import markdown
    from faceedge.bench.run import run_bench
    from faceedge.data.split import read_split
    from faceedge.data.utkface import load_utkface
    from faceedge.evaluate.metrics import mean_absolute_error as age_mae
    from faceedge.export.gender import export_gender
    from faceedge.imaging import decode_chips
    from faceedge.runtime.classifier import GenderClassifier

    model, data = two_head_source
    (artifact,) = export_gender(model, tmp_path, data)
    assert [o.name for o in artifact.manifest.outputs] == ["p_female", "age"]
    engines = tuple(e for e in ENGINES if f"{e.name} {e.precision}" in ("keras-call fp32", "ort-cpu fp32"))
    report = run_bench(model, data, tmp_path, batches=(1,), engines=engines, max_seconds=0.01)
    # The true ages are the test split's UTKFace labels: the same MAE by hand.
    tests = read_split(model.parent / "split.csv").apply(load_utkface(data), "test")
    with GenderClassifier(artifact.path, "cpu") as classifier:
        _, predicted = classifier.predict_heads(decode_chips([s.data for s in tests.samples], 32))
    expected = age_mae(np.array([s.labels.age for s in tests.samples]), predicted)
    assert [r.status for r in report.results] == ["ok", "ok"]
    for result in report.results:
        assert result.age_mae == pytest.approx(expected, abs=0.05), result.label
    assert f"| {report.results[1].age_mae:.2f} |" in markdown(report)


class _FakeClock:
    """perf_counter_ns for fake matrix products: each call of one moves it on by its own nanoseconds."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now

    def product(self, nanoseconds: int):
        def run() -> None:
            self.now += nanoseconds

        return run


@pytest.mark.parametrize(
    ("numpy_ns", "ort_ns", "winner"), [(2000, 1000, "onnxruntime"), (1000, 4000, "numpy")]
)
def test_the_faster_matrix_product_sets_the_peak_and_is_named(monkeypatch, numpy_ns, ort_ns, winner):
    from faceedge.bench import machine

    clock = _FakeClock()
    monkeypatch.setattr(machine.time, "perf_counter_ns", clock)
    products = {"numpy": clock.product(numpy_ns), "onnxruntime": clock.product(ort_ns)}
    peak = machine.fp32_peak(size=10, repeats=3, products=products)  # 2,000 FLOPs a product
    assert peak.rates == {"numpy": 2000 / numpy_ns, "onnxruntime": 2000 / ort_ns}
    assert peak.gflops == 2000 / min(numpy_ns, ort_ns)
    assert peak.measured_with.startswith(f"{winner} float32 10x10 matrix product")
    monkeypatch.setattr("faceedge.runtime.doctor.gpu_findings", lambda: [])
    record = machine.machine_record(max([peak, machine.PeakMeasurement(0.5, "numpy")]))
    assert (
        record["fp32_peak_gflops"] == round(peak.gflops, 1)
        and record["peak_measured_with"] == peak.measured_with
    )
    assert record["fp32_peak_gflops_by_product"] == {k: round(v, 1) for k, v in peak.rates.items()}


def test_onnxruntime_s_matrix_product_computes_the_product():
    pytest.importorskip("onnx")
    import numpy as np

    from faceedge.bench.machine import matrix_products

    products = matrix_products(size=16)
    assert set(products) == {"numpy", "onnxruntime"}
    (ours,) = products["onnxruntime"]()
    np.testing.assert_allclose(ours, products["numpy"](), rtol=1e-4, atol=1e-4)


def test_no_row_reads_over_100_percent_of_the_peak_of_its_own_arithmetic():
    from faceedge.bench.report import CAPPED, markdown, records, table_rows
    from faceedge.bench.run import BenchReport, EngineResult
    from faceedge.bench.timing import Timing

    # 10 calls of 32 images in 40 ms: 8,000 images/s; at 1 MFLOP each, 8 GFLOP/s: twice the FP32
    # peak (4), so capped; half the INT8 peak (16). 40 calls in 40 ms: 32 GOP/s, twice the INT8 peak.
    timings = {32: Timing(32, 10, 40.0, 4.0, None, None)}
    fp32 = EngineResult("ort-cpu", "fp32", "faceedge", timings=timings)
    int8 = EngineResult("ort-cpu", "int8", "faceedge", timings=timings)
    int8_fast = EngineResult("other", "int8", "faceedge", timings={32: Timing(32, 40, 40.0, 1.0, None, None)})
    machine = {
        "cpu": "Test CPU",
        "cpus": 2,
        "cpu_flags": [],
        "gpus": [],
        "platform": "Linux",
        "libraries": {},
        "fp32_peak_gflops": 4.0,
        "peak_measured_with": "onnxruntime float32 2048x2048 matrix product, best of 5",
        "fp32_peak_gflops_by_product": {"numpy": 3.0, "onnxruntime": 4.0},
        "int8_peak_gops": 16.0,
        "int8_peak_measured_with": "onnxruntime uint8 x int8 2048x2048 matrix product, best of 5",
    }
    report = BenchReport(machine, 1_000_000, 32, (32,), [fp32, int8, int8_fast])
    shares = [(r["peak_fraction"], r["peak_capped"]) for r in records(report)["records"]]
    assert shares == [(1.0, True), (0.5, False), (1.0, True)]
    header, rows = table_rows(report)
    at = header.index("peak @32")
    assert [row[at] for row in rows] == [CAPPED, "50 %", CAPPED]
    text = markdown(report)
    assert f'shown as "{CAPPED}"' in text and "numpy 3.0 GFLOP/s; onnxruntime 4.0 GFLOP/s" in text
    assert "INT8 peak: 16.0 GOP/s (onnxruntime uint8 x int8 2048x2048 matrix product" in text
    # An INT8 row without an INT8 peak (a record from before it was measured) gets no share.
    del machine["int8_peak_gops"]
    assert report.peak_fraction(int8, int8.timings[32]) is None


def test_the_integer_matrix_product_is_measured_as_the_int8_peak(monkeypatch):
    pytest.importorskip("onnx")
    import numpy as np

    from faceedge.bench import machine

    (product,) = machine.integer_products(size=16).values()
    (ours,) = product()
    rng = np.random.default_rng(0)  # the same inputs, multiplied exactly in int64
    a = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    b = rng.integers(-128, 128, (16, 16), dtype=np.int8)
    np.testing.assert_array_equal(ours, a.astype(np.int64) @ b.astype(np.int64))
    clock = _FakeClock()
    monkeypatch.setattr(machine.time, "perf_counter_ns", clock)
    peak = machine.int8_peak(size=10, repeats=3, products={"onnxruntime": clock.product(500)})
    assert peak.gflops == 2000 / 500 and peak.measured_with.startswith("onnxruntime uint8 x int8 10x10")
    assert machine.int8_peak(products={}) is None
    monkeypatch.setattr("faceedge.runtime.doctor.gpu_findings", lambda: [])
    record = machine.machine_record(machine.PeakMeasurement(3.0, "numpy"), peak)
    assert (record["int8_peak_gops"], record["int8_peak_measured_with"]) == (4.0, peak.measured_with)
