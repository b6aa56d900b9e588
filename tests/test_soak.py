"""Soak: 20,000 frames through the whole pipeline, with people arriving and leaving, and resident
memory growing by less than 20 MB (a device runs for months)."""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np
import pytest

pytest.importorskip("onnxruntime")

FRAMES = 20_000
WARM_UP = 1_000
LIMIT_MB = 20


def _resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads resident memory from /proc")
def test_twenty_thousand_frames_grow_resident_memory_by_less_than_20_mb():
    from faceedge.runtime.pipeline import FacePipeline
    from faceedge.runtime.sources import DEMO_CLIP

    capture = cv2.VideoCapture(str(DEMO_CLIP))
    clip = []
    for _ in range(40):
        ok, frame = capture.read()
        assert ok
        clip.append(cv2.resize(frame, (320, 180), interpolation=cv2.INTER_AREA))
    capture.release()
    # 40 frames with two people, then 20 empty ones: every cycle ends two tracks and starts two.
    cycle = clip + [np.full_like(clip[0], 90)] * 20
    starts = ends = 0
    with FacePipeline(backend="cpu") as pipeline:
        for index in range(WARM_UP + FRAMES):
            if index == WARM_UP:
                before = _resident_mb()
            result = pipeline.process(cycle[index % len(cycle)], index, "soak")
            starts += sum(e.kind == "start" for e in result.events)
            ends += sum(e.kind == "end" for e in result.events)
        after = _resident_mb()
        assert pipeline.tracker.active <= 2  # nothing piles up in the tracker
    cycles = (WARM_UP + FRAMES) // len(cycle)
    assert starts >= 2 * cycles and ends >= 2 * (cycles - 1)  # the churn really happened
    assert after - before < LIMIT_MB, f"resident memory grew by {after - before:.1f} MB over {FRAMES} frames"
