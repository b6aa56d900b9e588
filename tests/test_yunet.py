"""YuNet through OpenCV, for users who bring its ONNX file (a copy for tests lives in ../shared)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED

from faceedge.errors import ModelError
from faceedge.runtime.yunet import YuNetDetector

YUNET = SHARED / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"


@pytest.fixture(scope="module")
def yunet() -> YuNetDetector:
    if not YUNET.is_file():
        pytest.skip(f"no YuNet model at {YUNET} (set FACEEDGE_SHARED)")
    return YuNetDetector(YUNET)


@pytest.fixture(scope="module")
def demo_frame(demo_frames) -> np.ndarray:
    return demo_frames[0]


def test_yunet_finds_both_demo_faces_with_named_landmarks(yunet, demo_frame):
    faces = yunet.detect(demo_frame)
    assert len(faces) == 2 and all(f.score > 0.7 for f in faces)
    for face in faces:
        x, y, w, h = face.box
        right, left = face.point("right_eye"), face.point("left_eye")
        mouth = face.point("mouth_centre")  # the middle of YuNet's two mouth corners
        assert x < right[0] < left[0] < x + w  # the person's right eye is on the picture's left
        assert y < right[1] < mouth[1] < y + h
    assert yunet.detect(np.full((480, 640, 3), 127, np.uint8)) == []
    assert yunet.detect(np.zeros((1, 1, 3), np.uint8)) == []


def test_the_pipeline_runs_with_yunet_and_agrees_with_blazeface(demo_frame):
    if not YUNET.is_file():
        pytest.skip(f"no YuNet model at {YUNET}")
    from faceedge.runtime.pipeline import FacePipeline

    results = {}
    for detector, model in (("yunet", YUNET), ("short", None)):
        with FacePipeline(backend="cpu", detector=detector, detector_model=model, track=False) as pipeline:
            faces = sorted(pipeline.process(demo_frame).faces, key=lambda f: f.box[0])
            results[detector] = faces
            if detector == "yunet":
                assert pipeline.backends["detector"] == "OpenCV DNN (CPU)"
    for a, b in zip(results["yunet"], results["short"], strict=True):
        assert abs(a.box[0] + a.box[2] / 2 - (b.box[0] + b.box[2] / 2)) < 0.2 * b.box[2]  # same face
        # Crops framed alike from either detector's landmarks give close probabilities (this demo
        # frame's Grace Hopper sits near the threshold, so her label may differ between the two).
        assert abs(a.p_female - b.p_female) < 0.3


def test_a_missing_or_broken_yunet_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no YuNet model at"):
        YuNetDetector(tmp_path / "nothing.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match="cannot load"):
        YuNetDetector(broken)
