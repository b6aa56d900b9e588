"""The native TensorRT engine from `faceedge export gender --trt-fp16`, behind the backend interface.

TensorRT and cuda-python are imported only when such an engine is opened (see
:mod:`faceedge.runtime.tensorrt_engine`, which also refuses an engine built for another GPU or
TensorRT version).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceedge.errors import BackendError, ModelError


class TensorRTEngineBackend:
    """A gender engine run directly by TensorRT, one batch of at most the engine profile's maximum
    per :meth:`run` (the classifier splits larger ones)."""

    name = "trt-engine"

    def __init__(self, path: str | Path, task: str) -> None:
        from faceedge.runtime.tensorrt_engine import TensorRTEngine, current_target

        self.engine = TensorRTEngine(path)
        self.manifest = self.engine.manifest
        if self.manifest.task != task:
            self.engine.close()
            raise ModelError(f"{path} is a {self.manifest.task} engine, not a {task} model")
        target = current_target()
        self.providers = (f"TensorRT {target.tensorrt} on {target.gpu}",)
        self.precision = self.manifest.precision
        self.max_batch = self.engine.max_batch

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output by name (P(female) ``(n, 1)``, and ``age`` ``(n, 1)`` for a two-head model)
        for at most ``max_batch`` inputs.

        Raises:
            BackendError: ``inputs`` does not name exactly the engine's input, or its array is not
                what the engine's input buffer holds (nothing is copied to the GPU then).
            ModelError, GpuError: see :meth:`TensorRTEngine.run_batch`.
        """
        if set(inputs) != {self.engine.input}:
            raise BackendError(f"the engine takes one input, {self.engine.input!r}, not {sorted(inputs)}")
        return self.engine.run_batch(inputs[self.engine.input])

    def close(self) -> None:
        self.engine.close()
