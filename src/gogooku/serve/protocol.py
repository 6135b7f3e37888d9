"""uvicorn's HTTP/1.1 (h11) protocol with a request-head timeout, the protocol ``gogooku serve``
runs.

A connection whose request line and headers are not complete ``header_timeout_s``
(``ServeConfig``) after it opened, or after its previous response, is closed. uvicorn's own
keep-alive timeout runs only while a connection sends nothing between requests: a client that
sends part of a request and stops (slowloris) would otherwise hold its connection, and a file
descriptor, for as long as it likes. Request bodies are bounded by ``max_body_bytes`` instead.
"""

from __future__ import annotations

import asyncio
import functools

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from gogooku.serve.config import load_serve_config


@functools.cache
def header_timeout_s() -> float:
    """The configured timeout (read once per process: the config of ``GOGOOKU_SERVE_CONFIG``)."""
    return load_serve_config().header_timeout_s


class HeadTimeoutProtocol(H11Protocol):
    """``H11Protocol`` closing a connection whose request head is late (see module doc)."""

    _head_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(header_timeout_s(), self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the head is complete
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
