"""A real `faceedge serve` app on a free loopback port, in a thread, for tests that need sockets
(the browser, the load test and the server's limits), run with the settings `faceedge serve` uses."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager


@contextmanager
def running_server(options):
    import uvicorn

    from faceedge.runtime.server import create_app
    from faceedge.runtime.server.start import uvicorn_settings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = uvicorn_settings(options)
    server = uvicorn.Server(uvicorn.Config(create_app(options), host="127.0.0.1", port=port, **settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
