"""``JQuantsClient.fetch``: catalogue validation, plan gate, history-window clamping, parsing."""

from __future__ import annotations

import datetime as dt
import logging

import polars as pl
import pytest

from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.endpoints import parse_records
from gogooku.jquants.errors import AuthError, PlanNotAllowedError
from gogooku.settings import DEFAULT_BASE_URL, Plan, Settings

API_KEY = "test-key"
TODAY = dt.date(2024, 6, 28)

BARS = [
    {
        "Date": "2024-01-04",
        "Code": "130A0",
        "O": "",
        "H": "-",
        "L": 1500,
        "C": "1510.5",
        "UL": "0",
        "LL": "1",
        "Vo": 12000,
        "SomethingNew": "ignored",
    },
    {"Date": "2024-01-04", "Code": "72030", "O": 2500.0, "C": 2510, "UL": "1", "LL": "0"},
    {"Date": "2024-01-04", "Code": "86970", "O": "*", "C": None, "Vo": "300"},
]


def make_client(url, clock, plan=Plan.PREMIUM, **kwargs) -> JQuantsClient:
    return JQuantsClient(
        API_KEY, plan=plan, base_url=url, clock=clock, sleep=clock.sleep, today=TODAY, **kwargs
    )


def test_fetch_types_mixed_fields_unknown_keys_and_alphanumeric_codes(served, clock):
    app, url = served
    app.tables["/equities/bars/daily"] = BARS
    with make_client(url, clock) as client:
        frame = client.fetch("equities_bars_daily", date=dt.date(2024, 1, 4))
    assert len(app.requests_to("/equities/bars/daily")) == 2
    assert app.seen[0].query == {"date": "2024-01-04"}
    assert frame.schema == parse_records("equities_bars_daily", []).schema
    assert "SomethingNew" not in frame.columns
    assert frame["Code"].to_list() == ["130A0", "72030", "86970"]
    assert frame["Date"].to_list() == [dt.date(2024, 1, 4)] * 3
    assert frame["O"].to_list() == [None, 2500.0, None]
    assert frame["H"].to_list() == [None, None, None]
    assert frame["C"].to_list() == [1510.5, 2510.0, None]
    assert frame["UL"].to_list() == [False, True, None]
    assert frame["LL"].to_list() == [True, False, None]
    assert frame["Vo"].to_list() == [12000.0, None, 300.0]
    assert frame["MktCap"].null_count() == 3


def test_unknown_parameter_is_named_and_nothing_is_sent(served, clock):
    app, url = served
    with make_client(url, clock) as client, pytest.raises(ValueError) as info:
        client.fetch("equities_bars_daily", date="2024-01-04", sector="x")
    assert "'sector'" in str(info.value) and "equities_bars_daily" in str(info.value)
    assert app.seen == []


def test_unknown_dataset_and_pagination_key_and_missing_required_are_rejected(served, clock):
    app, url = served
    with make_client(url, clock) as client:
        with pytest.raises(ValueError, match="unknown dataset id 'bars'"):
            client.fetch("bars", date="2024-01-04")
        with pytest.raises(ValueError, match="pagination_key"):
            client.fetch("equities_bars_daily", date="2024-01-04", pagination_key="x")
        with pytest.raises(ValueError, match=r"at least one of \['code', 'date'\]"):
            client.fetch("equities_bars_daily", **{"from": "2024-01-01"})
        with pytest.raises(ValueError, match="'date': '2024-02-30' is not a date"):
            client.fetch("equities_bars_daily", date="2024-02-30")
        with pytest.raises(ValueError, match="from=2024-03-01 is after to=2024-01-01"):
            client.fetch("indices_topix", from_="2024-03-01", to="2024-01-01")
    assert app.seen == []


def test_dataset_above_the_plan_raises_without_a_request(served, clock):
    app, url = served
    with (
        make_client(url, clock, plan=Plan.FREE) as client,
        pytest.raises(PlanNotAllowedError) as info,
    ):
        client.fetch("markets_margin_interest", date="2024-01-05")
    message = str(info.value)
    assert "needs the standard plan, this is the free plan (JQUANTS_PLAN" in message
    assert "/markets/margin-interest" in message
    assert app.seen == []


def test_range_is_clamped_to_the_window_with_a_warning(served, clock, caplog):
    app, url = served
    app.tables["/indices/bars/daily/topix"] = [{"Date": "2019-07-01", "O": 1, "C": 2}]
    caplog.set_level(logging.WARNING, logger="gogooku.jquants.client")
    with make_client(url, clock, plan=Plan.LIGHT) as client:
        frame = client.fetch("indices_topix", from_="2015-01-01", to=dt.date(2024, 12, 31))
    assert app.seen[0].query == {"from": "2019-06-28", "to": "2024-06-28"}
    assert frame["Date"].to_list() == [dt.date(2019, 7, 1)]
    text = caplog.text
    assert "clamped from=2015-01-01 to 2019-06-28" in text
    assert "clamped to=2024-12-31 to 2024-06-28" in text
    assert "light plan's window is 2019-06-28..2024-06-28" in text


def test_date_outside_the_free_window_returns_the_empty_frame_without_a_request(
    served, clock, caplog
):
    app, url = served
    caplog.set_level(logging.WARNING, logger="gogooku.jquants.client")
    with make_client(url, clock, plan=Plan.FREE) as client:
        recent = client.fetch("equities_bars_daily", date="2024-06-03")
        ancient = client.fetch("fins_summary", date="2020-01-06")
    assert app.seen == []
    assert recent.is_empty() and recent.schema == parse_records("equities_bars_daily", []).schema
    assert ancient.is_empty() and ancient.schema == parse_records("fins_summary", []).schema
    assert "date=2024-06-03 is outside it" in caplog.text
    assert "free plan's window is 2022-04-05..2024-04-05" in caplog.text


def test_range_entirely_outside_the_window_sends_nothing(served, clock, caplog):
    app, url = served
    caplog.set_level(logging.WARNING, logger="gogooku.jquants.client")
    with make_client(url, clock, plan=Plan.STANDARD) as client:
        frame = client.fetch("markets_margin_interest", code="72030", to="2010-01-01")
    assert frame.is_empty()
    assert app.seen == []
    assert "lies outside it" in caplog.text


def test_paid_plans_see_the_calendar_to_the_end_of_next_year(served, clock, caplog):
    app, url = served
    app.tables["/markets/calendar"] = [{"Date": "2025-12-31", "HolDiv": "0"}]
    caplog.set_level(logging.WARNING, logger="gogooku.jquants.client")
    with make_client(url, clock, plan=Plan.STANDARD) as client:
        frame = client.fetch("markets_calendar", **{"from": "2024-06-01", "to": "2026-03-31"})
    assert app.seen[0].query == {"from": "2024-06-01", "to": "2025-12-31"}
    assert frame["HolDiv"].to_list() == ["0"]
    assert "clamped to=2026-03-31 to 2025-12-31" in caplog.text


def test_210_through_fetch_is_the_empty_frame(served, clock):
    app, url = served
    app.queue("/fins/summary", (210, ""))
    with make_client(url, clock) as client:
        frame = client.fetch("fins_summary", code="130A0")
    assert frame.is_empty()
    assert frame.schema == parse_records("fins_summary", []).schema
    assert len(app.seen) == 1


def test_from_settings_reads_key_plan_and_base_url(served, clock, monkeypatch):
    app, url = served
    app.tables["/equities/master"] = [{"Date": "2024-01-04", "Code": "130A0", "CoName": "x"}]
    monkeypatch.setenv("JQUANTS_API_KEY", API_KEY)
    monkeypatch.setenv("JQUANTS_PLAN", "standard")
    monkeypatch.setenv("JQUANTS_BASE_URL", url)
    with JQuantsClient.from_settings(
        Settings(), clock=clock, sleep=clock.sleep, today=TODAY
    ) as client:
        frame = client.fetch("equities_master", date="2024-01-04")
        assert client.plan is Plan.STANDARD
    assert frame["Code"].to_list() == ["130A0"]
    assert frame.schema["Code"] == pl.String
    assert app.seen[0].headers["x-api-key"] == API_KEY


def test_from_settings_without_a_key_is_a_clear_error():
    settings = Settings()
    assert settings.jquants_base_url == DEFAULT_BASE_URL
    with pytest.raises(AuthError, match="JQUANTS_API_KEY is not set"):
        JQuantsClient.from_settings(settings)


def test_scheduled_date_is_normalised_but_not_clamped(served, clock):
    app, url = served
    app.tables["/fins/earnings-date"] = [
        {"PubDate": "2024-06-20", "SchDate": "2024-08-09", "FQName": "1Q", "Code": "130A0"}
    ]
    with make_client(url, clock, plan=Plan.PREMIUM) as client:
        frame = client.fetch("fins_earnings_date", scheduled_date="20240809")
    assert app.seen[0].query == {"scheduled_date": "2024-08-09"}
    assert frame["SchDate"].to_list() == [dt.date(2024, 8, 9)]
