"""Start the server: check the address against the key, load the pipeline, hand the app to uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import socket

from faceedge.errors import ServeError, require
from faceedge.runtime.server.options import ServeOptions

log = logging.getLogger(__name__)

API_KEY_ENV = "FACEEDGE_API_KEY"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost
        return False


def check_address(host: str, port: int, api_key: str | None, allow_anonymous: bool) -> None:
    """Refuse an open address without a key, and a port that is already taken.

    Raises:
        ServeError: and says how to proceed.
    """
    if api_key is None and not allow_anonymous and not is_loopback(host):
        raise ServeError(
            f"refusing to serve on {host} without an API key: anyone on the network could use it. "
            f"Set `api_key` or {API_KEY_ENV}, or pass `allow_anonymous`"
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a restart may bind
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve(
    options: ServeOptions, host: str = "127.0.0.1", port: int = 8000, allow_anonymous: bool = False
) -> None:
    """Serve until interrupted.

    Raises:
        ServeError: an open address without a key, or a port in use.
        MissingExtraError: the ``serve`` extra is not installed.
        ModelError, BackendError: the models do not load or the backend cannot run here.
    """
    uvicorn = require("uvicorn", "serve")
    from faceedge.runtime.server.app import create_app

    check_address(host, port, options.api_key, allow_anonymous)
    app = create_app(options)
    for role, backend in app.state.analyzer.pipeline.backends.items():
        log.info("%s: %s", role, backend)
    log.info("serving on http://%s:%d (the upload page at /, the API schema at /openapi.json)", host, port)
    try:
        # Connections beyond what the app admits get uvicorn's own 503 before anything is read.
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            server_header=False,
            limit_concurrency=4 * options.queue_limit,
        )
    finally:
        app.state.analyzer.close()
