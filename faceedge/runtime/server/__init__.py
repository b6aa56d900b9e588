"""`faceedge serve`: the runtime as an HTTP API and an upload page (the ``serve`` extra)."""

from __future__ import annotations

from faceedge.runtime.server.app import ServeOptions, create_app
from faceedge.runtime.server.serve import serve

__all__ = ["ServeOptions", "create_app", "serve"]
