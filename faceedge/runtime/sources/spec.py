"""Which source to read: a :class:`SourceSpec`, checked once when it is made, and
:func:`open_source`, which opens it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from faceedge.errors import SourceError
from faceedge.runtime.sources.base import FrameSource
from faceedge.runtime.sources.files import DEMO_CLIP, ImageSource, VideoSource, image_files, open_demo
from faceedge.runtime.sources.live import RTSP_RETRY_FOR_S, RTSP_TIMEOUT_S, CameraSource, RtspSource

SOURCE_KINDS = ("camera", "video", "image", "rtsp", "demo")
_LOOPED = ("video", "demo")


class SourceChoiceError(SourceError):
    """Not exactly one source was given; ``given`` holds the kinds that were (none, or several)."""

    def __init__(self, given: tuple[str, ...]) -> None:
        got = f"; got {' and '.join(given)}" if given else ""
        super().__init__(f"give exactly one source: camera, video, image, rtsp or demo{got}")
        self.given = given


@dataclass(frozen=True)
class SourceSpec:
    """Which source to read, checked when made: its ``kind``, its ``target``, and how often to play it.

    ``target`` is the camera index for ``"camera"``, the file for ``"video"``, a file, folder or glob
    pattern for ``"image"`` (see :class:`ImageSource`), the URL for ``"rtsp"``, and None for
    ``"demo"`` (the clip that ships with faceedge). ``loop`` plays a video or the demo clip that many
    times. A stream's tries to open, and its waits for a frame, end after ``rtsp_timeout_s``; it is
    given up once it has been down for ``rtsp_retry_for_s`` (see :class:`RtspSource`).

    Raises:
        SourceError: an unknown kind, a target that does not fit the kind, ``loop`` below 1 or given
            to a source that cannot loop, a timeout that is not positive or a negative retry time.
    """

    kind: str
    target: int | str | None = None
    loop: int = 1
    rtsp_timeout_s: float = RTSP_TIMEOUT_S
    rtsp_retry_for_s: float = RTSP_RETRY_FOR_S

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise SourceError(f"no source kind {self.kind!r}; the kinds are {', '.join(SOURCE_KINDS)}")
        if isinstance(self.target, Path):
            object.__setattr__(self, "target", str(self.target))
        self._check_target()
        if self.loop < 1:
            raise SourceError(f"loop must be at least 1, not {self.loop}")
        if self.loop != 1 and self.kind not in _LOOPED:
            raise SourceError(f"loop plays a video or the demo clip again; a {self.kind} source cannot loop")
        if not self.rtsp_timeout_s > 0 or not self.rtsp_retry_for_s >= 0:  # NaN fails both
            raise SourceError(
                "a stream's timeout must be above 0 s and its retry time at least 0 s, not "
                f"{self.rtsp_timeout_s} and {self.rtsp_retry_for_s}"
            )

    def _check_target(self) -> None:
        """Raise :class:`SourceError` unless ``target`` is what ``kind`` reads."""
        target = self.target
        if self.kind == "demo":
            if target is not None:
                raise SourceError(f"the demo source reads the shipped clip, not {target!r}")
        elif self.kind == "camera":
            if isinstance(target, bool) or not isinstance(target, int) or target < 0:
                raise SourceError(f"a camera is a number from 0, not {target!r}")
        elif not isinstance(target, str):
            raise SourceError(f"the {self.kind} source needs a path or URL as text, not {target!r}")
        elif target == "":
            raise SourceError(f"the {self.kind} source is an empty string")

    def files(self) -> list[Path]:
        """The files this source reads (none for a camera or a stream), as an output must not be
        one of them: the video, the demo clip, or every image a folder or pattern holds.

        Raises:
            SourceError: an image source names no file, folder or pattern with an image in it.
        """
        if self.kind == "image":
            return image_files(self.target)
        if self.kind == "video":
            return [Path(self.target)]
        return [DEMO_CLIP] if self.kind == "demo" else []

    @classmethod
    def choose(
        cls,
        *,
        camera: int | None = None,
        video: str | Path | None = None,
        image: str | Path | None = None,
        rtsp: str | None = None,
        demo: bool = False,
        loop: int = 1,
        rtsp_timeout_s: float = RTSP_TIMEOUT_S,
        rtsp_retry_for_s: float = RTSP_RETRY_FOR_S,
    ) -> SourceSpec:
        """The spec of the one source given, as a command line gives them (None: not given).

        Raises:
            SourceChoiceError: not exactly one source is given.
            SourceError: the one given does not make a valid spec (see :class:`SourceSpec`).
        """
        given = {"camera": camera, "video": video, "image": image, "rtsp": rtsp, "demo": demo or None}
        chosen = tuple(kind for kind, value in given.items() if value is not None)
        if len(chosen) != 1:
            raise SourceChoiceError(chosen)
        (kind,) = chosen
        target = None if kind == "demo" else given[kind]
        return cls(kind, target, loop, rtsp_timeout_s, rtsp_retry_for_s)


_OPENERS: dict[str, Callable[[SourceSpec], FrameSource]] = {
    "camera": lambda spec: CameraSource(spec.target),
    "video": lambda spec: VideoSource(spec.target, loop=spec.loop),
    "image": lambda spec: ImageSource(spec.target),
    "rtsp": lambda spec: RtspSource(
        spec.target, timeout_s=spec.rtsp_timeout_s, retry_for_s=spec.rtsp_retry_for_s
    ),
    "demo": lambda spec: open_demo(spec.loop),
}


def open_source(spec: SourceSpec) -> FrameSource:
    """Open the source ``spec`` names, ready to iterate.

    Raises:
        SourceError: the source cannot be opened (no such file, a camera or stream that does not
            open, a clip without frames...).
    """
    return _OPENERS[spec.kind](spec)
