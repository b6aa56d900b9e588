"""The gender classifier: face chips in, P(female) out, in one call for all the faces of a frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceedge.errors import ModelError
from faceedge.runtime.backends import open_backend
from faceedge.runtime.inputs import chips_to_input


class GenderClassifier:
    """An exported gender artifact on one backend. Its manifest says how to feed it, where its
    decision threshold lies and what its labels are."""

    def __init__(self, path: str | Path, backend: str = "auto", cache_dir: Path | None = None) -> None:
        self.backend = open_backend(path, "gender", backend, cache_dir)
        self.manifest = self.backend.manifest
        if len(self.manifest.inputs) != 1 or len(self.manifest.outputs) != 1:
            raise ModelError(f"{path}: a gender classifier takes one input and gives one output")
        self.spec = self.manifest.inputs[0]
        self.output = self.manifest.outputs[0].name
        dims = self.spec.shape[2:4] if self.spec.layout == "NCHW" else self.spec.shape[1:3]
        self.input_size = int(dims[0])
        self.threshold = float(self.manifest.decision.get("threshold", 0.5))
        positive = self.manifest.decision.get("positive", "female")
        labels = list(self.manifest.labels) or ["male", "female"]
        if positive not in labels or len(labels) != 2:
            raise ModelError(f"{path}: the manifest's labels {labels} do not name its positive {positive!r}")
        self.positive, self.negative = positive, labels[1 - labels.index(positive)]

    def predict(self, chips: np.ndarray) -> np.ndarray:
        """P(positive label) for RGB uint8 chips ``(n, size, size, 3)``: one backend call for all of
        them, or one per ``max_batch`` where the backend has a largest batch."""
        if len(chips) == 0:
            return np.empty(0, dtype=np.float32)
        step = self.backend.max_batch or len(chips)  # a backend with a largest batch gets several calls
        parts = [
            self.backend.run({self.spec.name: chips_to_input(self.spec, chips[i : i + step])})[self.output]
            for i in range(0, len(chips), step)
        ]
        return np.concatenate([np.asarray(p, dtype=np.float32).reshape(-1) for p in parts])

    def label(self, p: float) -> str:
        return self.positive if p >= self.threshold else self.negative

    def close(self) -> None:
        self.backend.close()
