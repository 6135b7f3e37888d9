"""Vintages: a corrected re-fetch keeps the superseded rows with their fetch times, an unchanged one
adds nothing, a crash between the vintage and the month file loses and doubles nothing, and the
point-in-time view reads each record's version held at its decision time (19:00 JST)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gogooku.calendar import TradingCalendar
from gogooku.dataset.point_in_time import PointInTimeStore
from gogooku.store import raw as raw_module
from gogooku.store.raw import RawStore
from gogooku.store.status import dataset_status

from .conftest import calendar as calendar_frame

D = dt.date
BARS = "equities_bars_daily"
UTC = dt.UTC


def at(day: dt.date, hour: int) -> dt.datetime:
    """``hour`` o'clock UTC on ``day`` (19:00 JST, the decision time, is 10:00 UTC)."""
    return dt.datetime.combine(day, dt.time(hour), UTC)


def bars(day: dt.date, closes: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"Date": [day] * len(closes), "Code": list(closes), "C": list(closes.values())},
        schema={"Date": pl.Date, "Code": pl.String, "C": pl.Float64},
    )


def write(store: RawStore, day: dt.date, closes: dict[str, float], fetched: dt.datetime) -> None:
    store.write_unit(BARS, day.isoformat(), bars(day, closes), {}, fetched_at=fetched)


def versions(store: RawStore) -> list[tuple]:
    frame = store.scan_versions(BARS).collect()
    return sorted(frame.select("Code", "C", "_fetched_at", "_superseded_at").rows())


def closes(frame: pl.LazyFrame) -> list[tuple]:
    return sorted(frame.select("Date", "Code", "C").collect().rows())


@pytest.fixture
def store(tmp_path) -> RawStore:
    return RawStore(tmp_path / "raw")


@pytest.fixture(scope="module")
def calendar() -> TradingCalendar:
    return TradingCalendar.from_frame(calendar_frame(D(2024, 1, 1), D(2024, 2, 29)))


def test_corrected_refetch_keeps_the_superseded_rows_with_their_fetch_times(store):
    t1, t2 = at(D(2024, 1, 4), 8), at(D(2024, 1, 5), 0)
    write(store, D(2024, 1, 4), {"1301": 10.0, "1302": 20.0, "1303": 30.0}, t1)
    write(store, D(2024, 1, 4), {"1301": 10.0, "1302": 21.0, "1304": 40.0}, t2)

    assert closes(store.scan(BARS)) == [
        (D(2024, 1, 4), "1301", 10.0),
        (D(2024, 1, 4), "1302", 21.0),
        (D(2024, 1, 4), "1304", 40.0),
    ]
    assert versions(store) == [
        ("1301", 10.0, t1, None),  # unchanged: keeps its first fetch time
        ("1302", 20.0, t1, t2),  # corrected: the old value is a vintage
        ("1302", 21.0, t2, None),
        ("1303", 30.0, t1, t2),  # deleted by the correction
        ("1304", 40.0, t2, None),
    ]
    assert [p.name for p in store.vintage_files(BARS)] == ["2024-01.parquet"]
    assert store.verify(BARS) == []
    assert dataset_status(store, BARS).revised == 2
    store.catalog.delete(BARS, ["2024-01-04"])
    assert store.verify(BARS)[-1] == (
        f"{BARS}/2024-01-04: 2 superseded rows in _vintages/ but no catalog entry"
    )
    assert "_fetched_at" not in store.scan(BARS).collect_schema().names()


def test_unchanged_refetch_adds_no_vintage(store):
    t1, t2 = at(D(2024, 1, 4), 8), at(D(2024, 1, 6), 0)
    write(store, D(2024, 1, 4), {"1301": 10.0, "1302": 20.0}, t1)
    write(store, D(2024, 1, 4), {"1302": 20.0, "1301": 10.0}, t2)

    assert store.vintage_files(BARS) == []
    assert versions(store) == [("1301", 10.0, t1, None), ("1302", 20.0, t1, None)]
    assert store.catalog.get(BARS, "2024-01-04").fetched_at == t2


def test_crash_between_vintage_and_month_file_loses_and_doubles_nothing(store, monkeypatch):
    t1, t2, t3 = at(D(2024, 1, 4), 8), at(D(2024, 1, 5), 0), at(D(2024, 1, 6), 0)
    write(store, D(2024, 1, 4), {"1301": 10.0}, t1)
    real_write = raw_module.atomic_write_parquet

    def crash_on_month_file(path, frame, **options):
        if path.parent.name != "_vintages":
            raise OSError("disk full")
        real_write(path, frame, **options)

    monkeypatch.setattr(raw_module, "atomic_write_parquet", crash_on_month_file)
    with pytest.raises(OSError, match="disk full"):
        write(store, D(2024, 1, 4), {"1301": 11.0}, t2)
    monkeypatch.setattr(raw_module, "atomic_write_parquet", real_write)
    assert store.catalog.get(BARS, "2024-01-04").status == "pending"
    assert closes(store.scan(BARS)) == [(D(2024, 1, 4), "1301", 10.0)]

    # The re-fetch delivers the old value again: the interrupted write's vintage is dropped.
    write(store, D(2024, 1, 4), {"1301": 10.0}, t3)
    assert versions(store) == [("1301", 10.0, t1, None)]
    assert store.vintage_files(BARS) == []

    monkeypatch.setattr(raw_module, "atomic_write_parquet", crash_on_month_file)
    with pytest.raises(OSError, match="disk full"):
        write(store, D(2024, 1, 4), {"1301": 11.0}, t2)
    monkeypatch.setattr(raw_module, "atomic_write_parquet", real_write)
    # The re-fetch delivers the correction: exactly one vintage, superseded by the write that held.
    write(store, D(2024, 1, 4), {"1301": 11.0}, t3)
    assert versions(store) == [("1301", 10.0, t1, t3), ("1301", 11.0, t3, None)]
    assert store.verify(BARS) == []


def test_store_written_before_vintages_dates_its_rows_from_the_last_fetch(store):
    t1, t2 = at(D(2024, 1, 4), 8), at(D(2024, 1, 5), 0)
    write(store, D(2024, 1, 4), {"1301": 10.0}, t1)
    path = store.partitions(BARS)[0]
    pl.read_parquet(path).drop("_fetched_at").write_parquet(path)
    assert closes(store.scan(BARS)) == [(D(2024, 1, 4), "1301", 10.0)]

    write(store, D(2024, 1, 4), {"1301": 11.0}, t2)
    assert versions(store) == [("1301", 10.0, t1, t2), ("1301", 11.0, t2, None)]


def test_removed_units_take_their_vintages_with_them(store):
    write(store, D(2024, 1, 4), {"1301": 10.0}, at(D(2024, 1, 4), 8))
    write(store, D(2024, 1, 4), {"1301": 11.0}, at(D(2024, 1, 5), 8))
    write(store, D(2024, 1, 5), {"1301": 12.0}, at(D(2024, 1, 5), 8))
    write(store, D(2024, 1, 5), {"1301": 13.0}, at(D(2024, 1, 6), 8))
    store.remove_units(BARS, ["2024-01-04"])
    assert versions(store) == [
        ("1301", 12.0, at(D(2024, 1, 5), 8), at(D(2024, 1, 6), 8)),
        ("1301", 13.0, at(D(2024, 1, 6), 8), None),
    ]


def test_point_in_time_reads_the_version_held_at_each_decision_time(store, calendar):
    jan4, jan5, jan9, jan10 = D(2024, 1, 4), D(2024, 1, 5), D(2024, 1, 9), D(2024, 1, 10)
    # Jan 4: fetched 17:00 JST, corrected the next morning (after its 19:00 JST decision time).
    write(store, jan4, {"1301": 10.0, "1302": 20.0}, at(jan4, 8))
    write(store, jan4, {"1301": 11.0}, at(jan5, 0))
    # Jan 5: first fetched days later (a backfill), then corrected: the first version counts.
    write(store, jan5, {"1301": 12.0}, at(jan9, 0))
    write(store, jan5, {"1301": 13.0}, at(jan10, 0))
    # Jan 9: corrected before its decision time, and a record deleted before it.
    write(store, jan9, {"1301": 14.0, "1302": 24.0}, at(jan9, 8))
    write(store, jan9, {"1301": 15.0}, at(jan9, 9))

    view = PointInTimeStore(store, calendar)
    assert closes(view.scan(BARS)) == [
        (jan4, "1301", 10.0),
        (jan4, "1302", 20.0),
        (jan5, "1301", 12.0),
        (jan9, "1301", 15.0),
    ]
    assert closes(store.scan(BARS)) == [
        (jan4, "1301", 11.0),
        (jan5, "1301", 13.0),
        (jan9, "1301", 15.0),
    ]
    assert view.scan(BARS).collect_schema() == store.scan(BARS).collect_schema()


def test_decision_time_follows_the_publication_rule_of_the_source(store, calendar):
    """A statement disclosed after the close is first usable the next trading day, so a
    correction fetched the next morning (09:00 JST, before that 19:00) is the version used."""
    jan31, feb1 = D(2024, 1, 31), D(2024, 2, 1)

    def statement(np_value: float, fetched: dt.datetime) -> None:
        frame = pl.DataFrame(
            {"DiscDate": [jan31], "DiscTime": ["16:00"], "Code": ["1301"], "DiscNo": ["1"]},
        ).with_columns(pl.lit(np_value).alias("NP"))
        store.write_unit("fins_summary", jan31.isoformat(), frame, {}, fetched_at=fetched)

    statement(1.0, at(jan31, 9))
    statement(2.0, at(feb1, 0))
    statement(3.0, at(feb1, 11))
    view = PointInTimeStore(store, calendar)
    assert view.scan("fins_summary").select("NP").collect()["NP"].to_list() == [2.0]
    assert store.scan("fins_summary").select("NP").collect()["NP"].to_list() == [3.0]


DAYS = [D(2024, 1, 4), D(2024, 1, 5), D(2024, 1, 31), D(2024, 2, 1)]
WRITES = st.lists(
    st.tuples(
        st.sampled_from(DAYS),
        st.dictionaries(st.sampled_from(["1301", "1302"]), st.sampled_from([1.0, 2.0]), max_size=2),
        st.integers(-30, 60),
    ),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(writes=WRITES, late=st.lists(st.tuples(st.sampled_from(DAYS), st.booleans()), max_size=2))
def test_a_correction_fetched_after_every_decision_time_changes_no_point_in_time_row(
    tmp_path_factory, calendar, writes, late
):
    """Writes at hours around each day's decision time, then corrections (new values or
    deletions of the records held) fetched months after: the point-in-time rows stay, the
    latest rows show the corrections."""
    store = RawStore(tmp_path_factory.mktemp("raw"))
    clock = at(D(2023, 12, 1), 0)
    for day, prices, hours in writes:
        clock = max(clock + dt.timedelta(minutes=1), at(day, 0) + dt.timedelta(hours=hours))
        write(store, day, prices, clock)
    view = PointInTimeStore(store, calendar)
    before = closes(view.scan(BARS))
    for n, (day, delete) in enumerate(late):
        held = [code for d, code, _ in closes(store.scan(BARS)) if d == day]
        write(store, day, {} if delete else dict.fromkeys(held, 100.0 + n), at(D(2024, 5, 1), n))
        latest = [c for d, _, c in closes(store.scan(BARS)) if d == day]
        assert latest == ([] if delete else [100.0 + n] * len(held))
    assert closes(view.scan(BARS)) == before


def expected_at_decision(writes: list[tuple[dt.datetime, dict[str, float]]], day: dt.date) -> dict:
    """The reference: per code, its value in the last write fetched by 19:00 JST on ``day`` (gone
    if that write lacks it) when some write by then held it, else its value in the first write."""
    decision = at(day, 10)
    known = [prices for fetched, prices in writes if fetched <= decision]
    codes = {code for _, prices in writes for code in prices}
    out = {}
    for code in codes:
        if any(code in prices for prices in known):
            if code in known[-1]:
                out[code] = known[-1][code]
        else:
            out[code] = next(prices[code] for _, prices in writes if code in prices)
    return out


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    history=st.lists(
        st.tuples(
            st.integers(-20, 40),
            st.dictionaries(
                st.sampled_from(["1301", "1302", "1303"]), st.sampled_from([1.0, 2.0]), max_size=3
            ),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_point_in_time_equals_replaying_the_fetches_up_to_the_decision_time(
    tmp_path_factory, calendar, history
):
    day = D(2024, 1, 5)
    store = RawStore(tmp_path_factory.mktemp("raw"))
    writes, clock = [], at(D(2024, 1, 3), 0)
    for hours, prices in history:
        clock = max(clock + dt.timedelta(minutes=1), at(day, 0) + dt.timedelta(hours=hours))
        write(store, day, prices, clock)
        writes.append((clock, prices))
    got = {code: c for _, code, c in closes(PointInTimeStore(store, calendar).scan(BARS))}
    assert got == expected_at_decision(writes, day)
