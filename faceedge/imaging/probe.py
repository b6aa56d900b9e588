"""What an image's header announces, read without decoding a pixel.

Each header reader gets bytes that start with its signature and returns the announced
(width, height), or None when the header does not say and the decoded size is checked instead.
A header too short or malformed to hold a size is a broken file: ImageDecodeError.

JPEG has one reader, :func:`check_jpeg_structure`, which walks the file's segments once: it finds
the frame header that holds the size and refuses a file that ends before its image does. The
dataset loader calls it on every chip, :func:`~faceedge.imaging.decode.decode_image` on every
JPEG it is given.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from faceedge.errors import ImageDecodeError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8"  # start of image
# Start-of-frame markers, which carry the size: C0 to CF except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_NO_LENGTH = frozenset({0x00, 0x01, *range(0xD0, 0xD8)})  # stuffed FF, TEM and RSTn stand alone
_JPEG_SOS, _JPEG_EOI = 0xDA, 0xD9  # start of scan (the entropy-coded data follows), end of image
_TIFF_WIDTH, _TIFF_HEIGHT = 256, 257
_TIFF_INTEGERS = {3: "H", 4: "I", 16: "Q"}  # SHORT, LONG, LONG8 (BigTIFF)


def announced_size(data: bytes) -> tuple[int, int] | None:
    """The (width, height) the header of ``data`` announces; None for a format without a reader here.

    Raises:
        ImageDecodeError: the header of a format read here is too short or malformed to hold a
            size, or ``data`` is a truncated JPEG.
    """
    for signature, reader in _HEADER_READERS:
        if data.startswith(signature):
            return reader(data)
    return None


def check_jpeg_structure(data: bytes) -> tuple[int, int]:
    """Refuse bytes that cannot be a complete JPEG, without decoding the pixels; return the
    (width, height) its frame header announces.

    A truncated JPEG still decodes in OpenCV (libjpeg pads it with grey and only warns), so
    truncation is caught here: byte stuffing guarantees that ``FF D9`` never occurs inside
    entropy-coded data, hence a complete file has an end-of-image marker after its last scan.

    Raises:
        ImageDecodeError: the bytes are empty, lack the JPEG signature, end before the image data
            or the image does, or hold image data before a frame header.
    """
    if not data:
        raise ImageDecodeError("empty file")
    if not data.startswith(_JPEG_SIGNATURE):
        raise ImageDecodeError("not a JPEG (no start-of-image marker)")
    size, first_scan = _jpeg_frame(data)
    if data.find(b"\xff\xd9", data.rfind(b"\xff\xda", first_scan)) < 0:
        raise ImageDecodeError("truncated JPEG (no end-of-image marker after the image data)")
    return size


def _jpeg_frame(data: bytes) -> tuple[tuple[int, int], int]:
    """The size in the first start-of-frame segment, and where the first scan begins, found by
    walking the segments from the start of the image to that scan.

    Raises:
        ImageDecodeError: the data ends, or the image does, before a scan; or a scan begins before
            a start-of-frame segment.
    """
    size: tuple[int, int] | None = None
    position = 2
    while True:
        # Like libjpeg, skip stray bytes and fill bytes between segments.
        position = data.find(b"\xff", position)
        while 0 <= position < len(data) - 1 and data[position + 1] == 0xFF:
            position += 1
        if position < 0 or position + 2 > len(data):
            raise ImageDecodeError("truncated JPEG (no image data)")
        marker = data[position + 1]
        if marker in _JPEG_NO_LENGTH:
            position += 2
            continue
        if marker == _JPEG_EOI:
            raise ImageDecodeError("truncated JPEG (no image data)")
        if marker == _JPEG_SOS:
            if size is None:
                raise ImageDecodeError("corrupt JPEG (image data before the frame header)")
            return size, position
        if position + 4 > len(data):
            raise ImageDecodeError("truncated JPEG (no image data)")
        if marker in _JPEG_SOF and size is None:
            if position + 9 > len(data):
                raise ImageDecodeError("truncated JPEG frame header")
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            size = width, height
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")


def _png_size(data: bytes) -> tuple[int, int]:
    """The size in the IHDR chunk, which comes first: length, type, width, height, all big-endian.

    Raises:
        ImageDecodeError: there is no IHDR chunk where it belongs.
    """
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ImageDecodeError("corrupt PNG (no IHDR header)")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


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


def _gif_size(data: bytes) -> tuple[int, int]:
    """The logical screen size, little-endian after the signature: OpenCV decodes every GIF into
    a canvas of that size (and refuses a frame that does not fit in it), whatever the frames hold.

    Raises:
        ImageDecodeError: the data ends before the size does.
    """
    if len(data) < 10:
        raise ImageDecodeError("truncated GIF header")
    width, height = struct.unpack("<HH", data[6:10])
    return width, height


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
    (_JPEG_SIGNATURE, check_jpeg_structure),
    (b"BM", _bmp_size),
    (b"RIFF", _webp_size),
    (b"II*\x00", _tiff_size),
    (b"MM\x00*", _tiff_size),
    (b"II+\x00", _tiff_size),
    (b"MM\x00+", _tiff_size),
    (b"GIF87a", _gif_size),
    (b"GIF89a", _gif_size),
)
