"""Crops are framed like the training chips: the eyes and mouth land where the chips have them."""

from __future__ import annotations

import numpy as np
import pytest

from faceedge.bundled import bundled_path
from faceedge.errors import ModelError
from faceedge.manifest import manifest_path, read_manifest
from faceedge.runtime.crop import ChipTemplate, FaceCropper, similarity
from faceedge.runtime.detection import Detection

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def template() -> ChipTemplate:
    return ChipTemplate.from_manifest(read_manifest(manifest_path(bundled_path("gender"))))


@pytest.fixture(scope="module")
def detector():
    from faceedge.runtime.blazeface import BlazeFaceDetector

    return BlazeFaceDetector(bundled_path("blazeface_short"), backend="cpu")


def test_similarity_recovers_a_known_rotation_scale_and_shift():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 100, (3, 2))
    angle, scale, shift = np.radians(20), 1.7, np.array([5.0, -3.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = similarity(points, points @ rotation.T + shift)
    np.testing.assert_allclose(matrix, np.hstack([rotation, shift[:, None]]), atol=1e-9)


def test_the_template_comes_from_the_manifest(template):
    crop = read_manifest(manifest_path(bundled_path("gender"))).preprocessing["crop"]
    right, left, mouth = template.points / template.chip_size
    np.testing.assert_allclose((right + left) / 2, crop["eye_centre"], atol=1e-9)
    assert np.hypot(*(left - right)) == pytest.approx(crop["eye_distance"])
    np.testing.assert_allclose(mouth, crop["mouth_centre"])


def test_a_manifest_without_crop_framing_is_refused():
    from dataclasses import replace

    manifest = read_manifest(manifest_path(bundled_path("gender")))
    with pytest.raises(ModelError, match="does not say how its training chips frame a face"):
        ChipTemplate.from_manifest(replace(manifest, preprocessing={}))


@pytest.mark.parametrize("angle", [0, 25])
def test_a_crop_puts_the_eyes_where_the_training_chips_have_them(angle, portrait, template, detector):
    import cv2

    # Tilt the whole portrait: the crop must level the eyes again.
    height, width = portrait.shape[:2]
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    tilted = cv2.warpAffine(portrait, rotation, (width, height))
    (face,) = detector.detect(tilted)
    cropper = FaceCropper(template, input_size=template.chip_size)
    chip = cropper.crop(tilted, face)[:, :, ::-1]  # RGB -> BGR for the detector
    (again,) = detector.detect(np.ascontiguousarray(chip))
    right, left = np.array(again.point("right_eye")), np.array(again.point("left_eye"))
    want_right, want_left = template.points[0], template.points[1]
    # Within 3 % of the chip side: the detector's own jitter between two framings of one face.
    assert np.abs(right - want_right).max() < 0.03 * template.chip_size
    assert np.abs(left - want_left).max() < 0.03 * template.chip_size


def test_small_faces_are_skipped_and_the_rest_cropped_at_the_classifier_size(template):
    image = np.full((300, 300, 3), 90, np.uint8)
    names = ("right_eye", "left_eye", "mouth_centre")
    big = Detection((50, 50, 120, 120), 0.9, ((90, 100), (130, 100), (110, 140)), names)
    small = Detection((200, 200, 12, 12), 0.9, ((203, 204), (209, 204), (206, 209)), names)
    cropper = FaceCropper(template, input_size=96, min_face=20)
    assert cropper.large_enough([small, big]) == [1]
    chips = cropper.crops(image, [big])
    assert chips.shape == (1, 96, 96, 3) and chips.dtype == np.uint8


def test_a_face_cut_by_the_border_is_cropped_with_black_outside_the_image(template):
    image = np.full((200, 200, 3), 200, np.uint8)
    names = ("right_eye", "left_eye", "mouth_centre")
    corner = Detection((-40, -40, 100, 100), 0.9, ((-10, 0), (30, 0), (10, 40)), names)
    chip = FaceCropper(template, input_size=96).crop(image, corner)
    assert chip.shape == (96, 96, 3)
    assert chip[0, 0].max() == 0 and chip[-1, -1].min() == 200  # outside black, inside the image


def test_mouth_corners_stand_in_for_the_mouth_centre():
    yunet = Detection(
        (0, 0, 10, 10),
        0.9,
        ((1, 1), (5, 1), (3, 3), (2, 6), (4, 8)),
        ("right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left"),
    )
    assert yunet.point("mouth_centre") == (3.0, 7.0)
    with pytest.raises(KeyError, match="no 'left_ear' point"):
        yunet.point("left_ear")
