"""Images for every stage: encoded bytes and arrays into BGR uint8, face chips into classifier input.

The data, train, evaluate, export and runtime stages all import this one package (numpy and
OpenCV only), so a chip is decoded and resized by the same code in training and in serving, and
the runtime needs no other stage to read an image.

- :mod:`faceedge.imaging.decode`: bytes or arrays into BGR uint8. :func:`decode_image` takes
  images from outside (an upload, a file on the command line) and never decodes more pixels than
  allowed; :func:`decode_bgr` decodes the dataset's own chips.
- :mod:`faceedge.imaging.probe`: the size an image's header announces, read without decoding,
  and the JPEG structure check that refuses truncated files.
- :mod:`faceedge.imaging.chips`: face chips into the classifier's input size and colour order.

Its errors (:class:`~faceedge.errors.ImageDecodeError` and its subclasses) live with every other
user error in :mod:`faceedge.errors`.
"""

from __future__ import annotations

from faceedge.imaging.chips import chip_to_input, decode_chip, decode_chips
from faceedge.imaging.decode import MAX_PIXELS, decode_bgr, decode_image, to_bgr8
from faceedge.imaging.probe import announced_size, check_jpeg_structure

__all__ = [
    "MAX_PIXELS",
    "announced_size",
    "check_jpeg_structure",
    "chip_to_input",
    "decode_bgr",
    "decode_chip",
    "decode_chips",
    "decode_image",
    "to_bgr8",
]
