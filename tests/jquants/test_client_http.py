"""The client against a V2-like Starlette app served for real on 127.0.0.1."""

from __future__ import annotations

import random

import httpx
import pytest

from gogooku import __version__
from gogooku.httpserver import free_port
from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.errors import (
    AuthError,
    BadRequestError,
    BrokenBodyError,
    PlanError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from gogooku.jquants.retry import RetryPolicy
from gogooku.settings import Plan

ROWS = [{"Date": "2024-01-04", "Code": f"{1300 + i}0", "C": float(i)} for i in range(7)]


API_KEY = "test-key"


def make_client(base_url, clock, **kwargs) -> JQuantsClient:
    kwargs.setdefault("plan", Plan.PREMIUM)
    kwargs.setdefault("rng", random.Random(0))
    kwargs.setdefault("pacing", False)
    return JQuantsClient(API_KEY, base_url=base_url, clock=clock, sleep=clock.sleep, **kwargs)


def test_pagination_follows_keys_with_the_same_query(served, clock):
    app, url = served
    app.tables["/items"] = ROWS
    with make_client(url, clock) as client:
        pages = list(client.iter_pages("/items", {"date": "2024-01-04"}))
        records = client.get_records("/items", {"date": "2024-01-04"})
    assert [len(p.data) for p in pages] == [2, 2, 2, 1]
    assert pages[-1].pagination_key is None
    assert records == ROWS
    queries = [s.query for s in app.requests_to("/items")[:4]]
    assert queries[0] == {"date": "2024-01-04"}
    for query, page in zip(queries[1:], pages[:-1], strict=True):
        assert query == {"date": "2024-01-04", "pagination_key": page.pagination_key}
    assert client.requests_made == 8
    assert client.stats().requests_by_path == {"/items": 8}


def test_headers_auth_user_agent_and_gzip(served, clock):
    app, url = served
    app.tables["/items"] = ROWS
    app.page_size = 100
    with make_client(url, clock) as client:
        assert client.get_records("/items") == ROWS
    headers = app.seen[0].headers
    assert headers["x-api-key"] == API_KEY
    assert headers["accept-encoding"] == "gzip"
    assert headers["user-agent"] == f"gogooku/{__version__}"


def test_gzip_body_is_decoded(served, clock):
    app, url = served
    app.tables["/items"] = ROWS
    app.page_size = 100
    raw = httpx.get(f"{url}/items", headers={"x-api-key": API_KEY, "accept-encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    with make_client(url, clock) as client:
        assert client.get_records("/items") == ROWS


def test_429_backs_off_60_then_120_then_succeeds(served, clock):
    app, url = served
    app.tables["/items"] = ROWS[:1]
    limited = (429, {"message": "Rate limit exceeded"})
    app.queue("/items", limited, limited)
    with make_client(url, clock, plan=Plan.FREE, pacing=True) as client:
        assert client.get_records("/items") == ROWS[:1]
    assert clock.sleeps == [60.0, 120.0]
    assert len(app.requests_to("/items")) == 3


def test_429_pauses_every_path_not_only_the_one_limited(served, clock):
    app, url = served
    app.tables["/items"] = ROWS[:1]
    app.queue("/items", (429, {"message": "Rate limit exceeded"}))
    client = make_client(url, clock)
    delays_seen_by_other_paths = []

    def sleep(seconds: float) -> None:
        delays_seen_by_other_paths.append(client.pacing_delay("/other"))
        clock.sleep(seconds)

    client._sleep = sleep
    with client:
        client.get_records("/items")
    assert delays_seen_by_other_paths == [pytest.approx(60.0)]


def test_429_exhausted_raises_rate_limit_error(served, clock):
    app, url = served
    app.tables["/items"] = ROWS
    app.queue("/items", *[(429, {"message": "Rate limit exceeded"})] * 5)
    with make_client(url, clock) as client, pytest.raises(RateLimitError) as info:
        client.get_records("/items", {"code": "130A0"})
    assert clock.sleeps == [60.0, 120.0, 300.0, 300.0]
    message = str(info.value)
    assert "/items" in message and "130A0" in message and "429" in message
    assert "Rate limit exceeded" in message


def test_500_then_success_waits_exponentially(served, clock):
    app, url = served
    app.tables["/items"] = ROWS[:3]
    app.queue("/items", (500, {"message": "boom"}), (503, "upstream down"))
    policy = RetryPolicy(max_retries=3, backoff_base_s=2.0, jitter=0.0)
    with make_client(url, clock, retry=policy) as client:
        assert client.get_records("/items") == ROWS[:2] + ROWS[2:3]
    assert clock.sleeps == [2.0, 4.0]


def test_500_exhausted_raises_server_error_with_body(served, clock):
    app, url = served
    app.tables["/items"] = ROWS
    app.queue("/items", *[(502, "<html>bad gateway</html>")] * 4)
    with make_client(url, clock, max_retries=3) as client, pytest.raises(ServerError) as info:
        client.get_records("/items", {"date": "2024-01-04"})
    assert len(app.requests_to("/items")) == 4
    assert len(clock.sleeps) == 3
    message = str(info.value)
    assert "HTTP 502" in message and "<html>bad gateway</html>" in message
    assert "2024-01-04" in message and "/items" in message


def test_backoff_jitter_stays_within_bounds(served, clock):
    app, url = served
    app.tables["/items"] = ROWS[:1]
    app.queue("/items", *[(500, {"message": "boom"})] * 4)
    policy = RetryPolicy(max_retries=4, backoff_base_s=1.0, jitter=0.5)
    with make_client(url, clock, retry=policy) as client:
        client.get_records("/items")
    for k, wait in enumerate(clock.sleeps):
        assert 0.5 * 2**k <= wait <= 2**k


def test_400_is_not_retried(served, clock):
    app, url = served
    app.tables["/items"] = ROWS
    app.queue(
        "/items",
        (400, {"message": "This API requires at least 1 parameter as follows; date, code"}),
    )
    with make_client(url, clock) as client, pytest.raises(BadRequestError) as info:
        client.get_records("/items")
    assert len(app.requests_to("/items")) == 1
    assert clock.sleeps == []
    assert "at least 1 parameter" in str(info.value)


def test_403_bad_key_is_an_auth_error(served, clock):
    _, url = served
    with (
        JQuantsClient("wrong", base_url=url, clock=clock, sleep=clock.sleep) as client,
        pytest.raises(AuthError) as info,
    ):
        client.get_records("/items")
    message = str(info.value)
    assert "invalid or expired" in message and "JQUANTS_API_KEY" in message
    assert "HTTP 403" in message


def test_403_otherwise_explains_the_plan(served, clock):
    app, url = served
    app.queue("/indices/bars/daily", (403, {"message": "Forbidden"}))
    with make_client(url, clock, plan=Plan.LIGHT) as client, pytest.raises(PlanError) as info:
        client.get_records("/indices/bars/daily", {"date": "2024-01-04"})
    message = str(info.value)
    assert "'light' plan" in message and "endpoint or the requested date range" in message
    assert "/indices/bars/daily" in message and "Forbidden" in message
    assert len(app.requests_to("/indices/bars/daily")) == 1


def test_empty_data_and_210_are_empty_results_without_retry(served, clock):
    app, url = served
    app.tables["/items"] = []
    app.queue("/am", (210, ""))
    with make_client(url, clock) as client:
        assert client.get_records("/items") == []
        pages = list(client.iter_pages("/am"))
    assert [(p.status, p.data, p.pagination_key) for p in pages] == [(210, [], None)]
    assert len(app.requests_to("/am")) == 1
    assert clock.sleeps == []


def test_non_json_success_body_is_retried_then_a_format_error(served, clock):
    app, url = served
    app.queue("/items", (200, "not json at all"), (200, '{"data": [{"a": 1'))
    with (
        make_client(url, clock, max_retries=1) as client,
        pytest.raises(BrokenBodyError) as info,
    ):
        client.get_records("/items")
    message = str(info.value)
    assert "not JSON" in message and "2 tries" in message and "HTTP 200" in message
    assert "/items" in message and "\n" not in message
    assert len(app.requests_to("/items")) == 2
    assert len(clock.sleeps) == 1


def test_a_cut_off_body_is_retried_and_the_rows_arrive(served, clock):
    app, url = served
    app.tables["/items"] = ROWS[:2]
    app.queue("/items", (200, '{"data": [{"Date": "2024-01-04", "Co'))
    with make_client(url, clock) as client:
        assert client.get_records("/items") == ROWS[:2]
    assert len(app.requests_to("/items")) == 2
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize(
    ("header", "wait"),
    [("7", 7.0), ("0", 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("soon", 60.0)],
)
def test_429_waits_what_retry_after_says_else_the_schedule(served, clock, header, wait):
    app, url = served
    app.tables["/items"] = ROWS[:1]
    app.queue("/items", (429, {"message": "Rate limit exceeded"}, {"Retry-After": header}))
    with make_client(url, clock) as client:
        assert client.get_records("/items") == ROWS[:1]
    assert clock.sleeps == [wait]


def test_json_without_the_data_list_is_a_format_error(served, clock):
    app, url = served
    app.queue("/items", (200, {"url": "https://example.invalid/file.csv.gz"}))
    with make_client(url, clock) as client, pytest.raises(ResponseFormatError) as info:
        client.get_records("/items")
    assert "not the V2 envelope" in str(info.value) and "file.csv.gz" in str(info.value)


def test_repeated_pagination_key_stops(served, clock):
    app, url = served
    page = (200, {"data": [{"a": 1}], "pagination_key": "same"})
    app.queue("/items", page, page)
    with make_client(url, clock) as client, pytest.raises(ResponseFormatError) as info:
        client.get_records("/items")
    assert "repeated" in str(info.value)
    assert len(app.requests_to("/items")) == 2


def test_dropped_connection_is_retried(served, clock):
    app, url = served
    app.tables["/items"] = ROWS[:2]
    app.queue("/items", "drop")
    with make_client(url, clock) as client:
        assert client.get_records("/items") == ROWS[:2]
    assert len(app.requests_to("/items")) == 2
    assert len(clock.sleeps) == 1


def test_refused_connection_exhausts_into_transport_error(clock):
    url = f"http://127.0.0.1:{free_port()}/v2"
    with make_client(url, clock, max_retries=2) as client, pytest.raises(TransportError) as info:
        client.get_records("/items", {"date": "2024-01-04"})
    assert "ConnectError" in str(info.value) and "3 tries" in str(info.value)
    assert len(clock.sleeps) == 2


def test_unusable_url_fails_at_once_as_a_transport_error(clock):
    with (
        make_client("ftp://127.0.0.1/v2", clock) as client,
        pytest.raises(TransportError) as info,
    ):
        client.get_records("/items")
    assert "UnsupportedProtocol" in str(info.value) and "after 1 tries" in str(info.value)
    assert clock.sleeps == []


def test_timeout_is_retried(served, clock):
    app, url = served
    app.tables["/items"] = ROWS[:1]
    app.queue("/items", ("slow", 1.0))
    with make_client(url, clock, timeout=0.2) as client:
        assert client.get_records("/items") == ROWS[:1]
    assert len(app.requests_to("/items")) == 2
    assert len(clock.sleeps) == 1


def test_clock_and_sleep_must_come_together(clock):
    with pytest.raises(ValueError, match="clock and sleep together"):
        JQuantsClient(API_KEY, clock=clock)
