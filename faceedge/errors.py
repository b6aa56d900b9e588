"""The errors a user can cause. The CLI turns each into one line on stderr and a non-zero exit."""

from __future__ import annotations


class FaceedgeError(Exception):
    """Base class of every error a user can cause and fix; never raised for a bug in faceedge itself."""

    exit_code = 1


class DatasetError(FaceedgeError):
    """The dataset path is missing, unreadable, or holds no usable UTKFace image."""

    exit_code = 2


class SplitError(FaceedgeError):
    """A split file is malformed or does not match the dataset it is used with."""

    exit_code = 2


class ImageDecodeError(FaceedgeError, ValueError):
    """Bytes or an array that are not a complete, decodable image; the message says what is wrong.

    Also a ValueError, as it was before it joined this hierarchy, so that callers catching
    ValueError still catch it.
    """

    exit_code = 13


class ImageTooLargeError(ImageDecodeError):
    """An image with more pixels than allowed, refused before its pixels were decoded where its
    header said how many there are."""


class UnreadHeaderError(ImageDecodeError):
    """Bytes in a format whose header faceedge does not read, refused where only images whose size
    is known before decoding are accepted."""


class ModelError(FaceedgeError):
    """A model file is missing, of an unknown kind, or does not load."""

    exit_code = 3


class RunDirectoryError(FaceedgeError):
    """A training run directory exists where a new one is requested, or is incomplete when resumed."""

    exit_code = 4


class MissingExtraError(FaceedgeError):
    """An optional dependency is not installed; the message names the extra that brings it."""

    exit_code = 5


def require(module: str, extra: str):
    """Import ``module`` or raise :class:`MissingExtraError` telling which faceedge extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module} is not installed; install it with: pip install 'faceedge[{extra}]'"
        ) from exc


class ExportGateError(FaceedgeError):
    """An exported artifact is less accurate than its source allows; nothing was written."""

    exit_code = 6


class GpuError(FaceedgeError):
    """No usable CUDA GPU, or a CUDA call failed (the message names the CUDA error)."""

    exit_code = 8


class SourceError(FaceedgeError):
    """A frame source cannot be read: no such camera, file or folder, or a stream that stays down."""

    exit_code = 9


class BackendError(FaceedgeError):
    """An inference backend that was asked for cannot run here (the message says why and what can)."""

    exit_code = 10


class OutputError(FaceedgeError):
    """A result cannot be written: a JSON or video file that cannot be created, or no window."""

    exit_code = 11


class ServeError(FaceedgeError):
    """The HTTP server cannot start as asked: an address in use, or an open address without a key."""

    exit_code = 12


class EngineBuildError(FaceedgeError):
    """TensorRT could not parse the ONNX or build an engine from it."""

    exit_code = 7


class LoadError(FaceedgeError):
    """The load test cannot run: a server that is not on loopback, or one that does not answer."""


class ServerBusy(FaceedgeError):
    """The server cannot take an image now: too many images, or too many pixels, are already
    waiting for the pipeline, or it stopped. Answered with 503 and Retry-After, never at the CLI."""
