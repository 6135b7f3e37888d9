"""The body limit: 413 for bodies over ``max_body_bytes``, declared or streamed (chunked)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.httpserver import background_server
from gogooku.serve.app import BodyLimitMiddleware, create_app
from gogooku.serve.auth import add_key
from gogooku.serve.config import ServeConfig


def _chunks(total: int, size: int = 700):
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


@pytest.fixture
def limited_url(tmp_path):
    keys = tmp_path / "keys.json"
    key = add_key(keys, "alice")
    cfg = ServeConfig(api_keys_file=keys, max_data_age_s=0, max_body_bytes=2000)
    with background_server(create_app(cfg)) as url:
        yield url, key


def test_chunked_and_declared_bodies_over_the_limit_get_413(limited_url):
    url, key = limited_url
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as client:
        for body in (b"x" * 5000, _chunks(5000)):
            answer = client.post("/v1/predict", content=body)
            assert answer.status_code == 413, answer.text
            assert answer.json() == {"detail": "request body larger than 2000 bytes"}
            assert answer.headers["x-content-type-options"] == "nosniff"
        chunked = client.build_request("POST", "/v1/predict", content=_chunks(5000))
        assert chunked.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in chunked.headers
        # under the limit, chunked: the body reaches the route (422: not a predict request)
        small = client.post("/v1/predict", content=_chunks(1500))
        assert small.status_code == 422
        assert client.get("/healthz").status_code == 200


def _exchange(limit: int, chunks: list[bytes], declare: bool) -> tuple[list[dict], bytes | None]:
    """Send ``chunks`` through ``BodyLimitMiddleware(limit)`` to an app that reads the whole
    body and answers 200, or 400 when reading fails or sees a disconnect (as FastAPI's body
    parser does); returns the messages sent to the client and the body the app read (None: it
    answered 400)."""
    read: list[bytes | None] = []

    async def app(scope, receive, send):
        body = b""
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ConnectionError("client disconnected")
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
        except Exception:
            read.append(None)
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"error parsing the body"})
            return
        read.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    size = sum(map(len, chunks))
    headers = [(b"content-length", str(size).encode())] if declare else []
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    asyncio.run(BodyLimitMiddleware(app, limit)(scope, receive, send))
    return sent, (read[0] if read else None)


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(1, 64),
    chunks=st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=6),
    declare=st.booleans(),
)
def test_a_body_gets_exactly_one_answer_413_iff_it_is_over_the_limit(limit, chunks, declare):
    sent, read = _exchange(limit, chunks, declare)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1  # the app's late 400 never reaches the client
    body = b"".join(chunks)
    if len(body) > limit:
        assert starts[0]["status"] == 413
        assert (
            sent[-1]["body"] == f'{{"detail": "request body larger than {limit} bytes"}}'.encode()
        )
    else:
        assert starts[0]["status"] == 200 and read == body
