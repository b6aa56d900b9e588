"""What `faceedge serve` runs and accepts (no web framework needed to read it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from faceedge.errors import ServeError
from faceedge.runtime.config import PipelineConfig

KiB = 1 << 10
MiB = 1 << 20


@dataclass(frozen=True)
class ServeOptions:
    """What the server runs and what it accepts. ``pipeline`` says how images are analysed; the
    server never tracks (each request is one image), whatever its ``track`` says. ``api_key`` None:
    no key is asked for.

    Slow clients are cut off: a connection whose request headers are not all in ``header_timeout``
    seconds after it opened (or after its previous answer) is closed; an upload must arrive at
    ``min_body_rate`` bytes per second on average once ``body_timeout`` seconds have passed, or it
    is refused (408) and its slot freed.
    """

    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    max_upload_bytes: int = 8 * MiB
    max_pixels: int = 25_000_000
    max_batch: int = 16
    queue_limit: int = 32
    api_key: str | None = None
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    min_body_rate: int = 64 * KiB

    def __post_init__(self) -> None:
        """Raises:
        ServeError: a timeout or the minimum rate is not above 0 (it would refuse every upload)."""
        for name in ("header_timeout", "body_timeout", "min_body_rate"):
            if not getattr(self, name) > 0:
                raise ServeError(f"`{name}` must be above 0, not {getattr(self, name)!r}")
