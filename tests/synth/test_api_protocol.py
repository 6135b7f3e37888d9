"""Auth, plan gating and windows, rate limits, faults, gzip and unknown paths, over real HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json

import httpx
import pytest

from gogooku.jquants.plans import history_window
from gogooku.settings import Plan
from gogooku.synth.api import BAD_KEY_MESSAGE, create_app
from gogooku.synth.faults import Faults

from ..support.clock import FakeClock
from .conftest import DAYS, serve

BARS = "/equities/bars/daily"


def url(client: httpx.Client, path: str) -> str:
    return str(client.base_url).rstrip("/") + path


ONE_DAY = {"date": "2024-01-04"}


def test_bad_or_missing_api_key_is_403(premium):
    for headers in ({"x-api-key": "wrong"}, {"x-api-key": ""}):
        response = premium.get(BARS, params=ONE_DAY, headers=headers)
        assert response.status_code == 403
        assert response.json() == {"message": BAD_KEY_MESSAGE}
    anonymous = httpx.get(url(premium, BARS), params=ONE_DAY)
    assert anonymous.status_code == 403
    assert anonymous.json() == {"message": "The incoming api key is invalid or expired."}


def test_auth_disabled_with_api_key_none(hand_market):
    with serve(hand_market, api_key=None, rate_limit=False) as client:
        response = client.get(BARS, params=ONE_DAY, headers={"x-api-key": "anything"})
    assert response.status_code == 200
    assert len(response.json()["data"]) == 3


def test_endpoint_above_the_plan_is_403_naming_the_plan(hand_market):
    with serve(hand_market, plan=Plan.FREE, rate_limit=False) as client:
        topix = client.get("/indices/bars/daily/topix")
        bars = client.get(BARS, params={"code": "1301"})
    assert topix.status_code == 403
    message = topix.json()["message"]
    assert "free" in message and "light" in message and "/indices/bars/daily/topix" in message
    assert bars.status_code == 200


def test_free_plan_window_filters_rows(hand_market):
    # today is the last bar date 2024-03-29; Free sees up to 12 weeks earlier: 2024-01-05
    window = history_window(Plan.FREE, DAYS[-1])
    assert window.latest == dt.date(2024, 1, 5)
    with serve(hand_market, plan=Plan.FREE, rate_limit=False) as client:
        history = client.get(BARS, params={"code": "72030"}).json()["data"]
        inside = client.get(BARS, params={"date": "2024-01-05"}).json()["data"]
        outside = client.get(BARS, params={"date": "2024-01-08"}).json()
        calendar = client.get("/markets/calendar").json()["data"]
    assert [r["Date"] for r in history] == ["2024-01-04", "2024-01-05"]
    assert len(inside) == 3
    assert outside == {"data": []}
    assert calendar[-1]["Date"] == "2024-01-05"


def test_explicit_today_moves_the_window(hand_market):
    with serve(hand_market, plan=Plan.FREE, rate_limit=False, today=dt.date(2024, 4, 5)) as client:
        history = client.get(BARS, params={"code": "72030"}).json()["data"]
    assert history[-1]["Date"] == "2024-01-12"  # 2024-04-05 minus 12 weeks


def test_earnings_date_outside_the_window_is_400(hand_market):
    with serve(
        hand_market, plan=Plan.STANDARD, rate_limit=False, today=dt.date(2035, 1, 1)
    ) as client:
        response = client.get("/fins/earnings-date", params={"date": "2024-02-01"})
    assert response.status_code == 400
    assert "window" in response.json()["message"]


def test_429_after_the_plan_rate_and_recovery_after_60s(hand_market):
    clock = FakeClock()
    with serve(hand_market, plan=Plan.FREE, clock=clock) as client:
        statuses = [client.get(BARS, params=ONE_DAY).status_code for _ in range(5)]
        limited = client.get(BARS, params=ONE_DAY)
        clock.now += 59.9
        still = client.get(BARS, params=ONE_DAY).status_code
        clock.now += 0.1
        recovered = client.get(BARS, params=ONE_DAY).status_code
    assert statuses == [200] * 5
    assert limited.status_code == 429
    assert limited.json() == {"message": "Rate limit exceeded"}
    assert "retry-after" not in limited.headers
    assert (still, recovered) == (429, 200)


def test_fins_summary_has_its_own_60_per_minute_cap(hand_market):
    clock = FakeClock()
    with serve(hand_market, plan=Plan.PREMIUM, clock=clock) as client:
        summary = [
            client.get("/fins/summary", params={"code": "7203"}).status_code for _ in range(61)
        ]
        bars = client.get(BARS, params=ONE_DAY).status_code
    assert summary == [200] * 60 + [429]
    assert bars == 200


def test_fail_first_n_then_success(hand_market):
    with serve(hand_market, faults=Faults(fail_first_n=2), rate_limit=False) as client:
        statuses = [client.get(BARS, params=ONE_DAY).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]


def test_error_rate_targets_one_path_and_is_seeded(hand_market):
    def run():
        faults = Faults(error_rate=0.5, seed=3, path=BARS)
        with serve(hand_market, faults=faults, rate_limit=False) as client:
            bars = [client.get(BARS, params=ONE_DAY).status_code for _ in range(20)]
            calendar = [client.get("/markets/calendar").status_code for _ in range(5)]
        return bars, calendar

    first, second = run(), run()
    assert first == second
    bars, calendar = first
    assert set(bars) == {200, 500}
    assert calendar == [200] * 5


def test_dropped_connection_is_a_transport_error(hand_market):
    with serve(hand_market, faults=Faults(drop_rate=1.0, path=BARS), rate_limit=False) as client:
        with pytest.raises(httpx.TransportError):
            client.get(BARS, params=ONE_DAY)
        assert client.get("/markets/calendar").status_code == 200


def test_dropped_connection_in_process_is_the_same_transport_error(hand_market):
    app = create_app(hand_market, faults=Faults(drop_rate=1.0), rate_limit=False)

    async def call():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://synthetic/v2") as client:
            await client.get(BARS, params=ONE_DAY, headers={"x-api-key": "synthetic"})

    with pytest.raises(httpx.TransportError):
        asyncio.run(call())


def test_delay_makes_a_short_timeout_expire(hand_market):
    with (
        serve(hand_market, faults=Faults(delay_s=2.0), rate_limit=False) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.get(BARS, params=ONE_DAY, timeout=0.2)


def test_large_responses_are_gzipped_on_request(premium):
    query = {"code": "72030", "from": "2024-01-04", "to": "2024-01-31"}
    raw = httpx.get(
        url(premium, BARS),
        params=query,
        headers={"x-api-key": "synthetic", "accept-encoding": "gzip"},
    )
    assert raw.headers["content-encoding"] == "gzip"
    with httpx.stream(
        "GET",
        url(premium, BARS),
        params=query,
        headers={"x-api-key": "synthetic", "accept-encoding": "gzip"},
    ) as response:
        body = b"".join(response.iter_raw())
    assert json.loads(gzip.decompress(body)) == raw.json()
    plain = httpx.get(
        url(premium, BARS),
        params=query,
        headers={"x-api-key": "synthetic", "accept-encoding": "identity"},
    )
    assert "content-encoding" not in plain.headers
    assert plain.json() == raw.json()


def test_v1_paths_and_wrong_methods_are_403(premium):
    v1 = premium.get("/prices/daily_quotes", params=ONE_DAY)
    assert v1.status_code == 403
    assert "message" in v1.json()
    assert premium.post(BARS, params=ONE_DAY).status_code == 403


def test_invalid_construction_is_rejected(hand_market):
    with pytest.raises(ValueError, match="page_size must be >= 1, got 0"):
        create_app(hand_market, page_size=0)
    with pytest.raises(
        ValueError, match=r"market tables \['prices'\] are not catalogue dataset ids"
    ):
        create_app(type("M", (), {"tables": {"prices": None}})())
    with pytest.raises(ValueError, match=r"Faults\.drop_rate must be in \[0, 1\], got 1\.5"):
        Faults(drop_rate=1.5)


def test_heavy_excess_blocks_every_path_for_block_s_with_retry_after(hand_market):
    clock = FakeClock()
    faults = Faults(block_after=3, block_s=300.0, retry_after=True, path=BARS)
    with serve(hand_market, plan=Plan.FREE, clock=clock, faults=faults) as client:
        served = [client.get(BARS, params=ONE_DAY).status_code for _ in range(5)]
        refused = [client.get(BARS, params=ONE_DAY) for _ in range(3)]
        clock.now += 120.0  # the plan's window has room again, but the key is blocked
        blocked = client.get("/markets/calendar")
        clock.now += 180.0
        after = client.get("/markets/calendar").status_code
    assert served == [200] * 5
    assert [r.status_code for r in refused] == [429] * 3
    # Two 429s of the rate limiter (a slot frees in 60 s), then the third starts the block.
    assert [r.headers["retry-after"] for r in refused] == ["60", "60", "300"]
    assert (blocked.status_code, blocked.headers["retry-after"]) == (429, "180")
    assert after == 200


def test_truncated_and_html_bodies_are_complete_http_answers(hand_market):
    faults = Faults(fail_first_n=1, first_fault="truncate")
    with serve(hand_market, faults=faults, rate_limit=False) as client:
        truncated = client.get(BARS, params=ONE_DAY, headers={"accept-encoding": "gzip"})
        intact = client.get(BARS, params=ONE_DAY).text
    assert truncated.status_code == 200
    assert "content-encoding" not in truncated.headers
    assert len(truncated.content) == int(truncated.headers["content-length"]) > 0
    assert intact.startswith(truncated.text) and len(truncated.text) == len(intact) // 2
    with pytest.raises(json.JSONDecodeError):
        truncated.json()
    with serve(hand_market, faults=Faults(invalid_json_rate=1.0), rate_limit=False) as client:
        page = client.get(BARS, params=ONE_DAY)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("knob", "value"),
    [("throttle_rate", 1.5), ("slow_rate", -0.1), ("block_s", -1.0), ("block_after", -1)],
)
def test_out_of_range_fault_settings_name_the_setting(knob, value):
    with pytest.raises(ValueError, match=rf"Faults\.{knob} must be"):
        Faults(**{knob: value})
    with pytest.raises(ValueError, match="add up to <= 1"):
        Faults(error_rate=0.5, truncate_rate=0.6)
