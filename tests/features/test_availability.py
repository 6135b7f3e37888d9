"""Availability rules: hand-checked dates around the 2024-11-05 close-time change and holidays."""

from __future__ import annotations

from datetime import date, time, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gogooku.calendar import TradingCalendar
from gogooku.features.availability import (
    AVAILABILITY,
    SOURCE_AVAILABILITY,
    describe_source,
    with_available_from,
)


@pytest.fixture(scope="module")
def cal() -> TradingCalendar:
    return TradingCalendar.from_xtks(date(2020, 1, 1), date(2024, 12, 31))


def _avail(cal, source, frame):
    return with_available_from(frame, source, cal).collect()["available_from"].to_list()


def test_statement_before_and_after_the_15_00_close(cal):
    # 2024-11-01 (Fri) closes at 15:00; 2024-11-04 is a holiday, so "next day" is 2024-11-05.
    frame = pl.DataFrame(
        {
            "DiscDate": [date(2024, 11, 1)] * 4,
            "DiscTime": ["14:59:00", "15:01:00", "15:00:00", None],
        }
    )
    assert _avail(cal, "fins_summary", frame) == [
        date(2024, 11, 1),
        date(2024, 11, 5),
        date(2024, 11, 5),
        date(2024, 11, 5),
    ]


def test_statement_before_and_after_the_15_30_close(cal):
    frame = pl.DataFrame(
        {"DiscDate": [date(2024, 11, 5)] * 3, "DiscTime": ["15:29:00", "15:31:00", "15:10"]}
    )
    assert _avail(cal, "fins_summary", frame) == [
        date(2024, 11, 5),
        date(2024, 11, 6),
        date(2024, 11, 5),
    ]


def test_statement_on_a_holiday_is_usable_the_next_trading_day(cal):
    frame = pl.DataFrame({"DiscDate": [date(2024, 11, 4)], "DiscTime": ["10:00:00"]})
    assert _avail(cal, "fins_summary", frame) == [date(2024, 11, 5)]


def test_weekly_margin_friday_to_wednesday(cal):
    frame = pl.DataFrame(
        {"Date": [date(2024, 10, 25), date(2024, 11, 1), date(2024, 12, 27)], "PubDate": None},
        schema={"Date": pl.Date, "PubDate": pl.Date},
    )
    # 10-25 Fri -> published Tue 10-29 -> Wed 10-30.
    # 11-01 Fri -> Mon 11-04 holiday -> published Wed 11-06 -> Thu 11-07.
    # 12-27 Fri -> Mon 12-30 open, 12-31..01-03 closed -> published Mon 01-06 -> Tue 01-07 (2025,
    # past this calendar's end, so never usable here).
    assert _avail(cal, "markets_margin_interest", frame) == [date(2024, 10, 30), date(2024, 11, 7)]


def test_margin_interest_regime_is_decided_per_record_across_the_daily_switch():
    """Hand-computed across 2026-09-25..10-02 (09-21..09-23 are holidays): weekly records (no
    PubDate) keep Fri -> 2nd trading day of next week -> day after; daily records are usable the
    trading day after their PubDate."""
    cal = TradingCalendar.from_xtks(date(2026, 9, 1), date(2026, 10, 31))
    frame = pl.DataFrame(
        {
            "Date": [
                date(2026, 9, 18),
                date(2026, 9, 25),
                date(2026, 9, 25),
                date(2026, 9, 28),
                date(2026, 10, 1),
                date(2026, 10, 2),
            ],
            "PubDate": [
                None,
                None,
                date(2026, 9, 28),
                date(2026, 9, 29),
                date(2026, 10, 2),
                date(2026, 10, 5),
            ],
        },
        schema={"Date": pl.Date, "PubDate": pl.Date},
    )
    assert _avail(cal, "markets_margin_interest", frame) == [
        # 09-18 Fri: Mon..Wed closed -> 1st trading day Thu 09-24, published Fri 09-25 -> Mon 09-28.
        date(2026, 9, 28),
        # Same date without PubDate would be weekly: Mon 09-28, published Tue -> Wed 09-30.
        date(2026, 9, 30),
        date(2026, 9, 29),
        date(2026, 9, 30),
        # Published Fri 10-02 -> usable Mon 10-05, not the same evening (time unknown).
        date(2026, 10, 5),
        date(2026, 10, 6),
    ]


def test_next_trading_day_sources(cal):
    frame = pl.DataFrame({"PubDate": [date(2024, 11, 1), date(2024, 11, 5)]})
    for source in (
        "markets_margin_alert",
        "equities_investor_types",
        "fins_dividend",
        "fins_earnings_date",
    ):
        assert _avail(cal, source, frame) == [date(2024, 11, 5), date(2024, 11, 6)]
    disclosed = frame.rename({"PubDate": "DiscDate"})
    assert _avail(cal, "markets_short_sale_report", disclosed) == [
        date(2024, 11, 5),
        date(2024, 11, 6),
    ]
    dated = pl.DataFrame({"Date": [date(2020, 9, 30), date(2020, 10, 2)]})
    for source in ("markets_short_ratio", "options_225", "futures", "markets_breakdown"):
        assert _avail(cal, source, dated) == [date(2020, 10, 1), date(2020, 10, 5)]


def test_same_day_and_master_and_earnings_calendar(cal):
    frame = pl.DataFrame({"Date": [date(2024, 11, 1), date(2024, 11, 5)]})
    for source in ("equities_bars_daily", "indices_topix", "equities_master"):
        assert _avail(cal, source, frame) == [date(2024, 11, 1), date(2024, 11, 5)]
    sched = pl.DataFrame({"Date": [date(2024, 11, 5), date(2024, 11, 4)]})
    assert _avail(cal, "equities_earnings_calendar", sched) == [
        date(2024, 11, 5),
        date(2024, 11, 5),
    ]


def test_every_source_has_a_known_rule_and_a_description():
    for source, (key, _) in SOURCE_AVAILABILITY.items():
        assert key in AVAILABILITY
        assert describe_source(source).startswith(f"{source}: {key}")


def test_missing_column_and_unknown_source_are_named(cal):
    with pytest.raises(ValueError, match=r"fins_summary.*'DiscTime'"):
        with_available_from(pl.DataFrame({"DiscDate": [date(2024, 1, 4)]}), "fins_summary", cal)
    with pytest.raises(KeyError, match="no_such_source"):
        with_available_from(pl.DataFrame({"Date": [date(2024, 1, 4)]}), "no_such_source", cal)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    days=st.lists(st.integers(0, 1400), min_size=1, max_size=30),
    minutes=st.lists(st.one_of(st.none(), st.integers(0, 24 * 60 - 1)), min_size=30, max_size=30),
)
def test_every_rule_gives_a_trading_day_not_before_the_record(cal, days, minutes):
    """Properties: available_from is a trading day on/after the record date; strictly after it
    for next-day rules; a statement is same-day iff disclosed on a trading day before its close."""
    dates = [date(2021, 1, 1) + timedelta(days=d) for d in days]
    times = [None if m is None else f"{m // 60:02d}:{m % 60:02d}:00" for m in minutes[: len(dates)]]
    for source, (key, cols) in SOURCE_AVAILABILITY.items():
        frame = pl.DataFrame({cols.date_col: dates}, schema={cols.date_col: pl.Date})
        if cols.time_col:
            frame = frame.with_columns(pl.Series(cols.time_col, times, dtype=pl.String))
        if cols.pub_col:
            frame = frame.with_columns(pl.lit(None, pl.Date).alias(cols.pub_col))
        out = with_available_from(frame, source, cal).collect()
        for row in out.iter_rows(named=True):
            got, recorded = row["available_from"], row[cols.date_col]
            assert cal.is_trading_day(got) and got >= recorded, (source, recorded, got)
            if key in ("next_trading_day", "weekly_margin", "margin_interest"):
                assert got > recorded, (source, recorded, got)
            if key in ("weekly_margin", "margin_interest"):
                # Published on the 2nd trading day of the next week at the earliest (Tuesday),
                # usable the trading day after: never before the next week's Wednesday.
                next_monday = recorded + timedelta(days=8 - recorded.isoweekday())
                assert got >= next_monday + timedelta(days=2), (recorded, got)
            if key == "statement_disclosure":
                t = row[cols.time_col]
                same = (
                    cal.is_trading_day(recorded)
                    and t is not None
                    and time.fromisoformat(t) < cal.close_time(recorded)
                )
                assert (got == recorded) == same, (recorded, t, got)
