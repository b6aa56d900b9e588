"""Chips to model input, exactly as an artifact's manifest says (colour order, scaling, layout)."""

from __future__ import annotations

import numpy as np

from faceedge.manifest import TensorSpec


def chips_to_input(spec: TensorSpec, chips: np.ndarray) -> np.ndarray:
    """RGB uint8 chips ``(n, size, size, 3)`` as the float32 input ``spec`` describes."""
    x = chips.astype(np.float32)
    if spec.color == "BGR":
        x = x[..., ::-1]
    if spec.mean or spec.scale != 1.0:
        x = (x - spec.mean) * spec.scale
    if spec.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x)
