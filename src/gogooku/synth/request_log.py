"""An ASGI wrapper that logs every HTTP request to a synthetic V2 app (its access log).

Used wherever a request count matters: ``gogooku.store.synthetic.fetch_synthetic_market(log=)``,
``bench/bench_backfill.py`` (requests and body bytes by path) and the tests that count requests
through the real client or the official one. Each request is logged as ``Request(path, query,
api_key)`` with the path's ``/v2`` prefix removed; ``counts`` groups the signed bulk-file
downloads (``/bulk-files/<key>``) under one path, ``bytes`` sums the response bodies per such
path. ``state`` is the wrapped app's (``state.service``, ``state.bulk``, ``state.td``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

PREFIX = "/v2"
FILES = "/bulk-files/"


class Request(NamedTuple):
    path: str
    query: str
    api_key: str | None


def _grouped(path: str) -> str:
    return FILES if path.startswith(FILES) else path


class RequestLog:
    """ASGI wrapper around ``app`` (given now or later with ``wrap``) logging its requests."""

    def __init__(self, app: Any = None) -> None:
        self.app = app
        self.requests: list[Request] = []
        self.bytes: Counter[str] = Counter()

    def wrap(self, app: Any) -> RequestLog:
        self.app = app
        return self

    @property
    def state(self) -> Any:
        return self.app.state

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def counts(self) -> Counter[str]:
        """Requests per path, every signed file download counted as ``/bulk-files/``."""
        return Counter(_grouped(r.path) for r in self.requests)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = dict(scope["headers"]).get(b"x-api-key")
        path = scope["path"].removeprefix(PREFIX)
        query = scope["query_string"].decode()
        self.requests.append(Request(path, query, key.decode() if key is not None else None))
        group = _grouped(path)

        async def counted(message) -> None:
            if message["type"] == "http.response.body":
                self.bytes[group] += len(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, counted)
