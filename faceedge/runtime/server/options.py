"""What `faceedge serve` runs and accepts (no web framework needed to read it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faceedge.runtime.pipeline import MIN_FACE

MiB = 1 << 20


@dataclass(frozen=True)
class ServeOptions:
    """What the server runs and what it accepts. ``api_key`` None: no key is asked for."""

    model: str | Path | None = None
    backend: str = "auto"
    detector: str = "short"
    detector_model: str | Path | None = None
    min_score: float | None = None
    nms_iou: float | None = None
    min_face: int = MIN_FACE
    max_upload_bytes: int = 8 * MiB
    max_pixels: int = 25_000_000
    max_batch: int = 16
    queue_limit: int = 32
    api_key: str | None = None
    cache_dir: Path | None = None
