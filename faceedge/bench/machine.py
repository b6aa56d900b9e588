"""The machine a benchmark ran on, and its FP32 compute peak measured in the same run."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import time

import numpy as np

# CPU flags that decide how fast FP32 and INT8 inference can go.
FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")
LIBRARIES = (
    "numpy",
    "onnxruntime",
    "onnxruntime-gpu",
    "opencv-python",
    "tensorflow",
    "keras",
    "ai-edge-litert",
    "tensorrt",
    "faceedge",
)


def cpu_description() -> tuple[str, list[str]]:
    """The CPU's model name and which of :data:`FLAGS` it has (Linux; elsewhere the platform's word)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            text = cpuinfo.read()
    except OSError:
        return platform.processor() or platform.machine(), []
    name = next(
        (line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), ""
    )
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []
    )
    return name or platform.machine(), [flag for flag in FLAGS if flag in flags]


def library_versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def fp32_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """The best FP32 matrix-product rate numpy's BLAS reaches here, in GFLOP/s (all cores)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b  # warm-up: threads started, pages touched
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        a @ b
        best = min(best, time.perf_counter_ns() - start)
    return 2 * size**3 / best  # FLOPs per nanosecond = GFLOP/s


def machine_record(peak_gflops: float) -> dict:
    """Where the numbers come from: platform, CPU and flags, cores, GPUs, library versions, the peak."""
    from faceedge.runtime.doctor import gpu_findings

    cpu, flags = cpu_description()
    gpus = [f.detail for f in gpu_findings() if f.ok]
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_flags": flags,
        "cpus": os.cpu_count(),
        "gpus": gpus,
        "libraries": library_versions(),
        "fp32_peak_gflops": round(peak_gflops, 1),
        "peak_measured_with": "numpy float32 2048x2048 matrix product, best of 5, before and after",
    }
