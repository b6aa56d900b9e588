"""Start the server: check the address against the key, load the pipeline, hand the app to uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import socket

from faceedge.errors import ServeError, require
from faceedge.runtime.server.options import ServeOptions

log = logging.getLogger(__name__)

API_KEY_ENV = "FACEEDGE_API_KEY"
KEEP_ALIVE_S = 5  # uvicorn's default: how long a connection may idle after an answer


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
        uvicorn.run(app, host=host, port=port, **uvicorn_settings(options))
    finally:
        app.state.analyzer.close()


def uvicorn_settings(options: ServeOptions) -> dict:
    """uvicorn's settings (``uvicorn.Config``'s keywords but the app and address): the ones
    `faceedge serve` runs with, and the tests too.

    No ``limit_concurrency``: uvicorn counts open connections against it, idle ones included, so a
    few dozen clients that connect and send nothing made every route answer 503. /v1/analyze admits
    ``queue_limit`` requests at once by itself; every other route is cheap. Idle connections are
    closed instead: after ``header_timeout`` seconds without a request's headers (the protocol
    below; uvicorn has no such setting) and ``timeout_keep_alive`` seconds after an answer.
    """
    from faceedge.runtime.server.protocol import with_header_timeout

    return {
        "log_level": "warning",
        "server_header": False,
        "http": with_header_timeout(options.header_timeout),
        "timeout_keep_alive": KEEP_ALIVE_S,
    }
