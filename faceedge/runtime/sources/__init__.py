"""Where frames come from: image files, a video file, a camera, an RTSP stream, or the shipped demo clip.

Every source is iterated the same way and yields :class:`Frame` objects holding BGR uint8 images.
File sources (images, video, demo; :mod:`.files`) deliver every frame, in order; their
:func:`prefetched` reads them ahead in a thread, nothing dropped. Live sources
(camera, RTSP; :mod:`.live`) read in their own daemon thread into a one-slot buffer: the consumer
always gets the newest frame, and a pipeline slower than the camera skips frames instead of falling
further and further behind. Both threads are one :class:`ThreadedReader` (:mod:`.base`).

Say which source with a :class:`SourceSpec` and open it with :func:`open_source` (:mod:`.spec`);
close it, or use it as a context manager, to stop its thread and release its capture.
"""

from __future__ import annotations

from faceedge.runtime.sources.base import (
    Frame,
    FrameSource,
    SourceStats,
    ThreadedReader,
    TimedFrame,
    TimedFrames,
    prefetched,
)
from faceedge.runtime.sources.files import DEMO_CLIP, IMAGE_EXTENSIONS, ImageSource, VideoSource
from faceedge.runtime.sources.live import (
    RTSP_RETRY_FOR_S,
    RTSP_TIMEOUT_S,
    CameraSource,
    CaptureFactory,
    LiveSource,
    RtspSource,
)
from faceedge.runtime.sources.spec import SOURCE_KINDS, SourceChoiceError, SourceSpec, open_source

__all__ = [
    "DEMO_CLIP",
    "IMAGE_EXTENSIONS",
    "RTSP_RETRY_FOR_S",
    "RTSP_TIMEOUT_S",
    "SOURCE_KINDS",
    "CameraSource",
    "CaptureFactory",
    "Frame",
    "FrameSource",
    "ImageSource",
    "LiveSource",
    "RtspSource",
    "SourceChoiceError",
    "SourceSpec",
    "SourceStats",
    "ThreadedReader",
    "TimedFrame",
    "TimedFrames",
    "VideoSource",
    "open_source",
    "prefetched",
]
