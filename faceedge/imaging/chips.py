"""Face chips into classifier input: one function for training, evaluation and every backend.

Training decodes through the same OpenCV code the runtime uses, so a resized chip is byte-for-byte
the same in both places and no resampling difference creeps in between training and serving.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceedge.imaging.decode import decode_bgr


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
