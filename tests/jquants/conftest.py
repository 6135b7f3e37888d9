"""A minimal V2-speaking ASGI app (Starlette) and a fake clock for the client tests, and the
hand-written V2 responses of the endpoint-catalogue tests (``fixtures/``)."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gogooku.httpserver import background_server

from ..support.clock import FakeClock

API_KEY = "test-key"  # the key the test app accepts; tests repeat it literally
FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class V2App:
    """Serves ``tables[path]`` (a list of records) under ``/v2<path>`` in pages of ``page_size``.

    ``script[path]`` is a queue of scripted answers consumed one per request before normal
    service: ``(status, body)`` or ``(status, body, headers)`` tuples (a dict body is sent as JSON, a str
    as text/plain),
    ``("slow", seconds)`` (normal service after a delay) or ``"drop"``. Every request is recorded in ``seen``.
    """

    tables: dict[str, list[dict]] = field(default_factory=dict)
    page_size: int = 2
    script: dict[str, deque] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def queue(self, path: str, *answers) -> None:
        self.script.setdefault(path, deque()).extend(answers)

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    async def handle(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        query = dict(request.query_params)
        self.seen.append(Seen(path, query, {k.lower(): v for k, v in request.headers.items()}))
        if request.headers.get("x-api-key") != API_KEY:
            return _json(403, {"message": "The incoming api key is invalid or expired."})
        answers = self.script.get(path)
        if answers:
            answer = answers.popleft()
            if answer[0] == "slow":
                await asyncio.sleep(answer[1])
                return self._page(path, query)
            status, body, *headers = answer
            if isinstance(body, dict):
                response = _json(status, body)
            else:
                response = Response(body, status_code=status, media_type="text/plain")
            response.headers.update(headers[0] if headers else {})
            return response
        if path not in self.tables:
            return _json(403, {"message": f"no such endpoint {path}"})
        return self._page(path, query)

    def _page(self, path: str, query: dict[str, str]) -> Response:
        query = dict(query)
        key = query.pop("pagination_key", None)
        fingerprint = json.dumps(query, sort_keys=True)
        offset = 0
        if key is not None:
            offset_text, _, key_query = key.partition(".")
            if key_query != str(abs(hash(fingerprint))):
                return _json(400, {"message": "pagination_key does not belong to this query"})
            offset = int(offset_text)
        rows = self.tables[path]
        page = rows[offset : offset + self.page_size]
        body: dict = {"data": page}
        if offset + self.page_size < len(rows):
            body["pagination_key"] = f"{offset + self.page_size}.{abs(hash(fingerprint))}"
        return _json(200, body)

    def asgi(self):
        app = Starlette(
            routes=[Route("/v2/{path:path}", self.handle)],
            middleware=[Middleware(GZipMiddleware, minimum_size=50)],
        )

        async def outer(scope, receive, send) -> None:
            # Outside Starlette's error middleware, so nothing turns the failure into a 500.
            path = scope.get("path", "").removeprefix("/v2")
            answers = self.script.get(path)
            if scope["type"] == "http" and answers and answers[0] == "drop":
                answers.popleft()
                self.seen.append(Seen(path, dict(parse_qsl(scope["query_string"].decode())), {}))
                headers = [(b"content-length", b"1000"), (b"content-type", b"application/json")]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": b'{"data": [', "more_body": True})
                raise RuntimeError("connection dropped on purpose by the test app")
            await app(scope, receive, send)

        return outer


def _json(status: int, body: dict) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


@pytest.fixture
def v2app() -> V2App:
    return V2App()


@pytest.fixture
def served(v2app):
    """``(app, base_url)`` with the app served for real on 127.0.0.1."""
    with background_server(v2app.asgi()) as url:
        yield v2app, f"{url}/v2"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def load_fixture(endpoint_id: str) -> list[dict]:
    """The ``data`` records of the hand-written V2 response for ``endpoint_id``."""
    return json.loads((FIXTURES / f"{endpoint_id}.json").read_text(encoding="utf-8"))["data"]


@pytest.fixture
def fixture_records():
    return load_fixture
