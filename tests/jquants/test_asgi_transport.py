"""``ASGISyncTransport``: the synchronous client running an ASGI app in-process."""

from __future__ import annotations

import threading

import httpx
import pytest

from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.errors import AuthError
from gogooku.jquants.transport import ASGISyncTransport

API_KEY = "test-key"
ROWS = [{"Date": "2024-01-04", "Code": f"{1300 + i}0", "C": float(i)} for i in range(5)]


def in_process(app, clock, **kwargs) -> JQuantsClient:
    return JQuantsClient(
        kwargs.pop("api_key", API_KEY),
        base_url="http://synthetic.local/v2",
        transport=ASGISyncTransport(app.asgi()),
        clock=clock,
        sleep=clock.sleep,
        pacing=False,
        **kwargs,
    )


def test_pages_and_headers_in_process_without_compression(v2app, clock):
    v2app.tables["/items"] = ROWS
    v2app.page_size = 2
    with in_process(v2app, clock) as client:
        pages = list(client.iter_pages("/items", {"date": "2024-01-04"}))
        assert client.requests_made == 3
    assert [p.data for p in pages] == [ROWS[0:2], ROWS[2:4], ROWS[4:5]]
    assert v2app.seen[1].query == {"date": "2024-01-04", "pagination_key": pages[0].pagination_key}
    assert v2app.seen[0].headers["x-api-key"] == API_KEY
    assert "accept-encoding" not in v2app.seen[0].headers


def test_with_compress_the_gzip_body_is_passed_through_and_decoded(v2app):
    v2app.tables["/items"] = ROWS
    v2app.page_size = 100
    transport = ASGISyncTransport(v2app.asgi(), compress=True)
    with httpx.Client(transport=transport, base_url="http://synthetic.local") as http:
        response = http.get("/v2/items", headers={"x-api-key": API_KEY, "accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.json() == {"data": ROWS}


def test_auth_errors_come_through(v2app, clock):
    with (
        in_process(v2app, clock, api_key="wrong") as client,
        pytest.raises(AuthError, match="invalid or expired"),
    ):
        client.get_records("/items")


def test_app_failure_mid_response_is_a_dropped_connection_and_retried(v2app, clock):
    v2app.tables["/items"] = ROWS[:1]
    v2app.queue("/items", "drop")
    with in_process(v2app, clock) as client:
        assert client.get_records("/items") == ROWS[:1]
    assert len(v2app.requests_to("/items")) == 2
    assert len(clock.sleeps) == 1

    transport = ASGISyncTransport(v2app.asgi())
    v2app.queue("/items", "drop")
    with pytest.raises(httpx.RemoteProtocolError, match="dropped on purpose"):
        transport.handle_request(
            httpx.Request("GET", "http://synthetic.local/v2/items", headers={"x-api-key": API_KEY})
        )
    transport.close()


def test_slow_app_times_out_by_the_client_timeout_and_is_retried(v2app, clock):
    v2app.tables["/items"] = ROWS[:1]
    v2app.queue("/items", ("slow", 5.0))
    with in_process(v2app, clock, timeout=0.1) as client:
        assert client.get_records("/items") == ROWS[:1]
    assert len(v2app.requests_to("/items")) == 2
    assert len(clock.sleeps) == 1


def test_threads_share_one_in_process_client(v2app, clock):
    v2app.tables["/items"] = ROWS
    v2app.page_size = 2
    results: list[list[dict]] = []
    lock = threading.Lock()
    with in_process(v2app, clock) as client:

        def work() -> None:
            for _ in range(3):
                records = client.get_records("/items")
                with lock:
                    results.append(records)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert client.requests_made == 4 * 3 * 3
    assert results == [ROWS] * 12
