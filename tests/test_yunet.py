"""YuNet through OpenCV, for users who bring its ONNX file (a copy for tests lives in ../shared)."""

from __future__ import annotations

import cv2
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


def test_a_large_photograph_is_shrunk_before_detection_and_its_faces_mapped_back(yunet, astronaut):
    small = yunet.detect(astronaut)  # 512 px: detected as it is
    assert len(small) == 1
    factor = 4000 / astronaut.shape[1]
    big = cv2.resize(astronaut, (4000, 4000), interpolation=cv2.INTER_CUBIC)
    faces = yunet.detect(big)  # at its full size YuNet finds only a wrong face here: hers is too large
    assert len(faces) == 1
    expected = np.array(small[0].box) * factor
    assert np.allclose(faces[0].box, expected, atol=0.05 * expected[2])
    for name in ("right_eye", "left_eye", "mouth_centre"):
        assert np.allclose(
            faces[0].point(name), np.array(small[0].point(name)) * factor, atol=0.05 * expected[2]
        )


def test_max_side_below_what_yunet_accepts_is_refused(tmp_path):
    with pytest.raises(ValueError, match="max_side"):  # checked before the file is opened
        YuNetDetector(tmp_path / "any.onnx", max_side=8)


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
