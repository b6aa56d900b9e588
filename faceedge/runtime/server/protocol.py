"""uvicorn's HTTP/1.1 protocol (h11) with a header timeout.

uvicorn times a connection out only between requests (``timeout_keep_alive``, armed when an answer
is complete): a connection that opens and never sends a request, or sends its headers a byte at a
time, is kept for ever. Such connections cost a file descriptor each and, under uvicorn's
``limit_concurrency``, made every route answer 503. This protocol closes a connection whose next
request's headers have not all arrived ``header_timeout`` seconds after it opened or after its
previous answer; it is handed to uvicorn through its ``http=`` protocol class option.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderTimeoutH11Protocol(H11Protocol):
    """:class:`H11Protocol` that closes a connection whose request headers are late.

    Subclass it with :func:`with_header_timeout`; ``header_timeout`` is in seconds.
    """

    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        # A new request replaces self.cycle: the timer closes the connection only if it has not.
        self._stop_waiting()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late, self.cycle)

    def _stop_waiting(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self, cycle: object) -> None:
        self._header_timer = None
        in_progress = self.cycle is not None and not self.cycle.response_complete
        if self.cycle is not cycle or in_progress or self.transport.is_closing():
            return  # a request arrived in time (a pipelined one may still be answered)
        with suppress(h11.LocalProtocolError):  # the client sent part of a request: closed all the same
            self.conn.send(h11.ConnectionClosed())
        self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderTimeoutH11Protocol]:
    """The protocol class to give uvicorn (``http=``) for a header timeout of ``seconds``."""
    return type("HeaderTimeoutH11Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout": seconds})
