"""Which bundled classifier a pipeline runs: FP32, or INT8 on a CPU that is fast at it.

``precision="auto"`` runs the bundled INT8 artifact (``gender_int8.onnx``) where the classifier runs
on the CPU, the CPU has fast integer dot products (:mod:`faceedge.runtime.cpu`) and the artifact's
manifest records the export gate it passed; FP32 (``gender.onnx``) everywhere else, GPU backends
included. ``fp32`` and ``int8`` choose outright. A model the user gives is run as it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from faceedge.bundled import bundled_path, gate_problem, load_bundled
from faceedge.errors import ModelError, require
from faceedge.runtime.classifier import GenderClassifier
from faceedge.runtime.config import PRECISIONS, PipelineConfig
from faceedge.runtime.cpu import Int8Dot, int8_dot_here

log = logging.getLogger(__name__)

# The bundled classifier artifact of each precision, by its manifest's name.
BUNDLED_CLASSIFIERS = {"fp32": "gender", "int8": "gender_int8"}
CPU_BACKEND = "cpu"  # the one backend the INT8 artifact is chosen for


@dataclass(frozen=True)
class PrecisionChoice:
    """The bundled classifier to run, ``fp32`` or ``int8``, and why, in words for the log."""

    precision: str
    reason: str

    @property
    def artifact(self) -> str:
        return BUNDLED_CLASSIFIERS[self.precision]

    def describe(self) -> str:
        return f"classifier: {self.precision.upper()} ({self.reason})"


def choose_precision(requested: str, backend: str, cpu: Int8Dot, int8_gate: str | None) -> PrecisionChoice:
    """The bundled classifier for ``requested`` precision on ``backend`` (the backend that runs it,
    ``auto`` already resolved), a CPU ``cpu`` and the INT8 artifact's gate problem (None: passed).

    Raises:
        ValueError: an unknown precision.
    """
    int8_name = f"{BUNDLED_CLASSIFIERS['int8']}.onnx"
    if requested == "fp32":
        return PrecisionChoice("fp32", "precision fp32 asked for")
    if requested == "int8":
        passed = "passed its gate" if int8_gate is None else int8_gate
        return PrecisionChoice("int8", f"precision int8 asked for; {int8_name}: {passed}")
    if requested != "auto":
        raise ValueError(f"unknown precision {requested!r}; choose one of {', '.join(PRECISIONS)}")
    if backend != CPU_BACKEND:
        return PrecisionChoice("fp32", f"the {backend} backend runs the FP32 artifact")
    if not cpu.fast:
        return PrecisionChoice("fp32", cpu.reason)
    if int8_gate is not None:
        return PrecisionChoice("fp32", f"{cpu.reason}, but {int8_name}: {int8_gate}")
    return PrecisionChoice("int8", f"{cpu.reason}; {int8_name} passed its gate")


def open_bundled_classifier(config: PipelineConfig, cpu: Int8Dot | None = None) -> GenderClassifier:
    """The bundled classifier that :func:`choose_precision` picks for ``config`` (its precision,
    backend and cache folder), opened; the choice and its reason are logged. INT8 runs on the CPU
    backend. With precision and backend both ``auto``, where this ONNX Runtime offers a GPU provider,
    the FP32 artifact opens first and is swapped for the INT8 one only where ``auto`` resolved to the
    CPU (a second, CPU-only session: tens of milliseconds); where it offers none, ``auto`` can only
    take the CPU, and nothing is opened to find that out. ``cpu`` stands for this machine's CPU
    (tests).

    Raises:
        ModelError: a bundled artifact that does not match its manifest (the INT8 one only where
            precision int8 was asked for: ``auto`` then runs FP32 and says why).
        BackendError: the backend cannot run here.
    """
    fp32 = bundled_path(BUNDLED_CLASSIFIERS["fp32"])  # checked against its manifest when opened
    nothing = Int8Dot(False, (), "")  # where the CPU does not matter
    if config.precision == "fp32":
        log.info(choose_precision("fp32", config.backend, nothing, None).describe())
        return GenderClassifier(fp32, config.backend, config.cache_dir)
    first = None
    gpu_possible = config.backend != "auto" or _gpu_provider_listed()  # else auto is the CPU
    if config.precision == "auto" and config.backend != CPU_BACKEND and gpu_possible:
        # A GPU backend, or auto: FP32 stays unless auto found nothing faster than the CPU.
        first = GenderClassifier(fp32, config.backend, config.cache_dir)
        if first.backend.name != CPU_BACKEND:
            log.info(choose_precision("auto", first.backend.name, nothing, None).describe())
            return first
    int8_path, problem = _int8_artifact()
    if int8_path is None and config.precision == "int8":
        raise ModelError(f"the bundled INT8 classifier {problem}")
    choice = choose_precision(config.precision, CPU_BACKEND, cpu or int8_dot_here(), problem)
    log.info(choice.describe())
    if choice.precision == "fp32":
        return first or GenderClassifier(fp32, CPU_BACKEND, config.cache_dir)
    if first is not None:
        first.close()
    return GenderClassifier(int8_path, CPU_BACKEND, config.cache_dir)


def _gpu_provider_listed() -> bool:
    """Whether this ONNX Runtime offers a GPU provider at all: without one, backend ``auto`` can
    only take the CPU for an ONNX artifact (its other rows are the GPU providers)."""
    from faceedge.runtime.backends.onnxruntime import PROVIDER

    ort = require("onnxruntime", "cpu")
    gpu = {provider for name, provider in PROVIDER.items() if name != CPU_BACKEND}
    return bool(gpu & set(ort.get_available_providers()))


def _int8_artifact() -> tuple[Path | None, str | None]:
    """The bundled INT8 classifier's file (None where it does not load) and why it may not be
    chosen (None: it passed its gate)."""
    try:
        manifest, path = load_bundled(BUNDLED_CLASSIFIERS["int8"])
    except ModelError as exc:
        return None, f"does not load ({exc})"
    return path, gate_problem(manifest)
