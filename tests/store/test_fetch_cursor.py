"""The daily fetch on Premium uses the cursor mode for today's statements: a second run on the
same day asks only for what was published since and adds it to the stored day (real HTTP
synthetic server, wall clock injected)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from gogooku.httpserver import background_server
from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.endpoints import parse_records
from gogooku.settings import Plan
from gogooku.store.fetch import fetch
from gogooku.store.raw import RawStore
from gogooku.synth.api import create_app

JST = ZoneInfo("Asia/Tokyo")
DAY = dt.date(2024, 3, 1)
TIMES = ["09:00:00", "11:30:00", "13:00:00", "16:00:00"]


@dataclass
class Market:
    tables: dict[str, pl.DataFrame]


def _market() -> Market:
    days = [DAY - dt.timedelta(days=k) for k in range(7)]
    calendar = parse_records(
        "markets_calendar",
        [{"Date": d.isoformat(), "HolDiv": "1" if d.weekday() < 5 else "0"} for d in days],
    )
    summary = parse_records(
        "fins_summary",
        [
            {"DiscDate": DAY.isoformat(), "DiscTime": t, "Code": f"{1300 + k}0",
             "DiscNo": f"{DAY:%Y%m%d}{k:04d}", "Sales": "100"}
            for k, t in enumerate(TIMES)
        ],
    )  # fmt: skip
    return Market({"markets_calendar": calendar, "fins_summary": summary})


class WallClock:
    def __init__(self, hour: int) -> None:
        self.at = dt.datetime.combine(DAY, dt.time(hour), JST)

    def __call__(self) -> float:
        return self.at.timestamp()


def _run(store: RawStore, url: str, plan: Plan, clock: WallClock):
    client = JQuantsClient("synthetic", plan=plan, base_url=f"{url}/v2", pacing=False)
    with client:
        return fetch(
            store,
            client,
            DAY,
            DAY,
            ["fins_summary"],
            plan,
            progress=False,
            clock=lambda: clock.at.astimezone(dt.UTC),
            today=DAY,
            source_end=DAY,
        )


@pytest.mark.parametrize("plan", [Plan.PREMIUM, Plan.STANDARD])
def test_a_second_run_the_same_day_fetches_only_new_disclosures(tmp_path, plan):
    wall = WallClock(12)
    app = create_app(_market(), plan=plan, rate_limit=False, wall_clock=wall, today=DAY)
    store = RawStore(tmp_path / "raw")
    with background_server(app) as url:
        first = _run(store, url, plan, wall)
        (record,) = store.catalog.units("fins_summary")
        wall.at = wall.at.replace(hour=17)
        second = _run(store, url, plan, wall)
    rows = store.scan("fins_summary").sort("DiscNo").collect()
    assert rows["DiscTime"].to_list() == TIMES  # every disclosure once, none duplicated
    if plan is Plan.PREMIUM:
        assert first.results["fins_summary"].rows == 2  # published by noon
        assert "cursor" in record.query
        assert second.results["fins_summary"].requests == 1
        (again,) = store.catalog.units("fins_summary")
        assert again.query["cursor"] != record.query["cursor"]
        assert store.stored_unit_rows("fins_summary") == {DAY.isoformat(): 4}
    else:
        assert "cursor" not in record.query  # the plain date query, the whole day each time
        assert first.results["fins_summary"].rows == second.results["fins_summary"].rows == 4
