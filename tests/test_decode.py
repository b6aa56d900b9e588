"""Image decoding: arrays and encoded bytes into BGR uint8, or ImageDecodeError and nothing else.

The fuzz tests hold :func:`decode_image` to that promise on arbitrary and damaged bytes, and the
header tests check that a file announcing too many pixels is refused before OpenCV decodes it.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from conftest import encode_image, solid_image
from hypothesis import given, settings
from hypothesis import strategies as st

from faceedge.errors import ImageDecodeError
from faceedge.imaging import decode_image, to_bgr8

FUZZ = settings(max_examples=300, deadline=None, database=None)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG header announcing ``width`` x ``height`` RGB pixels, with a tiny payload."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


@pytest.fixture
def no_decoding(monkeypatch):
    """Make any call to cv2.imdecode fail the test: proves a refusal came from the header alone."""

    def refuse(*args, **kwargs):
        raise AssertionError("cv2.imdecode was called")

    monkeypatch.setattr(cv2, "imdecode", refuse)


# --- to_bgr8 ----------------------------------------------------------------------------------------


def test_to_bgr8_repeats_grey_into_three_channels():
    for grey in (np.full((5, 7), 77, np.uint8), np.full((5, 7, 1), 77, np.uint8)):
        bgr = to_bgr8(grey)
        assert bgr.shape == (5, 7, 3) and bgr.dtype == np.uint8 and bgr.flags.c_contiguous
        assert (bgr == 77).all()


def test_to_bgr8_drops_alpha_and_keeps_colour():
    bgra = np.zeros((4, 6, 4), np.uint8)
    bgra[...] = (10, 20, 30, 0)
    bgr = to_bgr8(bgra)
    assert bgr.shape == (4, 6, 3) and bgr.flags.c_contiguous
    assert (bgr == (10, 20, 30)).all()


def test_to_bgr8_scales_16_bit_and_float_instead_of_clipping():
    sixteen = np.array([[0, 257, 32896, 65535]], np.uint16)
    assert to_bgr8(sixteen)[0, :, 0].tolist() == [0, 1, 128, 255]
    floats = np.array([[0.0, 0.5, 1.0, 2.0, -1.0, np.nan]], np.float32)
    assert to_bgr8(floats)[0, :, 0].tolist() == [0, 128, 255, 255, 0, 0]


def test_to_bgr8_returns_an_image_that_already_fits_as_it_is():
    image = np.zeros((3, 3, 3), np.uint8)
    assert to_bgr8(image) is image


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((0, 5, 3), np.uint8),
        np.zeros((5, 0), np.uint8),
        np.zeros((2, 3, 4, 3), np.uint8),
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((4, 4, 5), np.uint8),
        np.zeros(7, np.uint8),
        np.zeros((4, 4, 3), np.int16),
        np.zeros((4, 4, 3), bool),
    ],
    ids=["zero-rows", "zero-columns", "4-D", "2-channels", "5-channels", "1-D", "int16", "bool"],
)
def test_to_bgr8_refuses_arrays_that_are_not_images(array):
    with pytest.raises(ImageDecodeError):
        to_bgr8(array)


@FUZZ
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.uint16, np.float32, np.float64, np.int32, np.bool_]),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
    )
)
def test_to_bgr8_gives_bgr8_of_the_same_size_or_refuses(array):
    try:
        bgr = to_bgr8(array)
    except ImageDecodeError:
        return
    assert bgr.dtype == np.uint8 and bgr.shape == (*array.shape[:2], 3) and bgr.flags.c_contiguous


# --- decode_image -----------------------------------------------------------------------------------


def test_decode_image_normalises_grey_alpha_and_16_bit_pngs():
    grey = decode_image(encode_image(".png", np.full((6, 8), 77, np.uint8)))
    assert grey.shape == (6, 8, 3) and (grey == 77).all()

    bgra = np.zeros((6, 8, 4), np.uint8)
    bgra[...] = (10, 20, 30, 0)
    assert (decode_image(encode_image(".png", bgra)) == (10, 20, 30)).all()

    sixteen = np.zeros((6, 8, 3), np.uint16)
    sixteen[..., 0], sixteen[..., 1], sixteen[..., 2] = 65535, 257 * 100, 0
    bgr = decode_image(encode_image(".png", sixteen))
    assert bgr.dtype == np.uint8 and (bgr == (255, 100, 0)).all()

    grey16 = decode_image(encode_image(".png", np.full((6, 8), 65535, np.uint16)))
    assert grey16.shape == (6, 8, 3) and (grey16 == 255).all()


def test_decode_image_reads_float_tiff_as_zero_to_one():
    bgr = decode_image(encode_image(".tiff", np.full((4, 5, 3), 0.5, np.float32)))
    assert bgr.dtype == np.uint8 and (bgr == 128).all()


@pytest.mark.parametrize("extension", [".png", ".jpg", ".bmp"])
def test_decode_image_reads_a_one_pixel_image(extension):
    bgr = decode_image(encode_image(extension, solid_image((40, 120, 200), 1, 1)))
    assert bgr.shape == (1, 1, 3) and bgr.dtype == np.uint8
    assert np.abs(bgr[0, 0].astype(int) - (40, 120, 200)).max() <= 8  # JPEG is lossy


def test_decode_image_applies_the_jpeg_orientation():
    image = np.zeros((40, 60, 3), np.uint8)
    jpeg = encode_image(".jpg", image)
    # An EXIF block whose only entry is Orientation = 6: the camera was turned 90 degrees.
    tiff = (
        b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x0112, 3, 1, 6) + struct.pack("<I", 0)
    )
    app1 = b"Exif\x00\x00" + tiff
    rotated = jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]
    assert decode_image(rotated).shape == (60, 40, 3)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"this is not an image at all, just some words" * 10, "cannot decode"),
        (bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), "cannot decode"),
    ],
    ids=["empty", "text", "random"],
)
def test_decode_image_refuses_what_is_not_an_image(data, reason):
    with pytest.raises(ImageDecodeError, match=reason):
        decode_image(data)


def test_decode_image_refuses_a_truncated_jpeg():
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode_image(".jpg", noise)
    with pytest.raises(ImageDecodeError, match="truncated"):
        decode_image(data[: len(data) * 2 // 3])


def test_decode_image_refuses_a_png_announcing_too_many_pixels_before_decoding(no_decoding):
    with pytest.raises(ImageDecodeError, match="100000 x 100000 pixels"):
        decode_image(_png_claiming(100_000, 100_000))


def test_decode_image_refuses_a_jpeg_announcing_too_many_pixels_before_decoding(no_decoding):
    data = bytearray(encode_image(".jpg", solid_image((1, 2, 3))))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60_000, 50_000)  # height, width
    with pytest.raises(ImageDecodeError, match="50000 x 60000 pixels"):
        decode_image(bytes(data))


def _tiff_header(order: str, width: int, height: int) -> bytes:
    """A classic TIFF (``<`` little- or ``>`` big-endian) or, for ``"big"``, a little-endian BigTIFF
    whose first IFD holds only the width (LONG / LONG8) and the height (SHORT / LONG)."""
    if order == "big":
        entries = struct.pack("<HHQQ", 256, 16, 1, width) + struct.pack("<HHQQ", 257, 4, 1, height)
        return b"II+\x00" + struct.pack("<HHQ", 8, 0, 16) + struct.pack("<Q", 2) + entries
    magic = b"II*\x00" if order == "<" else b"MM\x00*"
    entries = struct.pack(order + "HHII", 256, 4, 1, width)
    entries += struct.pack(order + "HHIHH", 257, 3, 1, height, 0)  # a SHORT sits in the first 2 bytes
    return magic + struct.pack(order + "IH", 8, 2) + entries + struct.pack(order + "I", 0)


@pytest.mark.parametrize("order", ["<", ">", "big"], ids=["tiff-le", "tiff-be", "bigtiff"])
def test_decode_image_reads_the_size_of_tiff_headers(order, no_decoding):
    with pytest.raises(ImageDecodeError, match="70000 x 30000 pixels"):
        decode_image(_tiff_header(order, 70_000, 30_000))


def test_decode_image_reads_the_size_of_an_extended_webp_header(no_decoding):
    vp8x = b"RIFF\x00\x00\x00\x00WEBPVP8X" + struct.pack("<I", 10) + b"\x00" * 4
    vp8x += (20_000 - 1).to_bytes(3, "little") + (10_000 - 1).to_bytes(3, "little")
    with pytest.raises(ImageDecodeError, match="20000 x 10000 pixels"):
        decode_image(vp8x)


def test_decode_image_reads_the_size_of_a_gif_screen_whatever_its_frames(no_decoding):
    # 35 bytes: a 20000 x 20000 logical screen holding one 1 x 1 frame, which OpenCV would decode
    # into a canvas of the screen's size (gigabytes).
    gif = b"GIF89a" + struct.pack("<HH", 20_000, 20_000) + b"\x00\x00\x00"
    gif += b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00\x02\x02\x44\x01\x00\x3b"
    with pytest.raises(ImageDecodeError, match="20000 x 20000 pixels"):
        decode_image(gif, sized_formats_only=True)
    with pytest.raises(ImageDecodeError, match="truncated GIF header"):
        decode_image(b"GIF87a\x10\x00", sized_formats_only=True)


SIZED_FORMATS = {
    "png": (".png", ()),
    "jpeg": (".jpg", ()),
    "bmp": (".bmp", ()),
    "webp-lossy": (".webp", (cv2.IMWRITE_WEBP_QUALITY, 90)),
    "webp-lossless": (".webp", (cv2.IMWRITE_WEBP_QUALITY, 101)),
    "tiff": (".tiff", ()),
    "gif": (".gif", ()),
}


@pytest.mark.parametrize("kind", SIZED_FORMATS)
def test_decode_image_limit_is_read_from_each_header(kind, monkeypatch):
    extension, params = SIZED_FORMATS[kind]
    data = encode_image(extension, solid_image((90, 60, 30), height=30, width=40), params)
    assert decode_image(data, max_pixels=1200).shape == (30, 40, 3)
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("decoded despite its header"))
    with pytest.raises(ImageDecodeError, match="40 x 30 pixels is more than the 1199 allowed"):
        decode_image(data, max_pixels=1199)


SIGNATURES = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"\xff\xd8",
    b"\xff\xd8\xff\xe0",
    b"\xff\xd8\xff\xc0\x00\x11\x08",
    b"BM",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"RIFF\x00\x00\x00\x00WEBPVP8L",
    b"RIFF\x00\x00\x00\x00WEBPVP8X",
    b"II*\x00",
    b"MM\x00*",
    b"II+\x00\x08\x00\x00\x00",
    b"GIF89a",
    b"P6\n",
]
SAMPLES = [
    encode_image(".png", solid_image((1, 2, 3), 12, 16)),
    encode_image(".png", np.arange(192, dtype=np.uint16).reshape(12, 16) * 300),
    encode_image(".jpg", np.random.default_rng(2).integers(0, 256, (12, 16, 3), dtype=np.uint8)),
    encode_image(".bmp", solid_image((4, 5, 6), 12, 16)),
    encode_image(".webp", solid_image((7, 8, 9), 12, 16)),
    encode_image(".tiff", solid_image((10, 11, 12), 12, 16)),
    encode_image(".gif", solid_image((13, 14, 15), 12, 16)),
]
FUZZ_MAX_PIXELS = 4_000_000  # keeps a header that a mutation blew up from allocating much


def _image_or_decode_error(data: bytes) -> None:
    try:
        image = decode_image(data, max_pixels=FUZZ_MAX_PIXELS)
    except ImageDecodeError:
        return
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[2] == 3 and image.size > 0 and image.flags.c_contiguous


@FUZZ
@given(prefix=st.sampled_from(SIGNATURES), rest=st.binary(max_size=512))
def test_decode_image_on_arbitrary_bytes_gives_an_image_or_decode_error(prefix, rest):
    _image_or_decode_error(prefix + rest)


@FUZZ
@given(data=st.data())
def test_decode_image_on_damaged_images_gives_an_image_or_decode_error(data):
    sample = bytearray(data.draw(st.sampled_from(SAMPLES), label="sample"))
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(sample) - 1), st.integers(0, 255)), max_size=8))
    for position, value in edits:
        sample[position] = value
    cut = data.draw(st.integers(0, len(sample)), label="length")
    _image_or_decode_error(bytes(sample[:cut]))


def test_only_formats_whose_header_states_their_size_are_taken_when_asked():
    from faceedge.errors import UnreadHeaderError

    ppm = b"P6\n2 1\n255\n" + bytes([0, 0, 255, 0, 255, 0])  # a format OpenCV reads, without a reader here
    assert decode_image(ppm).shape == (1, 2, 3)
    with pytest.raises(UnreadHeaderError, match="header states its size"):
        decode_image(ppm, sized_formats_only=True)
    png = encode_image(".png", solid_image((1, 2, 3)))
    assert decode_image(png, sized_formats_only=True).shape == (24, 32, 3)
