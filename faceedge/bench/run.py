"""One benchmark run: every engine of :data:`~faceedge.bench.engines.ENGINES` on the same images."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceedge.bench.engines import ENGINES, BenchInputs, Engine, Skipped
from faceedge.bench.machine import fp32_peak, int8_peak, machine_record
from faceedge.bench.timing import MAX_SECONDS, Timing, time_calls
from faceedge.evaluate.metrics import mean_absolute_error

log = logging.getLogger(__name__)

BATCHES = (1, 8, 32, 256)
ACCURACY_BATCH = 256


@dataclass
class EngineResult:
    """One engine's row: its status, gender accuracy and age MAE (years; None where its model gives
    no age) through it, and its timing at each batch size."""

    engine: str
    precision: str
    family: str
    device: str = "cpu"
    status: str = "ok"  # "ok", "skipped" or "failed"
    reason: str = ""
    providers: str = ""
    size_mb: float | None = None
    accuracy: float | None = None
    age_mae: float | None = None
    timings: dict[int, Timing] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)  # batch -> why it could not be timed

    @property
    def label(self) -> str:
        return f"{self.engine} {self.precision}"


@dataclass
class BenchReport:
    machine: dict
    flops_per_image: int | None
    images: int
    batches: tuple[int, ...]
    results: list[EngineResult]

    def peak_fraction(self, result: EngineResult, timing: Timing) -> float | None:
        """The share of the CPU's measured peak for the row's arithmetic that ``timing``'s
        throughput computes: the INT8 peak for an INT8 row, the FP32 peak for the others; None for
        a GPU row (its peak is not this one), without a FLOP count, or for an INT8 row where no
        INT8 peak was measured."""
        peak = self.machine.get("int8_peak_gops" if result.precision == "int8" else "fp32_peak_gflops")
        if not self.flops_per_image or result.device != "cpu" or not peak:
            return None
        return self.flops_per_image * timing.images_per_s / (peak * 1e9)

    def speedups(self, result: EngineResult, batch: int) -> dict[str, float]:
        """How many times faster ``result`` is than each Keras row at ``batch`` (p50 latency)."""
        own = result.timings.get(batch)
        found = {}
        for keras in self.results:
            base = keras.timings.get(batch)
            if keras.family == "keras" and base is not None and own is not None and own.p50_ms > 0:
                found[keras.engine] = base.p50_ms / own.p50_ms
        return found


def _test_images(data: str | Path, split_file: Path, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The test split's chips, their genders (1: female) and their true ages in years (UTKFace's
    labels)."""
    from faceedge.data.split import read_split
    from faceedge.data.utkface import load_utkface
    from faceedge.imaging import decode_chips

    tests = read_split(split_file).apply(load_utkface(data), "test")
    chips = decode_chips([s.data for s in tests.samples], size)
    genders = np.array([s.labels.gender for s in tests.samples])
    return chips, genders, np.array([s.labels.age for s in tests.samples], dtype=np.float64)


def _flops(keras_model: Path) -> tuple[int | None, int]:
    """FLOPs per image and the input size of the Keras model (None and 0 where they cannot be had:
    no TensorFlow, or a model it cannot load or count; the rows are measured all the same)."""
    try:
        import keras

        from faceedge.train.flops import count_flops

        model = keras.models.load_model(keras_model, compile=False)
        return count_flops(model), int(model.input_shape[1])
    except Exception as exc:  # a benchmark without a FLOP count still measures every engine
        log.warning("no FLOP count for %s (%s): the peak share is left out", keras_model, exc)
        return None, 0


def _batch_of(chips: np.ndarray, batch: int) -> np.ndarray:
    """``batch`` test chips (repeated where the test split is smaller)."""
    reps = -(-batch // len(chips))
    return np.concatenate([chips] * reps)[:batch] if reps > 1 else chips[:batch]


def _score(
    runner, chips: np.ndarray, labels: np.ndarray, ages: np.ndarray | None, result: EngineResult
) -> None:
    """Gender accuracy and, for a model with an age output and known ``ages``, age MAE on every
    chip, outside the timed calls: ``infer`` gives the outputs, ``heads`` reads them."""
    p_parts, age_parts = [], []
    for i in range(0, len(chips), ACCURACY_BATCH):
        p, age = runner.heads(runner.infer(runner.prepare(chips[i : i + ACCURACY_BATCH])))
        p_parts.append(p)
        age_parts.append(age)
    p = np.concatenate(p_parts)
    result.accuracy = float(np.mean((p >= runner.threshold) == (labels == 1)))
    if runner.has_age and ages is not None:
        result.age_mae = mean_absolute_error(ages, np.concatenate(age_parts))


def bench_engine(
    engine: Engine,
    inputs: BenchInputs,
    chips: np.ndarray,
    labels: np.ndarray,
    batches,
    max_seconds: float,
    ages: np.ndarray | None = None,
) -> EngineResult:
    """Open one engine, measure its accuracy (and, where its model gives ages and ``ages`` holds the
    true ones, its age MAE) on every test chip, then time it at every batch size.

    Never raises for the engine's sake: a missing dependency is a "skipped" row, an error a "failed"
    one, an error at one batch size that batch's entry in ``errors``.
    """
    result = EngineResult(engine.name, engine.precision, engine.family, engine.device)
    try:
        runner = engine.opener(inputs)
    except Skipped as exc:
        result.status, result.reason = "skipped", str(exc)
        return result
    except Exception as exc:  # a benchmark row records every failure and goes on to the next
        result.status, result.reason = "failed", f"{type(exc).__name__}: {exc}"
        return result
    try:
        result.providers, result.size_mb = runner.providers, runner.size_mb
        _score(runner, chips, labels, ages, result)
        for batch in batches:
            x = runner.prepare(_batch_of(chips, batch))
            try:
                result.timings[batch] = time_calls(
                    lambda x=x: runner.infer(x), batch, max_seconds=max_seconds
                )
            except Exception as exc:  # one batch size failing leaves the others
                result.errors[batch] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a benchmark row records every failure and goes on to the next
        result.status, result.reason = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        try:
            runner.close()
        except Exception as exc:  # a benchmark row records every failure and goes on to the next
            log.warning("%s %s did not close: %s", engine.name, engine.precision, exc)
    return result


def run_bench(
    keras_model: str | Path,
    data: str | Path,
    artifacts: str | Path,
    split_file: str | Path | None = None,
    batches: tuple[int, ...] = BATCHES,
    engines: tuple[Engine, ...] = ENGINES,
    max_seconds: float = MAX_SECONDS,
) -> BenchReport:
    """Benchmark every engine on the test split of the Keras model's run.

    Args:
        keras_model: the ``.keras`` model the artifacts were exported from.
        data: UTKFace (archive or folder); the test split gives the images, and its labels the
            accuracy and the age MAE.
        artifacts: the folder of exported artifacts (``gender.onnx``, ``gender_int8.onnx``, ...).
        split_file: the split; the one beside the model by default.
        max_seconds: how long each engine is timed at each batch size, at most (but never fewer
            than :data:`~faceedge.bench.timing.CALLS_FOR_P95` calls).
    """
    keras_model = Path(keras_model)
    split_file = Path(split_file) if split_file else keras_model.parent / "split.csv"
    log.info("measuring this machine's FP32 and INT8 peaks")
    peaks, int8_peaks = [fp32_peak()], [int8_peak()]
    flops, size = _flops(keras_model)
    if not size:  # no TensorFlow: the size comes from the FP32 ONNX's manifest
        from faceedge.manifest import load_artifact

        manifest, _ = load_artifact(Path(artifacts) / "gender.onnx")  # ModelError where it is missing
        size = int(manifest.preprocessing["input_size"])
    chips, labels, ages = _test_images(data, split_file, size)
    inputs = BenchInputs(keras_model, Path(artifacts))
    results = []
    for engine in engines:
        log.info("%s %s", engine.name, engine.precision)
        results.append(bench_engine(engine, inputs, chips, labels, batches, max_seconds, ages))
        if results[-1].status != "ok":
            log.info("  %s: %s", results[-1].status, results[-1].reason)
    # Measured again at the end, and the higher one kept: on a shared machine a busy moment during
    # one measurement would otherwise lower the peak and inflate every row's share of it.
    peaks.append(fp32_peak())
    int8_peaks = [p for p in [*int8_peaks, int8_peak()] if p is not None]
    machine = machine_record(max(peaks), max(int8_peaks, default=None))
    machine["fp32_peak_gflops_runs"] = [round(p.gflops, 1) for p in peaks]
    if int8_peaks:
        machine["int8_peak_gops_runs"] = [round(p.gflops, 1) for p in int8_peaks]
    return BenchReport(machine, flops, len(chips), tuple(batches), results)
