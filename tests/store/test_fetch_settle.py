"""The settle rule follows each dataset's publication: a unit fetched before its data was published
is stored empty but not settled, and a later fetch fills it.

The in-test service publishes like J-Quants: a row is served only from 16:30 JST of its
publication day, taken from the data itself (``PubDate`` where the row has one; for a weekly
margin row, the 2nd trading day on or after the following Monday), not from the rule under test.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.calendar import TradingCalendar
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.jquants.publication import PUBLICATION, publication_day, regime
from gogooku.settings import Plan
from gogooku.store.fetch import JST, fetch, settle_time
from gogooku.store.raw import RawStore

from .conftest import TinyV2, make_client

D = dt.date
MARGIN, INVESTORS = "markets_margin_interest", "equities_investor_types"
START, END = D(2026, 9, 14), D(2026, 10, 2)
PUBLISHED_AT = dt.time(16, 30)


def _published(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Each table with a ``_pub`` column: the day J-Quants publishes the row."""
    calendar = tables["markets_calendar"]
    days = calendar.filter(pl.col("HolDiv").is_in(["1", "2"]))["Date"].sort().to_list()
    margin = tables[MARGIN]

    def weekly(day: D) -> D:
        monday = day + dt.timedelta(days=7 - day.weekday())
        return days[bisect.bisect_left(days, monday) + 1]

    weekly_dates = margin.filter(pl.col("PubDate").is_null())["Date"].unique().to_list()
    second_day = {day: weekly(day) for day in weekly_dates}
    return {
        MARGIN: margin.with_columns(
            pl.coalesce(
                "PubDate",
                pl.col("Date").replace_strict(second_day, default=None, return_dtype=pl.Date),
            ).alias("_pub")
        ),
        INVESTORS: tables[INVESTORS].with_columns(pl.col("PubDate").alias("_pub")),
    }


class Published(dict):
    """Tables as served at ``now``: rows whose publication (16:30 JST of ``_pub``) has passed."""

    def __init__(self, calendar: pl.DataFrame, tables: dict[str, pl.DataFrame]) -> None:
        super().__init__(markets_calendar=calendar)
        self.full = tables
        self.now = dt.datetime.min.replace(tzinfo=JST)

    def get(self, dataset, default=None):
        if dataset not in self.full:
            return super().get(dataset, default)
        local = self.now.astimezone(JST)
        last = local.date() if local.time() >= PUBLISHED_AT else local.date() - dt.timedelta(1)
        return self.full[dataset].filter(pl.col("_pub") <= last).drop("_pub")


@pytest.fixture
def published(switch_market) -> Published:
    tables = switch_market.tables
    return Published(tables["markets_calendar"], _published(tables))


def _fetch(store: RawStore, service: TinyV2, tables: Published, moment: dt.datetime):
    tables.now = moment
    today = moment.astimezone(JST).date()
    with make_client(service, today=today) as client:
        return fetch(
            store,
            client,
            START,
            END,
            [MARGIN, INVESTORS],
            Plan.PREMIUM,
            progress=False,
            clock=lambda: moment,
            today=today,
        )


def _jst(day: D, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), JST)


def _rows(store: RawStore, dataset: str, column: str, day: D) -> int:
    return store.scan(dataset).filter(pl.col(column) == day).collect().height


def _requested(service: TinyV2, dataset: str) -> set[str]:
    return {p.get("date", p.get("from")) for p in service.paths(dataset)}


def test_weekly_and_daily_margin_units_fetched_before_publication_are_fetched_again(
    tmp_path, published
):
    store, service = RawStore(tmp_path / "raw"), TinyV2(published)
    friday, first_daily = D(2026, 9, 18), D(2026, 9, 25)
    # Friday 18th: the next week's Monday to Wednesday are holidays, published Fri 25th 16:30.
    assert published.full[MARGIN].filter(pl.col("Date") == friday)["_pub"][0] == D(2026, 9, 25)

    _fetch(store, service, published, _jst(D(2026, 9, 19)))
    assert _rows(store, MARGIN, "Date", friday) == 0
    record = store.catalog.get(MARGIN, friday.isoformat())
    assert record is not None and record.committed
    # The old rule (09:00 JST the next day) called this empty unit final: a silent hole.
    assert record.fetched_at >= settle_time(friday)

    service.requests.clear()
    _fetch(store, service, published, _jst(D(2026, 9, 25)))  # 10:00, before the 16:30 release
    assert friday.isoformat() in _requested(service, MARGIN)
    assert _rows(store, MARGIN, "Date", friday) == 0

    _fetch(store, service, published, _jst(D(2026, 9, 26)))
    assert _rows(store, MARGIN, "Date", friday) == 21
    # Daily regime: Date 25th is published on the next business day (Mon 28th).
    assert _rows(store, MARGIN, "Date", first_daily) == 0

    _fetch(store, service, published, _jst(D(2026, 9, 29)))
    assert _rows(store, MARGIN, "Date", first_daily) == 21
    assert _rows(store, MARGIN, "Date", D(2026, 9, 28)) == 0  # published today at 16:30

    service.requests.clear()
    later = _jst(D(2026, 10, 9))
    _fetch(store, service, published, later)
    requested = _requested(service, MARGIN)
    assert friday.isoformat() not in requested and first_daily.isoformat() not in requested
    served = published.get(MARGIN).filter(pl.col("Date").is_between(START, END))
    assert store.scan(MARGIN).collect().sort("Date", "Code").equals(served.sort("Date", "Code"))
    # Settled everywhere now: the same fetch again requests no margin unit.
    service.requests.clear()
    _fetch(store, service, published, later)
    assert service.paths(MARGIN) == []


def test_investor_types_keyed_by_publication_date_are_filled_on_the_next_run(tmp_path, published):
    store, service = RawStore(tmp_path / "raw"), TinyV2(published)
    pub_days = published.full[INVESTORS].filter(pl.col("PubDate").is_between(START, END))
    pub = pub_days["PubDate"].min()

    _fetch(store, service, published, _jst(pub))  # 10:00 of the publication day
    assert _rows(store, INVESTORS, "PubDate", pub) == 0
    _fetch(store, service, published, _jst(pub + dt.timedelta(days=1)))
    assert (
        _rows(store, INVESTORS, "PubDate", pub) == pub_days.filter(pl.col("PubDate") == pub).height
    )


def test_every_catalogue_dataset_has_a_publication_entry_with_a_source():
    assert set(PUBLICATION) == set(ENDPOINTS)
    for regimes in PUBLICATION.values():
        assert [r.since for r in regimes] == sorted({r.since for r in regimes})
        assert all(r.source and r.business_days >= 0 for r in regimes)


def test_margin_publication_day_by_regime(switch_market):
    calendar = TradingCalendar.from_frame(switch_market.tables["markets_calendar"])
    assert regime(MARGIN, D(2026, 9, 24)).business_days == 2
    assert publication_day(MARGIN, D(2026, 9, 11), calendar) == D(2026, 9, 15)
    assert publication_day(MARGIN, D(2026, 10, 2), calendar) == D(2026, 10, 5)
    assert publication_day(MARGIN, calendar.last, calendar) is None
    assert publication_day("equities_bars_daily", D(2026, 9, 19), None) == D(2026, 9, 19)


@functools.cache
def _xtks() -> TradingCalendar:
    return TradingCalendar.from_xtks(D(2026, 1, 1), D(2027, 12, 31))


@settings(max_examples=200, deadline=None)
@given(
    dataset=st.sampled_from(sorted(PUBLICATION)),
    first=st.dates(D(2026, 1, 1), D(2027, 11, 30)),
    gap=st.integers(0, 20),
)
def test_publication_day_is_on_or_after_the_date_and_never_earlier_for_a_later_date(
    dataset, first, gap
):
    """What a month unit relies on: its last date is published last."""
    second = first + dt.timedelta(days=gap)
    early = publication_day(dataset, first, _xtks())
    late = publication_day(dataset, second, _xtks())
    assert first <= early <= late
