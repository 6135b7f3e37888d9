"""The client against the synthetic V2 service (``gogooku.synth.api.create_app``)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gogooku.httpserver import background_server
from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.endpoints import parse_records
from gogooku.jquants.transport import ASGISyncTransport
from gogooku.settings import Plan
from gogooku.synth.api import Faults, create_app

API_KEY = "synthetic-key"
TODAY = dt.date(2024, 6, 28)
DAYS = [dt.date(2024, 1, d) for d in (4, 5, 9, 10)]
CODES = ["130A0", "72030", "86970"]


def market() -> SimpleNamespace:
    bars = [
        {"Date": day.isoformat(), "Code": code, "O": 100.0 + i, "C": 101.0 + i, "UL": "0"}
        for day in DAYS
        for i, code in enumerate(CODES)
    ]
    fins = [
        {"DiscDate": "2024-01-05", "DiscTime": "15:00:00", "Code": code, "DiscNo": f"2024{i}"}
        for i, code in enumerate(CODES)
    ]
    return SimpleNamespace(
        tables={
            "equities_bars_daily": parse_records("equities_bars_daily", bars),
            "fins_summary": parse_records("fins_summary", fins),
        }
    )


def fetch_all(client: JQuantsClient) -> tuple[pl.DataFrame, pl.DataFrame]:
    bars = pl.concat([client.fetch("equities_bars_daily", date=day) for day in DAYS])
    fins = pl.concat([client.fetch("fins_summary", date="2024-01-05") for _ in range(3)])
    return bars, fins


def test_paced_free_client_meets_no_429_from_the_rate_limited_service(clock):
    data = market()
    app = create_app(data, api_key=API_KEY, plan=Plan.FREE, page_size=2, today=TODAY, clock=clock)
    with (
        background_server(app) as url,
        JQuantsClient(
            API_KEY, Plan.FREE, f"{url}/v2", clock=clock, sleep=clock.sleep, today=TODAY
        ) as client,
    ):
        bars, fins = fetch_all(client)
        requests = client.requests_made
    assert_frame_equal(bars, data.tables["equities_bars_daily"])
    assert_frame_equal(fins, pl.concat([data.tables["fins_summary"]] * 3))
    assert requests == 4 * 2 + 3 * 2
    assert clock.sleeps == pytest.approx([12.6] * (requests - 1))


def test_unpaced_client_recovers_from_the_services_429(clock):
    data = market()
    app = create_app(data, api_key=API_KEY, plan=Plan.FREE, page_size=2, today=TODAY, clock=clock)
    with (
        background_server(app) as url,
        JQuantsClient(
            API_KEY,
            Plan.FREE,
            f"{url}/v2",
            clock=clock,
            sleep=clock.sleep,
            today=TODAY,
            pacing=False,
        ) as client,
    ):
        bars, _ = fetch_all(client)
    assert_frame_equal(bars, data.tables["equities_bars_daily"])
    assert clock.sleeps == [60.0, 60.0]


def test_in_process_service_with_faults(clock):
    data = market()
    app = create_app(
        data,
        api_key=API_KEY,
        plan=Plan.PREMIUM,
        page_size=2,
        rate_limit=False,
        faults=Faults(fail_first_n=2, drop_rate=0.2, seed=3),
        today=TODAY,
    )
    with JQuantsClient(
        API_KEY,
        Plan.PREMIUM,
        "http://synthetic.local/v2",
        transport=ASGISyncTransport(app),
        clock=clock,
        sleep=clock.sleep,
        today=TODAY,
        pacing=False,
    ) as client:
        bars, fins = fetch_all(client)
        retries = client.requests_made - (4 * 2 + 3 * 2)
    assert_frame_equal(bars, data.tables["equities_bars_daily"])
    assert_frame_equal(fins, pl.concat([data.tables["fins_summary"]] * 3))
    assert retries >= 2
    assert len(clock.sleeps) == retries
