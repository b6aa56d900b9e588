"""Inference backends: one small interface, one class per engine, chosen from one table.

A backend opens a model and runs it: ``run({input name: array}) -> {output name: array}``. An
exported artifact is checked against its manifest first; a trained ``.keras`` model (the ``keras``
row, for evaluation and the benchmark) has no manifest, and its backend writes one from the model.
``faceedge run --backend`` names a row that runs exported artifacts
(:func:`faceedge.runtime.config.pipeline_backends`), or ``auto`` for the fastest that really works
on this machine. A backend that is
asked for and cannot run here raises :class:`~faceedge.errors.BackendError`; none of them falls back
to another without saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from faceedge.errors import BackendError, MissingExtraError
from faceedge.manifest import Manifest

log = logging.getLogger(__name__)


class Backend(Protocol):
    """An opened artifact on one engine."""

    name: str  # the --backend value that made it
    manifest: Manifest
    providers: tuple[str, ...]  # what really executes it, as the engine reports it
    precision: str  # what it computes in: the artifact's, or fp16 where the engine lowers it
    max_batch: int | None  # the largest batch one run() takes; None for any

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class BackendKind:
    """One row of the backend table."""

    name: str
    summary: str
    artifact_suffix: str  # the kind of file it runs
    opener: Callable[..., Backend]


def _onnxruntime(name: str) -> Callable[..., Backend]:
    def open_(path: Path, task: str, cache_dir: Path | None = None) -> Backend:
        from faceedge.runtime.backends.onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(path, task, name, cache_dir)

    return open_


def _tensorrt_engine(path: Path, task: str, cache_dir: Path | None = None) -> Backend:
    from faceedge.runtime.backends.tensorrt import TensorRTEngineBackend

    return TensorRTEngineBackend(path, task)


def _keras(path: Path, task: str, cache_dir: Path | None = None) -> Backend:
    from faceedge.runtime.backends.keras import KerasBackend

    return KerasBackend(path, task)


# Fastest first: `auto` tries them in this order and keeps the first that opens and really runs
# where it says. The native engine is tried only when the user hands faceedge an engine file, and
# Keras (TensorFlow, from the `train` extra) only for a .keras file.
BACKENDS: dict[str, BackendKind] = {
    kind.name: kind
    for kind in (
        BackendKind(
            "trt-engine",
            "a TensorRT engine built by `faceedge export --trt-fp16`",
            ".engine",
            _tensorrt_engine,
        ),
        BackendKind(
            "tensorrt",
            "ONNX Runtime's TensorRT provider, FP16, engines cached",
            ".onnx",
            _onnxruntime("tensorrt"),
        ),
        BackendKind("cuda", "ONNX Runtime's CUDA provider", ".onnx", _onnxruntime("cuda")),
        BackendKind("cpu", "ONNX Runtime on the CPU", ".onnx", _onnxruntime("cpu")),
        BackendKind("keras", "a trained .keras model in TensorFlow (the 'train' extra)", ".keras", _keras),
    )
}


def backend_names() -> list[str]:
    """``auto`` and every row of :data:`BACKENDS`: what :func:`open_backend` takes."""
    return ["auto", *BACKENDS]


def open_backend(
    path: str | Path, task: str, backend: str = "auto", cache_dir: Path | None = None
) -> Backend:
    """Open the artifact at ``path`` on ``backend``; ``auto`` picks the fastest that works here.

    ``auto`` tries the rows of :data:`BACKENDS` that run this kind of file, fastest first, and
    logs which one it took and why the faster ones were passed over.

    Raises:
        BackendError: the backend is unknown, does not run this kind of file, or cannot run here.
        ModelError: the artifact does not match its manifest (never retried on another backend).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if backend != "auto":
        kind = BACKENDS.get(backend)
        if kind is None:
            raise BackendError(f"unknown backend {backend!r}; choose one of {', '.join(backend_names())}")
        if kind.artifact_suffix != suffix:
            raise BackendError(f"the {backend} backend runs {kind.artifact_suffix} files, not {path.name}")
        try:
            return kind.opener(path, task, cache_dir)
        except MissingExtraError as exc:
            raise BackendError(f"the {backend} backend cannot run here: {exc}") from exc
    passed_over = []
    for kind in BACKENDS.values():
        if kind.artifact_suffix != suffix:
            continue
        try:
            opened = kind.opener(path, task, cache_dir)
        except (BackendError, MissingExtraError) as exc:
            passed_over.append(f"{kind.name}: {exc}")
            continue
        skipped = [reason.split(":")[0] for reason in passed_over]
        log.info(
            "backend auto: %s for %s%s",
            kind.name,
            path.name,
            f" ({', '.join(skipped)}: not usable here, see `faceedge doctor`)" if skipped else "",
        )
        for reason in passed_over:
            log.debug("backend auto passed over %s", reason)
        return opened
    if not passed_over:
        suffixes = sorted({kind.artifact_suffix for kind in BACKENDS.values()})
        raise BackendError(f"no backend runs {path.name}: faceedge runs {', '.join(suffixes)} files")
    raise BackendError(f"no backend can run {path.name} here: {'; '.join(passed_over)}")
