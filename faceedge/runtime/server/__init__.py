"""`faceedge serve`: the runtime as an HTTP API and an upload page (the ``serve`` extra).

:class:`ServeOptions` needs nothing more than the runtime; ``create_app`` and ``serve`` need FastAPI
and uvicorn, and are imported when first used.
"""

from __future__ import annotations

from faceedge.runtime.server.options import ServeOptions

__all__ = ["ServeOptions", "create_app", "serve"]


def __getattr__(name: str):
    if name == "create_app":
        from faceedge.runtime.server.app import create_app

        return create_app
    if name == "serve":
        from faceedge.runtime.server.start import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
