"""``HttpToolsHeadTimeoutProtocol``: uvicorn's httptools protocol with the request-head timeout
of ``gogooku.serve.protocol`` (its module doc). Importing this module needs httptools.

A pipelined request whose head arrived while the previous response was being sent is already
complete when that response completes, so the timer is armed after a response only when no
such request is queued.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gogooku.serve.protocol import HeadTimer


class HttpToolsHeadTimeoutProtocol(HeadTimer, HttpToolsProtocol):
    """``HttpToolsProtocol`` closing a connection whose request head is late."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        queued = bool(self.pipeline)
        super().on_response_complete()
        if not queued and not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
