"""Shared inputs of the pytest-benchmark suites: demo clip frames and the faces in them."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def demo_frames() -> list[np.ndarray]:
    """The first 30 frames of the demo clip (1280x720, two faces each)."""
    from faceedge.runtime.sources import SourceSpec, open_source

    with open_source(SourceSpec("demo")) as clip:
        return [frame.image for frame, _ in zip(clip, range(30))]


@pytest.fixture(scope="session")
def detector():
    from faceedge.bundled import bundled_path
    from faceedge.runtime.blazeface import BlazeFaceDetector

    return BlazeFaceDetector(bundled_path("blazeface_short"), backend="cpu")


@pytest.fixture(scope="session")
def faces(detector, demo_frames):
    return detector.detect(demo_frames[0])
