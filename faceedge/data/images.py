"""Decoding face chips into classifier input: one function for training, evaluation and every backend.

Training decodes through the same OpenCV code the runtime uses, so a resized chip is byte-for-byte the
same in both places and no resampling difference creeps in between training and serving.
"""

from __future__ import annotations

import cv2
import numpy as np

_SOS = b"\xff\xda"  # start of scan: the entropy-coded image data follows
_EOI = b"\xff\xd9"  # end of image


class ImageDecodeError(ValueError):
    """Bytes that are not a complete, decodable image; the message says what is wrong."""


def check_jpeg_structure(data: bytes) -> None:
    """Refuse bytes that cannot be a complete JPEG, without decoding the pixels.

    A truncated JPEG still decodes in OpenCV (libjpeg pads it with grey and only warns), so
    truncation is caught here: byte stuffing guarantees that ``FF D9`` never occurs inside
    entropy-coded data, hence a complete file has an end-of-image marker after its last scan.

    Raises:
        ImageDecodeError: the bytes are empty, lack the JPEG signature, or end before the image does.
    """
    if not data:
        raise ImageDecodeError("empty file")
    if not data.startswith(b"\xff\xd8"):
        raise ImageDecodeError("not a JPEG (no start-of-image marker)")
    last_scan = data.rfind(_SOS)
    if last_scan < 0:
        raise ImageDecodeError("truncated JPEG (no image data)")
    if data.find(_EOI, last_scan) < 0:
        raise ImageDecodeError("truncated JPEG (no end-of-image marker after the image data)")


def decode_bgr(data: bytes, reduced: bool = False) -> np.ndarray:
    """Decode encoded image bytes into an 8-bit, 3-channel BGR array.

    ``reduced`` decodes at 1/8 scale, which still reads every byte of the entropy-coded data and is
    the cheap way to prove that a file decodes.

    Raises:
        ImageDecodeError: OpenCV cannot decode the bytes.
    """
    flag = cv2.IMREAD_REDUCED_COLOR_8 if reduced else cv2.IMREAD_COLOR
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
    if image is None or image.size == 0:
        raise ImageDecodeError("OpenCV cannot decode it")
    return image


def chip_to_input(bgr: np.ndarray, size: int) -> np.ndarray:
    """Turn a face chip (BGR, any size) into the classifier's input: RGB uint8, ``size`` × ``size``.

    Downscaling uses area interpolation, which averages instead of aliasing; upscaling, rare for
    chips, uses bilinear.
    """
    height, width = bgr.shape[:2]
    if (height, width) != (size, size):
        shrink = height > size or width > size
        bgr = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def decode_chip(data: bytes, size: int) -> np.ndarray:
    """Decode a face chip and turn it into classifier input (see :func:`chip_to_input`).

    Raises:
        ImageDecodeError: the bytes do not decode.
    """
    return chip_to_input(decode_bgr(data), size)


def decode_chips(items: list[bytes], size: int, threads: int = 0) -> np.ndarray:
    """Decode many chips into one ``(n, size, size, 3)`` uint8 RGB array, in parallel threads.

    OpenCV releases the GIL while it decodes and resizes, so threads use every core.

    Raises:
        ImageDecodeError: one of the items does not decode.
    """
    from concurrent.futures import ThreadPoolExecutor

    out = np.empty((len(items), size, size, 3), dtype=np.uint8)

    def work(index: int) -> None:
        out[index] = decode_chip(items[index], size)

    workers = threads or min(8, cv2.getNumberOfCPUs())
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(work, range(len(items))))
    return out
