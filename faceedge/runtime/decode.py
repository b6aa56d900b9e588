"""Image bytes and arrays into the one image type the runtime works on: BGR uint8, ``H x W x 3``.

The promise, for :func:`decode_image` and :func:`to_bgr8` alike: the result is a C-contiguous BGR
uint8 array, or the call raises :class:`~faceedge.data.images.ImageDecodeError` with a message that
says what is wrong; never another exception, never ``None``, never a half-decoded image. Grey,
alpha, 16-bit and float images are normalised, and JPEG orientation metadata is applied.

The size a PNG, JPEG, BMP, WebP or TIFF file announces in its header is checked against
``max_pixels`` before anything is decoded. An HTTP server will hand this module untrusted uploads,
where a few kilobytes announcing a 100 000 x 100 000 image would otherwise make OpenCV allocate
tens of gigabytes; the header readers refuse such a file without allocating anything.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from faceedge.data.images import ImageDecodeError, check_jpeg_structure

MAX_PIXELS = 100_000_000


class ImageTooLargeError(ImageDecodeError):
    """An image with more pixels than allowed, refused before its pixels were decoded where its
    header said how many there are."""


class UnreadHeaderError(ImageDecodeError):
    """Bytes in a format whose header this module does not read, refused where only images whose
    size is known before decoding are accepted."""


# ANYDEPTH | ANYCOLOR rather than UNCHANGED: both keep 16-bit and grey images as they are, but only
# this one applies the EXIF orientation, without which a phone's portrait photo arrives on its side
# and its faces are missed. OpenCV drops an alpha channel under these flags, as to_bgr8 would.
_IMREAD_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR


# --- Arrays ------------------------------------------------------------------------------------------


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any decoded image as BGR uint8, ``H x W x 3``, C-contiguous (the input itself when it already is).

    Grey (``H x W`` or ``H x W x 1``) is repeated into three channels, an alpha channel is dropped,
    16-bit values are scaled (65535 becomes 255) and floats are read as 0 to 1 (clipped, NaN as 0).

    Raises:
        ImageDecodeError: the array cannot be an image: empty, not 2-D or 3-D, 2 or more than 4
            channels, or of a pixel type other than uint8, uint16 and float.
    """
    if image.size == 0:
        raise ImageDecodeError(f"empty image (shape {image.shape})")
    if image.ndim == 3 and image.shape[2] in (1, 3, 4):
        channels = image.shape[2]
    elif image.ndim == 2:
        channels = 1
    else:
        raise ImageDecodeError(f"an array of shape {image.shape} is not an image")
    pixels = _to_uint8(image)
    if channels == 1:
        grey = pixels.reshape(pixels.shape[:2])
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.ascontiguousarray(pixels if channels == 3 else pixels[:, :, :3])


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """``image`` with its values scaled to uint8 (uint8 itself is returned as it is).

    Raises:
        ImageDecodeError: the pixels are neither uint8, uint16 nor float.
    """
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        # x / 257 rounded, in one pass: no wider temporary copies of what may be a 25 MP image.
        return cv2.convertScaleAbs(image, alpha=1 / 257)
    if np.issubdtype(image.dtype, np.floating):
        unit = np.clip(np.nan_to_num(image, nan=0.0), 0.0, 1.0)
        return (unit * 255.0 + 0.5).astype(np.uint8)
    raise ImageDecodeError(f"pixels of type {image.dtype} are not an image this runtime reads")


# --- Bytes -------------------------------------------------------------------------------------------


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS, sized_formats_only: bool = False) -> np.ndarray:
    """Decode an encoded image (any format OpenCV reads) into BGR uint8 (see :func:`to_bgr8`).

    PNG, JPEG, BMP, WebP and TIFF files are refused before decoding when their header announces
    more than ``max_pixels`` pixels; other formats are checked once decoded (OpenCV itself refuses
    more than 2**30 pixels), or with ``sized_formats_only`` refused outright, so that no upload can
    make OpenCV allocate for a size nobody checked. JPEG orientation metadata is applied.

    Raises:
        ImageDecodeError: and nothing else, for empty bytes, bytes in no format OpenCV reads, a
            corrupt or truncated image, or (as its subclass ImageTooLargeError) one with more than
            ``max_pixels`` pixels, or (as UnreadHeaderError) with ``sized_formats_only``, bytes
            that are not a PNG, JPEG, BMP, WebP or TIFF file whose header states its size.
    """
    if not data:
        raise ImageDecodeError("empty file")
    if data.startswith(_JPEG_SIGNATURE):
        check_jpeg_structure(data)  # libjpeg decodes a truncated file into grey padding
    announced = _announced_size(data)
    if announced is not None:
        _check_pixels(*announced, max_pixels)
    elif sized_formats_only:
        raise UnreadHeaderError("not a PNG, JPEG, BMP, WebP or TIFF file whose header states its size")
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), _IMREAD_FLAGS)
    except cv2.error as exc:
        raise ImageDecodeError(f"OpenCV cannot decode it ({exc.err or exc})") from exc
    if image is None or image.size == 0:
        raise ImageDecodeError("OpenCV cannot decode it (corrupt, or in no format it reads)")
    _check_pixels(image.shape[1], image.shape[0], max_pixels)
    return to_bgr8(image)


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    """Refuse an image of more than ``max_pixels`` pixels.

    Raises:
        ImageTooLargeError: ``width`` x ``height`` is more than ``max_pixels``.
    """
    if width * height > max_pixels:
        raise ImageTooLargeError(f"{width} x {height} pixels is more than the {max_pixels} allowed")


# --- Headers -----------------------------------------------------------------------------------------
# Each header reader gets bytes that start with its signature and returns the announced
# (width, height), or None when the header does not say and the decoded size is checked instead.
# A header too short or malformed to hold a size is a broken file: ImageDecodeError.

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8"
# Start-of-frame markers, which carry the size: C0 to CF except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn stand alone
_JPEG_SOS, _JPEG_EOI = 0xDA, 0xD9
_TIFF_WIDTH, _TIFF_HEIGHT = 256, 257
_TIFF_INTEGERS = {3: "H", 4: "I", 16: "Q"}  # SHORT, LONG, LONG8 (BigTIFF)


def _announced_size(data: bytes) -> tuple[int, int] | None:
    """The (width, height) the header of ``data`` announces; None for a format without a reader here.

    Raises:
        ImageDecodeError: the header of a format read here is too short or malformed to hold a size.
    """
    for signature, reader in _HEADER_READERS:
        if data.startswith(signature):
            return reader(data)
    return None


def _png_size(data: bytes) -> tuple[int, int]:
    """The size in the IHDR chunk, which comes first: length, type, width, height, all big-endian.

    Raises:
        ImageDecodeError: there is no IHDR chunk where it belongs.
    """
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ImageDecodeError("corrupt PNG (no IHDR header)")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """The size in the first start-of-frame segment, found by walking the segments before it.

    Raises:
        ImageDecodeError: the data ends, or a scan begins, before a start-of-frame segment.
    """
    position = 2
    while True:
        # Like libjpeg, skip stray bytes and fill bytes between segments.
        position = data.find(b"\xff", position)
        while 0 <= position < len(data) - 1 and data[position + 1] == 0xFF:
            position += 1
        if position < 0 or position + 4 > len(data):
            raise ImageDecodeError("corrupt JPEG (no frame header)")
        marker = data[position + 1]
        if marker in _JPEG_NO_LENGTH or marker == 0x00:
            position += 2
            continue
        if marker in (_JPEG_SOS, _JPEG_EOI):
            raise ImageDecodeError("corrupt JPEG (image data before the frame header)")
        if marker in _JPEG_SOF:
            if position + 9 > len(data):
                raise ImageDecodeError("truncated JPEG frame header")
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")


def _bmp_size(data: bytes) -> tuple[int, int]:
    """The size in the DIB header, from the old OS/2 one (16-bit) or any later one (signed 32-bit).

    Raises:
        ImageDecodeError: the data ends before the size does.
    """
    if len(data) < 26:
        raise ImageDecodeError("truncated BMP header")
    if int.from_bytes(data[14:18], "little") == 12:  # the old OS/2 header: 16-bit sizes
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])  # negative height: rows run top-down
    return abs(width), abs(height)


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """The size in the first chunk of a lossy, lossless or extended WebP; None for another RIFF file.

    Raises:
        ImageDecodeError: a WebP whose first chunk is of no known kind or ends before the size.
    """
    if data[8:12] != b"WEBP":
        return None  # a RIFF file of another kind, which OpenCV will refuse
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:  # lossy: 14-bit sizes after the key frame's start code
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:  # lossless: 14-bit sizes minus one, packed
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:  # extended: 24-bit canvas sizes minus one
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    raise ImageDecodeError("corrupt WebP header")


def _tiff_size(data: bytes) -> tuple[int, int]:
    """The width and height in the first IFD of a classic TIFF or a BigTIFF: the image OpenCV decodes.

    Raises:
        ImageDecodeError: the header is truncated, or its first IFD holds no integer width and height.
    """
    sizes: dict[int, int] = {}
    try:
        for tag, value in _tiff_size_entries(data):
            sizes[tag] = value
            if len(sizes) == 2:
                return sizes[_TIFF_WIDTH], sizes[_TIFF_HEIGHT]
    except struct.error as exc:
        raise ImageDecodeError("truncated TIFF header") from exc
    raise ImageDecodeError("corrupt TIFF (no image size)")


def _tiff_size_entries(data: bytes) -> Iterator[tuple[int, int]]:
    """The (tag, value) of each width or height entry of the first IFD, in the IFD's order.

    Classic TIFF has 4-byte IFD offsets, 2-byte entry counts and 12-byte entries ending in a 4-byte
    value; BigTIFF doubles all three.

    Raises:
        ImageDecodeError: the first IFD lies past the end, or holds a size that is not an integer.
        struct.error: the data ends inside the IFD.
    """
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    offset_format, count_format, entry_size = ("Q", "Q", 20) if big else ("I", "H", 12)
    (ifd,) = struct.unpack_from(order + offset_format, data, 8 if big else 4)
    if ifd >= len(data):
        raise ImageDecodeError("truncated TIFF header")
    (count,) = struct.unpack_from(order + count_format, data, ifd)
    first = ifd + struct.calcsize(count_format)
    for entry in range(first, first + entry_size * min(count, len(data) // entry_size), entry_size):
        tag, kind = struct.unpack_from(order + "HH", data, entry)
        if tag not in (_TIFF_WIDTH, _TIFF_HEIGHT):
            continue
        if kind not in _TIFF_INTEGERS:
            raise ImageDecodeError("corrupt TIFF (an image size that is not an integer)")
        value_at = entry + entry_size - (8 if big else 4)
        (value,) = struct.unpack_from(order + _TIFF_INTEGERS[kind], data, value_at)
        yield tag, value


_HEADER_READERS: tuple[tuple[bytes, Callable[[bytes], tuple[int, int] | None]], ...] = (
    (_PNG_SIGNATURE, _png_size),
    (_JPEG_SIGNATURE, _jpeg_size),
    (b"BM", _bmp_size),
    (b"RIFF", _webp_size),
    (b"II*\x00", _tiff_size),
    (b"MM\x00*", _tiff_size),
    (b"II+\x00", _tiff_size),
    (b"MM\x00+", _tiff_size),
)
