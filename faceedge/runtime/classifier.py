"""The gender classifier: face chips in, P(female) (and the age, for a two-head model) out.

Every caller that turns chips into scores goes through :class:`GenderClassifier`: the pipeline,
evaluation, the export stage's gates and the benchmark. A new output is read here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from faceedge.errors import ModelError
from faceedge.runtime.backends import open_backend
from faceedge.runtime.inputs import chips_to_input

AGE_OUTPUT = "age"  # the optional second output of a two-head model, in years


class GenderClassifier:
    """A gender model on one backend. Its manifest (written by the export stage, or by the Keras
    backend from the model itself) says how to feed it, where its decision threshold lies and what
    its labels are.

    Args:
        path: an exported artifact (``.onnx`` or ``.engine`` with its manifest) or a ``.keras`` model.
        backend: a row of :data:`~faceedge.runtime.backends.BACKENDS`, or ``auto``.
        batch_size: the most chips one backend run takes, where memory asks for fewer than the
            backend's own largest batch; None for the backend's (or all of them).

    Raises:
        ModelError, BackendError: the model does not load, is no gender model, or the backend
            cannot run here.
    """

    def __init__(
        self,
        path: str | Path,
        backend: str = "auto",
        cache_dir: Path | None = None,
        batch_size: int | None = None,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be 1 or more (or None), not {batch_size}")
        self.backend = open_backend(path, "gender", backend, cache_dir)
        self.manifest = self.backend.manifest
        try:
            self._read_manifest(path)
        except ModelError:
            self.backend.close()
            raise
        steps = [n for n in (self.backend.max_batch, batch_size) if n]
        self.batch_size = min(steps) if steps else None

    def _read_manifest(self, path: str | Path) -> None:
        names = [o.name for o in self.manifest.outputs]
        if len(self.manifest.inputs) != 1 or names[1:] not in ([], [AGE_OUTPUT]):
            raise ModelError(
                f"{path}: a gender classifier takes one input and gives P(female), and optionally "
                f"{AGE_OUTPUT!r}; it gives {names}"
            )
        self.spec = self.manifest.inputs[0]
        self.output = names[0]
        self.age_output = names[1] if len(names) == 2 else None
        dims = self.spec.shape[2:4] if self.spec.layout == "NCHW" else self.spec.shape[1:3]
        self.input_size = int(dims[0])
        self.threshold = float(self.manifest.decision.get("threshold", 0.5))
        positive = self.manifest.decision.get("positive", "female")
        labels = list(self.manifest.labels) or ["male", "female"]
        if positive not in labels or len(labels) != 2:
            raise ModelError(f"{path}: the manifest's labels {labels} do not name its positive {positive!r}")
        self.positive, self.negative = positive, labels[1 - labels.index(positive)]

    @property
    def has_age(self) -> bool:
        """Whether the model also gives each face's age in years."""
        return self.age_output is not None

    def prepare(self, chips: np.ndarray) -> np.ndarray:
        """RGB uint8 chips ``(n, size, size, 3)`` as the model's input (colour order, scale, layout)."""
        return chips_to_input(self.spec, chips)

    def predict_heads(self, chips: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """P(positive label) ``(n,)`` of RGB uint8 chips ``(n, size, size, 3)`` and, for a model with
        an age output, their ages in years ``(n,)`` (else None), both from the same runs."""
        heads = self._run(chips, self.prepare)
        return heads[self.output], heads.get(self.age_output)

    def run_prepared(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every output, by name, for model input ``x`` that :meth:`prepare` made."""
        return self._run(x, lambda batch: batch)

    def _run(self, x: np.ndarray, prepare: Callable[[np.ndarray], np.ndarray]) -> dict[str, np.ndarray]:
        """One backend run per :attr:`batch_size` of ``x`` (one for all where that is None), each
        batch prepared on its own: a large set of chips is never held as float32 all at once."""
        step = self.batch_size or len(x) or 1
        parts = [self.backend.run({self.spec.name: prepare(x[i : i + step])}) for i in range(0, len(x), step)]
        names = [self.output] if self.age_output is None else [self.output, self.age_output]
        return {
            name: np.concatenate([np.asarray(p[name], dtype=np.float32).reshape(-1) for p in parts])
            if parts
            else np.empty(0, dtype=np.float32)
            for name in names
        }

    def predict(self, chips: np.ndarray) -> np.ndarray:
        """P(positive label) ``(n,)`` of RGB uint8 chips ``(n, size, size, 3)``: one backend run for
        all of them, or one per :attr:`batch_size`."""
        return self.predict_heads(chips)[0]

    def label(self, p: float) -> str:
        return self.positive if p >= self.threshold else self.negative

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> GenderClassifier:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
