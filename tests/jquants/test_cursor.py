"""Cursor mode on the real HTTP synthetic server: only new records after a cursor, paging without
the cursor, a pagination_key that wins over a resent cursor, 400 for a cursor of another day,
refusal below Premium."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import httpx
import polars as pl
import pytest

from gogooku.httpserver import background_server
from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.endpoints import parse_records
from gogooku.jquants.errors import PlanNotAllowedError
from gogooku.settings import Plan
from gogooku.synth.api import create_app

JST = ZoneInfo("Asia/Tokyo")
DAY, EARLIER = dt.date(2024, 3, 1), dt.date(2024, 2, 29)
TIMES = ["09:00:00", "11:30:00", "13:00:00", "13:00:00", "16:00:00", None]


@dataclass
class Market:
    tables: dict[str, pl.DataFrame]


def _summary() -> pl.DataFrame:
    records = [
        {"DiscDate": day.isoformat(), "DiscTime": t, "Code": f"{1300 + k}0",
         "DiscNo": f"{day:%Y%m%d}{k:04d}", "Sales": "100"}
        for day in (EARLIER, DAY)
        for k, t in enumerate(TIMES)
    ]  # fmt: skip
    return parse_records("fins_summary", records)


class WallClock:
    def __init__(self) -> None:
        self.at = dt.datetime(2024, 3, 1, 12, 0, tzinfo=JST)

    def __call__(self) -> float:
        return self.at.timestamp()


@pytest.fixture
def served():
    def start(plan: Plan, use_now: bool):
        clock = WallClock()
        timing = {"now": lambda: clock.at} if use_now else {"wall_clock": clock}
        app = create_app(
            Market({"fins_summary": _summary()}),
            plan=plan,
            page_size=2,
            rate_limit=False,
            today=DAY,
            **timing,
        )
        return clock, app

    servers = []

    def open_(plan: Plan = Plan.PREMIUM, use_now: bool = False):
        clock, app = start(plan, use_now)
        context = background_server(app)
        url = context.__enter__()
        servers.append(context)
        client = JQuantsClient("synthetic", plan=plan, base_url=f"{url}/v2", pacing=False)
        raw = httpx.Client(base_url=f"{url}/v2", headers={"x-api-key": "synthetic"})
        return clock, client, raw

    yield open_
    for context in servers:
        context.__exit__(None, None, None)


@pytest.mark.parametrize("use_now", [False, True], ids=["wall_clock", "now"])
def test_a_cursor_returns_only_the_records_published_since(served, use_now):
    clock, client, _ = served(use_now=use_now)
    first, cursor = client.get_since("fins_summary", DAY)
    assert first["DiscTime"].to_list() == ["09:00:00", "11:30:00"]
    assert cursor is not None
    clock.at = clock.at.replace(hour=16, minute=30)
    second, cursor2 = client.get_since("fins_summary", DAY, cursor)
    assert second["DiscTime"].to_list() == ["13:00:00", "13:00:00", "16:00:00"]  # two pages
    assert client.requests_made == 1 + 2
    empty, cursor3 = client.get_since("fins_summary", DAY, cursor2)
    assert empty.height == 0 and cursor3 == cursor2
    clock.at = clock.at + dt.timedelta(hours=8)  # the next day: the null-time record is out
    late, _ = client.get_since("fins_summary", DAY, cursor2)
    assert late["DiscTime"].to_list() == [None]


def test_a_past_day_has_fully_appeared_and_plain_queries_end_with_a_cursor(served):
    _, client, raw = served()
    frame, cursor = client.get_since("fins_summary", EARLIER)
    assert frame.height == len(TIMES) and cursor is not None
    first = raw.get("/fins/summary", params={"date": EARLIER.isoformat()}).json()
    assert "pagination_key" in first and "cursor" not in first  # only the last page has one
    noon = raw.get("/fins/summary", params={"date": DAY.isoformat()}).json()
    assert len(noon["data"]) == 2 and "cursor" in noon  # today so far, in one page


def test_cursor_with_pagination_key_pages_by_the_key_and_another_days_cursor_is_a_400(served):
    _, client, raw = served()
    _, cursor = client.get_since("fins_summary", DAY)
    first = raw.get("/fins/summary", params={"date": EARLIER.isoformat()}).json()
    both = {
        "date": EARLIER.isoformat(),
        "cursor": cursor,
        "pagination_key": first["pagination_key"],
    }
    by_key = {k: v for k, v in both.items() if k != "cursor"}
    # the official client resends the cursor on every page: the key decides the page
    assert (
        raw.get("/fins/summary", params=both).json()
        == raw.get("/fins/summary", params=by_key).json()
    )
    other_day = raw.get("/fins/summary", params={"date": EARLIER.isoformat(), "cursor": cursor})
    assert other_day.status_code == 400 and "belongs to date" in other_day.json()["message"]
    forged = raw.get("/fins/summary", params={"date": DAY.isoformat(), "cursor": "20240301.0.x"})
    assert forged.status_code == 400


def test_below_premium_the_cursor_is_refused_and_the_date_query_remains(served):
    _, client, raw = served(Plan.STANDARD)
    with pytest.raises(PlanNotAllowedError, match="cursor mode needs the 'premium' plan"):
        client.get_since("fins_summary", DAY)
    assert client.requests_made == 0
    refused = raw.get("/fins/summary", params={"date": DAY.isoformat(), "cursor": "x"})
    assert refused.status_code == 403 and "cursor" in refused.json()["message"]
    assert client.fetch("fins_summary", date=DAY).height == len(TIMES)
    assert raw.get("/fins/details", params={"date": DAY.isoformat()}).status_code == 403


def test_with_a_clock_a_code_query_sees_only_published_statements(served):
    clock, client, _ = served(use_now=True)
    assert client.fetch("fins_summary", code="13020")["DiscDate"].to_list() == [EARLIER]
    clock.at = clock.at.replace(hour=13)
    assert client.fetch("fins_summary", code="13020")["DiscDate"].to_list() == [EARLIER, DAY]
