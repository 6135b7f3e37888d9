"""uvicorn's HTTP/1.1 protocols with a request-head timeout, the protocols ``gogooku serve``
runs: ``HeadTimeoutProtocol`` here (h11, pure Python) or, when httptools is installed (the
``serve`` extra), ``gogooku.serve.protocol_httptools.HttpToolsHeadTimeoutProtocol`` (httptools'
C parser: less CPU per request); ``protocol_path()`` names the one to use.

A connection whose request line and headers are not complete ``header_timeout_s``
(``ServeConfig``) after it opened, or after its previous response, is closed. uvicorn's own
keep-alive timeout runs only while a connection sends nothing between requests: a client that
sends part of a request and stops (slowloris) would otherwise hold its connection, and a file
descriptor, for as long as it likes. Request bodies are bounded by ``max_body_bytes`` instead.
"""

from __future__ import annotations

import asyncio
import functools
from importlib.util import find_spec

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from gogooku.serve.config import load_serve_config


@functools.cache
def header_timeout_s() -> float:
    """The configured timeout (read once per process: the config of ``GOGOOKU_SERVE_CONFIG``)."""
    return load_serve_config().header_timeout_s


def protocol_path() -> str:
    """uvicorn's ``http`` argument for ``gogooku serve``: httptools' protocol when installed."""
    if find_spec("httptools") is not None:
        return "gogooku.serve.protocol_httptools:HttpToolsHeadTimeoutProtocol"
    return "gogooku.serve.protocol:HeadTimeoutProtocol"


class HeadTimer:
    """The timer of a protocol (mixin): armed when a head is awaited, disarmed when it is
    complete; at expiry it closes the transport."""

    _head_timer: asyncio.TimerHandle | None = None
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(header_timeout_s(), self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


class HeadTimeoutProtocol(HeadTimer, H11Protocol):
    """``H11Protocol`` closing a connection whose request head is late (see module doc)."""

    def _head_timeout(self) -> None:
        if self.conn.their_state is h11.IDLE:
            super()._head_timeout()

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
