"""Timing one engine call: warm up, repeat, sort, take percentiles."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Fewer calls than these leave a percentile no better than the slowest call: it is not reported.
CALLS_FOR_P95, CALLS_FOR_P99 = 20, 100
MAX_SECONDS = 3.0  # how long one engine is timed at one batch size, at most


@dataclass(frozen=True)
class Timing:
    """Latency percentiles of repeated calls at one batch size, and the images per second of them all."""

    batch: int
    calls: int
    total_ms: float
    p50_ms: float
    p95_ms: float | None
    p99_ms: float | None

    @property
    def images_per_s(self) -> float:
        """Images over the total time of the timed calls (a heavy tail counts)."""
        return self.batch * self.calls / (self.total_ms / 1000) if self.total_ms > 0 else 0.0


def time_calls(
    call: Callable[[], object],
    batch: int,
    warmup: int = 3,
    min_calls: int = CALLS_FOR_P95,
    max_seconds: float = MAX_SECONDS,
) -> Timing:
    """Time ``call`` after ``warmup`` calls: at least ``min_calls`` calls, more while under
    ``max_seconds`` (up to 1,000), each with ``perf_counter_ns``. p95 and p99 are None where too
    few calls were made for them to mean more than the slowest call."""
    for _ in range(warmup):
        call()
    times: list[int] = []
    deadline = time.perf_counter() + max_seconds
    while len(times) < min_calls or (time.perf_counter() < deadline and len(times) < 1000):
        start = time.perf_counter_ns()
        call()
        times.append(time.perf_counter_ns() - start)
    ms = np.sort(np.asarray(times, dtype=np.float64)) / 1e6
    p50, p95, p99 = (float(np.percentile(ms, q)) for q in (50, 95, 99))
    return Timing(
        batch,
        len(ms),
        float(ms.sum()),
        p50,
        p95 if len(ms) >= CALLS_FOR_P95 else None,
        p99 if len(ms) >= CALLS_FOR_P99 else None,
    )
