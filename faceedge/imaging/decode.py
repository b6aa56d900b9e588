"""Image bytes and arrays into the one image type faceedge works on: BGR uint8, ``H x W x 3``.

The promise, for :func:`decode_image` and :func:`to_bgr8` alike: the result is a C-contiguous BGR
uint8 array, or the call raises :class:`~faceedge.errors.ImageDecodeError` with a message that
says what is wrong; never another exception, never ``None``, never a half-decoded image. Grey,
alpha, 16-bit and float images are normalised, and JPEG orientation metadata is applied.

:func:`decode_image` is for images from outside. The size a PNG, JPEG, BMP, WebP, TIFF or GIF file
announces in its header is checked against ``max_pixels`` before anything is decoded (see
:mod:`faceedge.imaging.probe`): an HTTP server hands this module untrusted uploads, where a few
kilobytes announcing a 100 000 x 100 000 image would otherwise make OpenCV allocate tens of
gigabytes. :func:`decode_bgr` decodes the dataset's own chips, as training always has.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceedge.errors import ImageDecodeError, ImageTooLargeError, UnreadHeaderError
from faceedge.imaging.probe import announced_size

MAX_PIXELS = 100_000_000

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

    PNG, JPEG, BMP, WebP, TIFF and GIF files are refused before decoding when their header announces
    more than ``max_pixels`` pixels; other formats are checked once decoded (OpenCV itself refuses
    more than 2**30 pixels), or with ``sized_formats_only`` refused outright, so that no upload can
    make OpenCV allocate for a size nobody checked. A truncated JPEG is refused (libjpeg would
    decode it into grey padding). JPEG orientation metadata is applied.

    Raises:
        ImageDecodeError: and nothing else, for empty bytes, bytes in no format OpenCV reads, a
            corrupt or truncated image, or (as its subclass ImageTooLargeError) one with more than
            ``max_pixels`` pixels, or (as UnreadHeaderError) with ``sized_formats_only``, bytes
            that are not a PNG, JPEG, BMP, WebP, TIFF or GIF file whose header states its size.
    """
    if not data:
        raise ImageDecodeError("empty file")
    announced = announced_size(data)
    if announced is not None:
        _check_pixels(*announced, max_pixels)
    elif sized_formats_only:
        raise UnreadHeaderError("not a PNG, JPEG, BMP, WebP, TIFF or GIF file whose header states its size")
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


def decode_bgr(data: bytes, reduced: bool = False) -> np.ndarray:
    """Decode a dataset's image bytes into an 8-bit, 3-channel BGR array, as training always has.

    ``reduced`` decodes at 1/8 scale, which still reads every byte of the entropy-coded data and is
    the cheap way to prove that a file decodes. Sizes are not checked: use :func:`decode_image`
    for images from outside.

    Raises:
        ImageDecodeError: OpenCV cannot decode the bytes.
    """
    flag = cv2.IMREAD_REDUCED_COLOR_8 if reduced else cv2.IMREAD_COLOR
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
    if image is None or image.size == 0:
        raise ImageDecodeError("OpenCV cannot decode it")
    return image
