"""Fetch orchestration against the in-test V2 service: units, resume, re-fetch rule, plan gates."""

from __future__ import annotations

import datetime as dt
import io

import polars as pl
import pytest
from rich.console import Console

from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.jquants.transport import ASGISyncTransport
from gogooku.settings import Plan
from gogooku.store import raw as raw_module
from gogooku.store.fetch import fetch, month_chunks, needs_fetch, settle_time, units_to_fetch
from gogooku.store.raw import RawStore, content_hash
from gogooku.store.status import dataset_status

from .conftest import (
    API_KEY,
    BASE_URL,
    CODES,
    HOLIDAYS,
    SETTLED,
    TinyV2,
    business_days,
    calendar,
    make_client,
    market_tables,
    typed,
)

D = dt.date
JAN_FEB = (D(2024, 1, 1), D(2024, 2, 29))
# After the calendar published ahead of JAN_FEB (through 2025) has settled.
LATE = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)


def at(moment: dt.datetime):
    return lambda: moment


def stored_equals_served(store: RawStore, service: TinyV2, dataset: str) -> bool:
    return content_hash(store.scan(dataset).collect()) == content_hash(service.tables[dataset])


def test_calendar_first_then_one_request_per_trading_day(store, service, client):
    report = fetch(
        store,
        client,
        *JAN_FEB,
        ["equities_bars_daily", "indices_topix"],
        Plan.PREMIUM,
        progress=False,
        clock=at(SETTLED),
    )

    assert service.requests[0][0] == "/markets/calendar"
    # Published ahead: month by month through the end of the year after the fetch's end.
    assert service.paths("markets_calendar") == [
        {"from": first.isoformat(), "to": last.isoformat()}
        for first, last in month_chunks(D(2024, 1, 1), D(2025, 12, 31))
    ]
    days = business_days(*JAN_FEB)
    first_pages = [
        p["date"] for p in service.paths("equities_bars_daily") if "pagination_key" not in p
    ]
    assert first_pages == [d.isoformat() for d in days]
    requested = {D.fromisoformat(p["date"]) for p in service.paths("equities_bars_daily")}
    assert not any(d.weekday() >= 5 or d in HOLIDAYS for d in requested)
    # 3 codes a day, 2 rows a page: every day takes two requests.
    assert len(service.paths("equities_bars_daily")) == 2 * len(days)
    # TOPIX by month: 19 trading days in January and 19 in February, 10 pages of 2 rows each.
    assert len(days) == 38
    assert [p for p in service.paths("indices_topix") if "pagination_key" not in p] == [
        {"from": "2024-01-01", "to": "2024-01-31"},
        {"from": "2024-02-01", "to": "2024-02-29"},
    ]
    assert len(service.paths("indices_topix")) == 20

    for dataset in ("markets_calendar", "equities_bars_daily", "indices_topix"):
        assert stored_equals_served(store, service, dataset)
        assert store.verify(dataset) == []
    bars = report.results["equities_bars_daily"]
    assert (bars.fetched, bars.rows, bars.requests) == (len(days), 3 * len(days), 2 * len(days))
    assert report.requests == len(service.requests)
    assert {r.unit_key for r in store.catalog.units("equities_bars_daily")} == {
        d.isoformat() for d in days
    }


def test_second_run_requests_only_the_current_calendar_month(store, service, client):
    datasets = ["equities_bars_daily", "indices_topix", "markets_short_sale_report"]
    fetch(store, client, *JAN_FEB, datasets, Plan.PREMIUM, progress=False, clock=at(SETTLED))
    service.requests.clear()
    report = fetch(
        store,
        client,
        *JAN_FEB,
        datasets,
        Plan.PREMIUM,
        progress=False,
        clock=at(SETTLED + dt.timedelta(days=1)),
    )
    # Settled history is not requested again, nor the months published ahead (refreshed once a
    # month); only the calendar's current month, unsettled until it ends.
    assert service.requests == [("/markets/calendar", {"from": "2024-06-01", "to": "2024-06-30"})]
    assert report.requests == 1
    assert all(r.fetched == 0 for k, r in report.results.items() if k != "markets_calendar")

    service.requests.clear()
    fetch(store, client, *JAN_FEB, datasets, Plan.PREMIUM, progress=False, clock=at(LATE))
    assert {p["from"] for p in service.paths("markets_calendar")} == {
        first.isoformat() for first, _ in month_chunks(D(2024, 6, 1), D(2025, 12, 31))
    }
    assert service.paths("equities_bars_daily") == []


class CrashingClient:
    """Delegates to a real client and raises on the (k+1)-th ``fetch`` call."""

    def __init__(self, inner, k: int) -> None:
        self.inner, self.k, self.calls = inner, k, 0

    @property
    def requests_made(self) -> int:
        return self.inner.requests_made

    def pacing_delay(self, path: str = "") -> float:
        return self.inner.pacing_delay(path)

    def fetch(self, dataset_id, **params):
        self.calls += 1
        if self.calls > self.k:
            raise ConnectionError(f"injected crash after {self.k} units")
        return self.inner.fetch(dataset_id, **params)


@pytest.mark.parametrize("k", [0, 1, 2, 17, 40])
def test_crash_after_k_units_then_rerun_has_no_duplicates_or_gaps(store, service, client, k):
    datasets = ["equities_bars_daily", "markets_short_sale_report"]
    with pytest.raises(ConnectionError, match="injected crash"):
        fetch(
            store,
            CrashingClient(client, k),
            *JAN_FEB,
            datasets,
            Plan.PREMIUM,
            progress=False,
            clock=at(SETTLED),
        )
    assert len(store.catalog.units()) == k

    fetch(store, client, *JAN_FEB, datasets, Plan.PREMIUM, progress=False, clock=at(SETTLED))
    days = {d.isoformat() for d in business_days(*JAN_FEB)}
    for dataset in ("markets_calendar", *datasets):
        assert stored_equals_served(store, service, dataset)
        assert store.verify(dataset) == []
    for dataset in datasets:
        assert {r.unit_key for r in store.catalog.units(dataset)} == days
        # Every unit was requested exactly once over both runs (first pages only).
        keys = [
            p.get("date") or p.get("disc_date")
            for p in service.paths(dataset)
            if "pagination_key" not in p
        ]
        assert sorted(keys) == sorted(days)


def test_crash_inside_a_write_is_refetched(store, service, client, monkeypatch):
    writes = []
    real = raw_module.atomic_write_parquet

    def interrupted_on_third_file(path, frame, **options):
        writes.append(path)
        if len(writes) == 3:
            raise KeyboardInterrupt
        real(path, frame, **options)

    monkeypatch.setattr(raw_module, "atomic_write_parquet", interrupted_on_third_file)
    with pytest.raises(KeyboardInterrupt):
        fetch(
            store,
            client,
            *JAN_FEB,
            ["equities_bars_daily"],
            Plan.PREMIUM,
            progress=False,
            clock=at(SETTLED),
        )
    # Files written: calendar January, calendar February, then bars January is interrupted:
    # the whole January batch of bars is pending.
    pending = [r for r in store.catalog.units("equities_bars_daily") if not r.committed]
    assert {r.unit_key for r in pending} == {
        d.isoformat() for d in business_days(*JAN_FEB) if d.month == 1
    }
    monkeypatch.undo()

    fetch(
        store,
        client,
        *JAN_FEB,
        ["equities_bars_daily"],
        Plan.PREMIUM,
        progress=False,
        clock=at(SETTLED),
    )
    assert stored_equals_served(store, service, "equities_bars_daily")
    assert store.verify("equities_bars_daily") == []
    assert store.verify("markets_calendar") == []


def test_last_day_is_refetched_until_settled_and_revisions_replace_rows(store, service, client):
    end = D(2024, 2, 29)
    evening = dt.datetime(2024, 2, 29, 10, tzinfo=dt.UTC)  # 19:00 JST on the 29th
    fetch(
        store,
        client,
        D(2024, 2, 1),
        end,
        ["equities_bars_daily"],
        Plan.PREMIUM,
        progress=False,
        clock=at(evening),
    )

    bars = service.tables["equities_bars_daily"]
    revised = bars.with_columns(
        pl.when(pl.col("Date") == end).then(pl.col("C") * 2).otherwise(pl.col("C")).alias("C")
    )
    service.tables["equities_bars_daily"] = revised
    service.requests.clear()

    next_morning = dt.datetime(2024, 3, 1, 0, 30, tzinfo=dt.UTC)  # 09:30 JST on 1 March
    report = fetch(
        store,
        client,
        D(2024, 2, 1),
        end,
        ["equities_bars_daily"],
        Plan.PREMIUM,
        progress=False,
        clock=at(next_morning),
    )
    # Only the unsettled units come again: the calendar (February's chunk, March now current,
    # the months ahead in a new month) and the 29th.
    assert service.paths("markets_calendar") == [
        {"from": first.isoformat(), "to": last.isoformat()}
        for first, last in month_chunks(D(2024, 2, 1), D(2025, 12, 31))
    ]
    assert {p["date"] for p in service.paths("equities_bars_daily")} == {"2024-02-29"}
    assert report.results["equities_bars_daily"].fetched == 1

    stored = store.scan("equities_bars_daily").collect()
    expected = revised.filter(pl.col("Date") >= D(2024, 2, 1))
    assert content_hash(stored) == content_hash(expected)
    assert stored.filter(pl.col("Date") == end).height == len(CODES)

    service.requests.clear()
    fetch(
        store,
        client,
        D(2024, 2, 1),
        end,
        ["equities_bars_daily"],
        Plan.PREMIUM,
        progress=False,
        clock=at(next_morning + dt.timedelta(hours=1)),
    )
    assert service.requests == [("/markets/calendar", {"from": "2024-03-01", "to": "2024-03-31"})]


def test_settle_rule():
    day = D(2024, 2, 29)
    assert settle_time(day) == dt.datetime(2024, 3, 1, 0, 0, tzinfo=dt.UTC)  # 09:00 JST
    assert needs_fetch(None)


def test_datasets_the_plan_lacks_are_skipped_without_requests(store, service):
    with make_client(service, plan=Plan.LIGHT) as light:
        report = fetch(
            store,
            light,
            *JAN_FEB,
            ["markets_margin_alert", "indices_topix"],
            Plan.LIGHT,
            progress=False,
            clock=at(SETTLED),
        )
    assert report.results["markets_margin_alert"].skipped == (
        "needs the standard plan, this is the light plan"
    )
    assert service.paths("markets_margin_alert") == []
    assert store.scan("indices_topix").collect().height == service.tables["indices_topix"].height
    assert any("markets_margin_alert: skipped" in m for m in report.messages)


def test_server_side_refusal_skips_the_dataset_and_goes_on(store):
    service = TinyV2(market_tables(), plan=Plan.LIGHT)
    with make_client(service, plan=Plan.PREMIUM) as client:
        report = fetch(
            store,
            client,
            *JAN_FEB,
            ["markets_margin_alert", "indices_topix"],
            Plan.PREMIUM,
            progress=False,
            clock=at(SETTLED),
        )
    assert len(service.paths("markets_margin_alert")) == 1
    assert "refused it for this plan" in report.results["markets_margin_alert"].skipped
    assert store.catalog.units("markets_margin_alert") == []
    assert stored_equals_served(store, service, "indices_topix")


def test_free_plan_window_limits_the_days_requested(store, service):
    today = D(2024, 4, 15)  # Free window ends 12 weeks earlier: 2024-01-22
    with make_client(service, plan=Plan.FREE, today=today) as free:
        report = fetch(
            store,
            free,
            *JAN_FEB,
            ["equities_bars_daily"],
            Plan.FREE,
            progress=False,
            clock=at(dt.datetime(2024, 4, 15, 3, tzinfo=dt.UTC)),
        )
    requested = {p["date"] for p in service.paths("equities_bars_daily")}
    expected = {d.isoformat() for d in business_days(D(2024, 1, 1), D(2024, 1, 22))}
    assert requested == expected
    assert report.results["equities_bars_daily"].notes == [
        "the stored calendar ends on 2024-01-22: days after it are not requested"
    ]
    assert service.paths("markets_calendar") == [{"from": "2024-01-01", "to": "2024-01-22"}]


def test_latest_dataset_only_when_range_reaches_today(store, service, client):
    report = fetch(
        store,
        client,
        *JAN_FEB,
        ["equities_earnings_calendar"],
        Plan.PREMIUM,
        progress=False,
        clock=at(SETTLED),
    )
    assert "serves only the latest data" in report.results["equities_earnings_calendar"].skipped
    assert service.paths("equities_earnings_calendar") == []

    today_evening = dt.datetime(2024, 2, 29, 10, tzinfo=dt.UTC)
    fetch(
        store,
        client,
        *JAN_FEB,
        ["equities_earnings_calendar"],
        Plan.PREMIUM,
        progress=False,
        clock=at(today_evening),
    )
    assert service.paths("equities_earnings_calendar") == [{}]
    record = store.catalog.get("equities_earnings_calendar", "2024-02-29")
    assert record.rows == 1


def test_disc_date_mode_queries_disc_date(store, service, client):
    fetch(
        store,
        client,
        *JAN_FEB,
        ["markets_short_sale_report"],
        Plan.PREMIUM,
        progress=False,
        clock=at(SETTLED),
    )
    params = service.paths("markets_short_sale_report")
    assert all(set(p) == {"disc_date"} for p in params)
    assert len(params) == len(business_days(*JAN_FEB))
    assert stored_equals_served(store, service, "markets_short_sale_report")


def test_2020_10_01_is_requested_and_stored_with_null_bars(store):
    tables = market_tables(D(2020, 9, 28), D(2020, 10, 2))
    bars = tables["equities_bars_daily"]
    tables["equities_bars_daily"] = bars.with_columns(
        pl.when(pl.col("Date") == D(2020, 10, 1)).then(None).otherwise(pl.col("C")).alias("C")
    )
    service = TinyV2(tables)
    with make_client(service) as client:
        fetch(
            store,
            client,
            D(2020, 9, 28),
            D(2020, 10, 2),
            ["equities_bars_daily"],
            Plan.PREMIUM,
            progress=False,
            clock=at(SETTLED),
        )
    halt = store.scan("equities_bars_daily").filter(pl.col("Date") == D(2020, 10, 1)).collect()
    assert halt.height == len(CODES) and halt["C"].null_count() == len(CODES)
    assert store.catalog.get("equities_bars_daily", "2020-10-01").rows == len(CODES)


def test_mixing_sources_is_refused(store, service, client):
    fetch(
        store,
        client,
        *JAN_FEB,
        ["indices_topix"],
        Plan.PREMIUM,
        progress=False,
        clock=at(SETTLED),
        source="synthetic(seed=7,stocks=30,start=2024-01-01)",
    )
    with pytest.raises(
        ValueError, match=r"holds data from .*synthetic.*this fetch is from 'jquants'"
    ):
        fetch(
            store,
            client,
            *JAN_FEB,
            ["indices_topix"],
            Plan.PREMIUM,
            progress=False,
            clock=at(SETTLED),
        )


def test_unknown_dataset_and_reversed_range_are_errors(store, client):
    with pytest.raises(ValueError, match=r"unknown dataset\(s\) \['bars'\]"):
        fetch(store, client, *JAN_FEB, ["bars"], Plan.PREMIUM, progress=False)
    with pytest.raises(ValueError, match="end 2024-01-01 is before start 2024-02-01"):
        fetch(store, client, D(2024, 2, 1), D(2024, 1, 1), None, Plan.PREMIUM, progress=False)


def test_every_dataset_has_a_known_fetch_mode():
    assert {e.fetch_mode for e in ENDPOINTS.values()} <= {"date", "disc_date", "range", "latest"}


def test_units_to_fetch_plans_from_the_store_without_requests(store, service, client):
    datasets = ["equities_bars_daily", "indices_topix"]
    today = SETTLED.date()
    # An empty store: only the calendar is due, the days depend on the calendar it brings.
    due = units_to_fetch(store, *JAN_FEB, datasets, Plan.PREMIUM, today=today)
    assert list(due) == ["markets_calendar"]
    assert [u.key for u in due["markets_calendar"]] == [
        first.strftime("%Y-%m") for first, _ in month_chunks(D(2024, 1, 1), D(2025, 12, 31))
    ]
    assert service.requests == []

    # Fetched once the whole calendar published ahead has settled.
    today = LATE.date()
    fetch(store, client, *JAN_FEB, datasets, Plan.PREMIUM, progress=False, clock=at(LATE))
    assert units_to_fetch(store, *JAN_FEB, datasets, Plan.PREMIUM, today=today) == {}
    with store.catalog._connect() as conn:
        conn.execute("DELETE FROM units WHERE unit_key IN ('2024-02-05', '2024-02-06')")
    due = units_to_fetch(store, *JAN_FEB, datasets, Plan.PREMIUM, today=today)
    assert {k: [u.key for u in v] for k, v in due.items()} == {
        "equities_bars_daily": ["2024-02-05", "2024-02-06"]
    }


def test_a_month_chunk_that_now_reaches_further_is_fetched_again(store, service):
    """A range unit fetched when ``today`` was 15 Feb covers 1-15 Feb; on 29 Feb it is re-fetched
    to 29 Feb even though its stored part had settled. The calendar's chunks stop at
    ``source_end`` (a synthetic market's last day) and grow with it."""
    day15, day29 = D(2024, 2, 15), D(2024, 2, 29)
    late = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    for today in (day15, day29):
        with make_client(service, today=today) as client:
            fetch(
                store,
                client,
                *JAN_FEB,
                ["indices_topix"],
                Plan.PREMIUM,
                progress=False,
                clock=at(late),
                today=today,
                source_end=today,
            )
    firsts = [
        p
        for path, p in service.requests
        if path in ("/markets/calendar", "/indices/bars/daily/topix") and "pagination_key" not in p
    ]
    assert firsts == [
        {"from": "2024-01-01", "to": "2024-01-31"},
        {"from": "2024-02-01", "to": "2024-02-15"},
        {"from": "2024-01-01", "to": "2024-01-31"},
        {"from": "2024-02-01", "to": "2024-02-15"},
        {"from": "2024-02-01", "to": "2024-02-29"},
        {"from": "2024-02-01", "to": "2024-02-29"},
    ]
    assert stored_equals_served(store, service, "indices_topix")
    assert stored_equals_served(store, service, "markets_calendar")
    record = store.catalog.get("indices_topix", "2024-02")
    assert needs_fetch(record, day29) is False and needs_fetch(record, D(2024, 3, 1)) is True


def test_progress_shows_units_left_requests_and_the_pacing_delay(store, service):
    """Free plan, paced on a fake clock: 5 requests a minute -> 12.6 s between requests (x1.05)."""
    now = [0.0]
    out = io.StringIO()
    client = JQuantsClient(
        API_KEY,
        plan=Plan.FREE,
        base_url=BASE_URL,
        transport=ASGISyncTransport(service.app),
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
        today=D(2024, 4, 15),
    )
    with client:
        report = fetch(
            store,
            client,
            D(2024, 1, 4),
            D(2024, 1, 10),
            ["equities_bars_daily"],
            Plan.FREE,
            progress=True,
            clock=at(SETTLED),
            console=Console(file=out, width=200),
        )
    lines = {line.split()[0]: " ".join(line.split()) for line in out.getvalue().splitlines()}
    # 4 trading days, 2 pages each; the calendar's month chunks inside the Free window (one
    # request: the months after it are not sent).
    assert report.results["equities_bars_daily"].requests == 8
    assert "4/4 units, 0 left requests 8 pacing 12.60s" in lines["equities_bars_daily"]
    assert "3/3 units, 0 left requests 1 pacing" in lines["markets_calendar"]
    assert now[0] == pytest.approx(8 * 12.6)


def test_days_before_an_endpoints_coverage_start_are_not_requested(store):
    large, major = "edinet_large_volume_shareholders", "edinet_major_shareholders"
    start, end = D(2021, 6, 21), D(2021, 7, 9)  # large-volume reports from 2021-07-01
    filing = typed(large, {"DocId": ["S1000001"], "Code": ["72030"], "SubDate": [D(2021, 7, 5)]})
    service = TinyV2({"markets_calendar": calendar(start, end), large: filing})
    clock = at(dt.datetime(2021, 7, 20, tzinfo=dt.UTC))
    with make_client(service, plan=Plan.STANDARD, today=D(2021, 7, 20)) as client:
        report = fetch(
            store, client, start, end, [large, major], Plan.STANDARD, progress=False, clock=clock
        )
        early = fetch(
            store,
            client,
            start,
            D(2021, 6, 30),
            [large],
            Plan.STANDARD,
            progress=False,
            clock=clock,
        )
    requested = [p["date"] for p in service.paths(large)]
    assert requested == [d.isoformat() for d in business_days(D(2021, 7, 1), end)]
    assert [p["date"] for p in service.paths(major)] == [
        d.isoformat() for d in business_days(start, end)
    ]
    assert report.results[large].notes == [
        "8 trading day(s) before the coverage start 2021-07-01 of "
        "/edinet/large-volume-shareholders not requested"
    ]
    assert store.scan(large).collect()["DocId"].to_list() == ["S1000001"]
    assert "coverage start" in early.results[large].skipped
    assert dataset_status(store, large).coverage_from == D(2021, 7, 1)  # `store status` says it
    assert ENDPOINTS[major].coverage_from == D(2016, 6, 1)
    assert ENDPOINTS["edinet_cross_shareholdings"].coverage_from == D(2020, 3, 31)
    assert ENDPOINTS[large].coverage_from == D(2021, 7, 1)
