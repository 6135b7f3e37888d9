"""The body limit: 413 for bodies over ``max_body_bytes``, declared or streamed (chunked)."""

from __future__ import annotations

import httpx
import pytest

from gogooku.httpserver import background_server
from gogooku.serve.app import create_app
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
