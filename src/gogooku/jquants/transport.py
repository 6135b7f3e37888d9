"""A synchronous httpx transport that runs an ASGI app in-process.

httpx 0.28 only offers ``httpx.ASGITransport`` for ``httpx.AsyncClient``. ``ASGISyncTransport``
lets the synchronous ``JQuantsClient`` talk to an ASGI app (the synthetic V2 service) without a
socket: an anyio blocking portal runs an event loop in one background thread, and each request is
handed to ``httpx.ASGITransport`` on that loop. There is no wire to save, so by default the
``Accept-Encoding`` header is dropped and the app answers uncompressed (gzip at Starlette's level 9
would cost more CPU than the JSON itself); with ``compress=True`` the header is kept and the raw,
still compressed body is returned for the client to decode exactly as over the network.

Failure modes mirror a real server: an app that raises before completing its response surfaces as
``httpx.RemoteProtocolError`` (a dropped connection), and a response slower than the client's read
timeout as ``httpx.ReadTimeout``.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager

import anyio
import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal


class ASGISyncTransport(httpx.BaseTransport):
    """Serve requests of a synchronous ``httpx.Client`` from an in-process ASGI ``app``."""

    def __init__(
        self,
        app,
        *,
        compress: bool = False,
        root_path: str = "",
        client: tuple[str, int] = ("127.0.0.1", 0),
    ) -> None:
        self._asgi = httpx.ASGITransport(app=app, root_path=root_path, client=client)
        self.compress = compress
        self._lock = threading.Lock()
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None

    def _portal_or_start(self) -> BlockingPortal:
        with self._lock:
            if self._portal is None:
                self._portal_cm = start_blocking_portal()
                self._portal = self._portal_cm.__enter__()
            return self._portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        headers = request.headers.copy()
        if not self.compress:
            headers.pop("accept-encoding", None)
        inner = httpx.Request(
            request.method,
            request.url,
            headers=headers,
            content=body,
            extensions=request.extensions,
        )
        timeout = request.extensions.get("timeout", {}).get("read")
        status, headers, raw = self._portal_or_start().call(self._call, inner, timeout)
        return httpx.Response(
            status, headers=headers, stream=httpx.ByteStream(raw), request=request
        )

    async def _call(
        self, request: httpx.Request, timeout: float | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        try:
            with anyio.fail_after(timeout):
                response = await self._asgi.handle_async_request(request)
                raw = b"".join([chunk async for chunk in response.aiter_raw()])
        except TimeoutError as exc:
            raise httpx.ReadTimeout(
                f"in-process ASGI app did not answer within {timeout} s", request=request
            ) from exc
        except Exception as exc:
            raise httpx.RemoteProtocolError(
                f"in-process ASGI app failed before completing its response: {exc!r}",
                request=request,
            ) from exc
        return response.status_code, response.headers.raw, raw

    def close(self) -> None:
        with self._lock:
            if self._portal_cm is not None:
                self._portal_cm.__exit__(None, None, None)
            self._portal_cm = None
            self._portal = None
