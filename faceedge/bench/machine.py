"""The machine a benchmark ran on, and its compute peaks measured in the same run: FP32, the faster
of numpy's and ONNX Runtime's matrix products; INT8, ONNX Runtime's integer matrix product."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

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


PEAK_SIZE = 2048  # square float32 matrices: about 17 GFLOP a product, large enough for any BLAS


@dataclass(frozen=True, order=True)
class PeakMeasurement:
    """The CPU's FP32 peak in GFLOP/s: the fastest matrix product at hand, named, with every
    product's own rate beside it. Ordered by ``gflops``, so that ``max()`` keeps the higher."""

    gflops: float
    measured_with: str = field(compare=False)
    rates: dict[str, float] = field(default_factory=dict, compare=False)


def matrix_products(size: int = PEAK_SIZE) -> dict[str, Callable[[], object]]:
    """One square float32 ``size`` x ``size`` matrix product per library at hand, by name: numpy's
    BLAS always, ONNX Runtime's MatMul (its own MLAS kernels, all cores) where onnx and onnxruntime
    are installed. numpy's BLAS can be held to an older kernel by the environment
    (``OPENBLAS_CORETYPE``), so numpy alone can read below what ONNX Runtime computes."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    products: dict[str, Callable[[], object]] = {"numpy": lambda: a @ b}
    session = _onnxruntime_matmul(b)
    if session is not None:
        products["onnxruntime"] = lambda: session.run(None, {"a": a})
    return products


def integer_products(size: int = PEAK_SIZE) -> dict[str, Callable[[], object]]:
    """ONNX Runtime's integer matrix product (MatMulInteger: uint8 activations times int8 weights,
    as the bundled INT8 classifier computes), ``size`` x ``size``, by name; empty without onnx or
    onnxruntime. Its multiply-adds count as two operations each, as a model's FLOPs do."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (size, size), dtype=np.uint8)
    b = rng.integers(-128, 128, (size, size), dtype=np.int8)
    session = _onnxruntime_matmul(b, "MatMulInteger")
    return {} if session is None else {"onnxruntime": lambda: session.run(None, {"a": a})}


def _onnxruntime_matmul(b: np.ndarray, op: str = "MatMul"):
    """An ONNX Runtime CPU session of one ``op`` (MatMul, or MatMulInteger for uint8 ``a`` and int8
    ``b``) of ``a`` and ``b``, built in memory, ``b`` a constant as a model's weights are (ONNX
    Runtime packs it once, as it does theirs); None without onnx or onnxruntime (logged)."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        log.info("%s peak: not measured with ONNX Runtime (%s)", op, exc)
        return None
    rows, cols = b.shape
    types = (
        (TensorProto.FLOAT, TensorProto.FLOAT) if op == "MatMul" else (TensorProto.UINT8, TensorProto.INT32)
    )
    graph = helper.make_graph(
        [helper.make_node(op, ["a", "b"], ["c"])],
        "peak",
        [helper.make_tensor_value_info("a", types[0], [rows, rows])],
        [helper.make_tensor_value_info("c", types[1], [rows, cols])],
        [numpy_helper.from_array(b, "b")],
    )
    # An opset and IR version any supported ONNX Runtime runs; neither op has changed since 13.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = min(model.ir_version, 8)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def best_rate(product: Callable[[], object], size: int, repeats: int = 5) -> float:
    """GFLOP/s of the fastest of ``repeats`` timed calls of a ``size`` x ``size`` matrix product,
    after one untimed call (threads started, pages touched)."""
    product()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        product()
        best = min(best, time.perf_counter_ns() - start)
    return 2 * size**3 / best  # FLOPs per nanosecond = GFLOP/s


def fp32_peak(
    size: int = PEAK_SIZE, repeats: int = 5, products: dict[str, Callable[[], object]] | None = None
) -> PeakMeasurement:
    """The CPU's FP32 peak: the higher rate of the matrix products at hand (:func:`matrix_products`,
    or ``products``), named after the one that set it."""
    products = matrix_products(size) if products is None else products
    return _fastest(products, f"float32 {size}x{size} matrix product", size, repeats)


def int8_peak(
    size: int = PEAK_SIZE, repeats: int = 5, products: dict[str, Callable[[], object]] | None = None
) -> PeakMeasurement | None:
    """The CPU's INT8 peak in GOP/s (in ``gflops``): the integer matrix product at hand
    (:func:`integer_products`, or ``products``); None where there is none."""
    products = integer_products(size) if products is None else products
    if not products:
        return None
    return _fastest(products, f"uint8 x int8 {size}x{size} matrix product", size, repeats)


def _fastest(
    products: dict[str, Callable[[], object]], what: str, size: int, repeats: int
) -> PeakMeasurement:
    rates = {name: best_rate(product, size, repeats) for name, product in products.items()}
    best = max(rates, key=rates.__getitem__)
    return PeakMeasurement(rates[best], f"{best} {what}, best of {repeats}", rates)


def machine_record(peak: PeakMeasurement, int8: PeakMeasurement | None = None) -> dict:
    """Where the numbers come from: platform, CPU and flags, cores, GPUs, library versions, the FP32
    peak (the higher of the matrix products, ``peak_measured_with`` naming it, each one's rate
    beside) and the INT8 peak where one was measured (``int8_peak_gops``, ``int8_peak_measured_with``)."""
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
        "fp32_peak_gflops": round(peak.gflops, 1),
        "peak_measured_with": peak.measured_with,
        "fp32_peak_gflops_by_product": {name: round(rate, 1) for name, rate in peak.rates.items()},
        **(
            {}
            if int8 is None
            else {"int8_peak_gops": round(int8.gflops, 1), "int8_peak_measured_with": int8.measured_with}
        ),
    }
