"""faceedge: face gender recognition from Keras training to a lean edge runtime."""

from __future__ import annotations

__version__ = "0.1.0"
