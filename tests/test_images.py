from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceedge.errors import ImageDecodeError
from faceedge.imaging import (
    check_jpeg_structure,
    chip_to_input,
    decode_bgr,
    decode_chip,
)


def _jpeg(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def test_complete_jpeg_passes_and_truncated_one_is_refused():
    data = _jpeg(np.full((64, 64, 3), 128, np.uint8))
    check_jpeg_structure(data)
    with pytest.raises(ImageDecodeError, match="truncated"):
        check_jpeg_structure(data[: len(data) // 2])


def _jpeg_with(image: np.ndarray, *params: int) -> bytes:
    ok, data = cv2.imencode(".jpg", image, list(params))
    assert ok
    return data.tobytes()


_PICTURE = np.random.default_rng(1).integers(0, 255, (48, 80, 3), dtype=np.uint8)  # 80 wide, 48 high
_BASELINE = _jpeg_with(_PICTURE)
_COMMENT = b"\xff\xfe\x00\x07faces"  # a COM segment: length 7 counts its own two bytes


@pytest.mark.parametrize(
    "data",
    [
        _BASELINE,
        _jpeg_with(_PICTURE, cv2.IMWRITE_JPEG_PROGRESSIVE, 1),  # several scans
        _jpeg_with(_PICTURE, cv2.IMWRITE_JPEG_RST_INTERVAL, 2),  # restart markers in the scan
        _BASELINE[:2] + _COMMENT + _BASELINE[2:],  # a comment segment before the others
        _BASELINE[:2] + b"\xff\xff\xff" + _BASELINE[2:],  # fill bytes before a marker
        _BASELINE + b"trailing bytes after the end of the image",
    ],
    ids=["baseline", "progressive", "restart-markers", "comment", "fill-bytes", "trailing-data"],
)
def test_every_kind_of_complete_jpeg_passes_with_the_size_its_frame_header_announces(data):
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (48, 80, 3)
    assert check_jpeg_structure(data) == (80, 48)


def test_image_data_before_the_frame_header_is_refused():
    start_of_frame = _BASELINE.find(b"\xff\xc0")
    start_of_scan = _BASELINE.find(b"\xff\xda")
    assert 0 < start_of_frame < start_of_scan
    length = int.from_bytes(_BASELINE[start_of_frame + 2 : start_of_frame + 4], "big")
    # The frame header moved after the scan: the walk meets the scan first.
    frame = _BASELINE[start_of_frame : start_of_frame + 2 + length]
    moved = _BASELINE[:start_of_frame] + _BASELINE[start_of_frame + 2 + length :] + frame
    with pytest.raises(ImageDecodeError, match="image data before the frame header"):
        check_jpeg_structure(moved)


@pytest.mark.parametrize(("data", "reason"), [(b"", "empty"), (b"GIF89a....", "not a JPEG")])
def test_non_jpeg_bytes_are_refused(data, reason):
    with pytest.raises(ImageDecodeError, match=reason):
        check_jpeg_structure(data)


def test_garbage_after_a_valid_header_does_not_decode():
    data = _jpeg(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ImageDecodeError):
        decode_bgr(data[:20] + b"\x00" * 200)


def test_chip_to_input_resizes_and_turns_bgr_into_rgb():
    bgr = np.zeros((200, 200, 3), np.uint8)
    bgr[..., 0] = 255  # pure blue in OpenCV's BGR order
    rgb = chip_to_input(bgr, 96)
    assert rgb.shape == (96, 96, 3) and rgb.dtype == np.uint8
    assert rgb[..., 2].min() == 255 and rgb[..., 0].max() == 0


def test_decode_chip_matches_decoding_then_resizing():
    image = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    data = _jpeg(image)
    expected = cv2.resize(
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), (64, 64), interpolation=cv2.INTER_AREA
    )[:, :, ::-1]
    np.testing.assert_array_equal(decode_chip(data, 64), expected)
