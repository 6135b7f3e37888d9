"""With a clock, the synthetic server serves a record only once J-Quants would have published it."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from gogooku.jquants.publication import JST
from gogooku.jquants.transport import ASGISyncTransport
from gogooku.synth.api import create_app


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=JST)


@pytest.fixture(scope="module")
def served(switch_market):
    """(get(path, params, now) → records): an in-process client per frozen clock."""

    def get(path: str, params: dict, now: str | None) -> list[dict]:
        clock = None if now is None else (lambda: _at(now))
        app = create_app(switch_market, rate_limit=False, now=clock, page_size=100_000)
        with httpx.Client(
            transport=ASGISyncTransport(app),
            base_url="http://synth/v2",
            headers={"x-api-key": "synthetic"},
        ) as client:
            response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    return get


def _dates(records: list[dict]) -> set[str]:
    return {r["Date"] for r in records}


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-09-15T16:29", {"2026-09-04"}),  # Friday 09-11 is published Tuesday ~16:30
        ("2026-09-15T16:30", {"2026-09-04", "2026-09-11"}),
        (None, {"2026-09-04", "2026-09-11"}),  # no clock: everything up to today
    ],
)
def test_weekly_margin_appears_on_the_second_business_day_at_1630(served, now, expected):
    code = served("/equities/master", {"date": "2026-09-01"}, None)[0]["Code"]
    params = {"code": code, "from": "2026-09-01", "to": "2026-09-15"}
    assert _dates(served("/markets/margin-interest", params, now)) == expected


def test_daily_margin_of_a_day_appears_on_the_next_business_day(served):
    params = {"date": "2026-09-25"}
    assert served("/markets/margin-interest", params, "2026-09-27T23:59") == []
    rows = served("/markets/margin-interest", params, "2026-09-28T00:00")
    assert rows and {r["PubDate"] for r in rows} == {"2026-09-28"}


def test_bars_of_a_day_appear_at_1630_and_options_at_0300_the_next_day(served):
    day = {"date": "2026-10-02"}
    assert served("/equities/bars/daily", day, "2026-10-02T16:29") == []
    assert served("/equities/bars/daily", day, "2026-10-02T16:30") != []
    assert served("/derivatives/bars/daily/options/225", day, "2026-10-02T19:00") == []
    assert served("/derivatives/bars/daily/options/225", day, "2026-10-03T03:00") != []


def test_the_calendar_is_served_ahead_whatever_the_clock(served):
    rows = served(
        "/markets/calendar", {"from": "2026-12-01", "to": "2026-12-31"}, "2026-10-01T12:00"
    )
    assert _dates(rows) >= {"2026-12-30", "2026-12-31"}


def test_bulk_files_hold_only_what_is_published_as_paging_does(switch_market):
    from gogooku.jquants.bulkfile import read_csv_gz

    bulk = create_app(switch_market, now=lambda: _at("2026-09-15T16:29")).state.bulk
    listed = bulk.listing({"endpoint": "/markets/margin-interest", "from": "2026-09-01"})
    assert [f["Key"][-13:] for f in listed] == ["202609.csv.gz"]
    file = bulk.published(bulk.files[listed[0]["Key"]])
    rows = read_csv_gz("markets_margin_interest", bulk.content(file))
    assert {str(d) for d in rows["Date"].unique()} == {"2026-09-04"}
    assert listed[0]["Size"] == len(bulk.content(file))
