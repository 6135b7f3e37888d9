"""TradingCalendar against exchange_calendars XTKS and the J-Quants HolDiv convention."""

from __future__ import annotations

from datetime import date, time

import polars as pl
import pytest

from gogooku.calendar import CalendarError, TradingCalendar

# Sessions per year from /work/shared/reference/packages.md §2 (XTKS, without 2020-10-01).
XTKS_SESSIONS = {2019: 241, 2020: 242, 2021: 245, 2022: 244, 2023: 246, 2024: 245}


@pytest.fixture(scope="module")
def xtks() -> TradingCalendar:
    return TradingCalendar.from_xtks(date(2019, 1, 1), date(2024, 12, 31))


def test_sessions_per_year_match_xtks_plus_halt_day(xtks):
    for year, sessions in XTKS_SESSIONS.items():
        expected = sessions + (1 if year == 2020 else 0)
        assert xtks.count(date(year, 1, 1), date(year, 12, 31)) == expected, year


def test_halt_day_is_a_trading_day_flagged_as_halt(xtks):
    assert xtks.is_trading_day(date(2020, 10, 1))
    assert xtks.is_halt(date(2020, 10, 1))
    assert not xtks.is_halt(date(2020, 10, 2))
    assert xtks.next_bd(date(2020, 9, 30)) == date(2020, 10, 1)
    assert xtks.prev_bd(date(2020, 10, 2)) == date(2020, 10, 1)


def test_era_change_and_2024_closures(xtks):
    for closed in [date(2019, 4, 30), date(2019, 5, 1), date(2019, 5, 6), date(2019, 10, 22)]:
        assert not xtks.is_trading_day(closed)
    assert xtks.next_bd(date(2019, 4, 26)) == date(2019, 5, 7)
    weekday_closures = [
        d
        for d in pl.date_range(date(2024, 1, 1), date(2024, 12, 31), eager=True).to_list()
        if d.weekday() < 5 and not xtks.is_trading_day(d)
    ]
    assert len(weekday_closures) == 17
    assert date(2024, 11, 4) in weekday_closures and date(2024, 12, 31) in weekday_closures


def test_offsets_and_ranges(xtks):
    assert xtks.offset(date(2024, 11, 1), 1) == date(2024, 11, 5)
    assert xtks.offset(date(2024, 11, 5), -1) == date(2024, 11, 1)
    assert xtks.offset(date(2024, 11, 5), 0) == date(2024, 11, 5)
    assert xtks.days(date(2024, 11, 1), date(2024, 11, 6)) == [
        date(2024, 11, 1),
        date(2024, 11, 5),
        date(2024, 11, 6),
    ]
    assert xtks.on_or_after(date(2024, 11, 2)) == date(2024, 11, 5)
    assert xtks.on_or_before(date(2024, 11, 4)) == date(2024, 11, 1)
    with pytest.raises(CalendarError, match="2024-11-04 is not a trading day"):
        xtks.offset(date(2024, 11, 4), 1)
    with pytest.raises(CalendarError, match="no trading day after 2024-12-30"):
        xtks.next_bd(date(2024, 12, 30))


def test_close_time_changes_on_2024_11_05(xtks):
    assert xtks.close_time(date(2024, 11, 1)) == time(15, 0)
    assert xtks.close_time(date(2024, 11, 5)) == time(15, 30)
    frame = pl.DataFrame({"d": [date(2024, 11, 1), date(2024, 11, 5)]})
    out = frame.select(xtks.close_time_expr(pl.col("d")).alias("t"))["t"].to_list()
    assert out == [time(15, 0), time(15, 30)]


def test_expression_helpers_match_scalar_methods(xtks):
    probe = [date(2019, 4, 26), date(2020, 9, 30), date(2024, 11, 2), date(2024, 12, 30), None]
    out = pl.DataFrame({"d": probe}).select(
        nxt=xtks.next_bd_expr(pl.col("d")), onafter=xtks.on_or_after_expr(pl.col("d"))
    )
    assert out["nxt"].to_list() == [
        date(2019, 5, 7),
        date(2020, 10, 1),
        date(2024, 11, 5),
        None,
        None,
    ]
    assert out["onafter"].to_list() == [
        date(2019, 4, 26),
        date(2020, 9, 30),
        date(2024, 11, 5),
        date(2024, 12, 30),
        None,
    ]


def test_from_holdiv_frame_uses_business_and_half_days():
    frame = pl.DataFrame(
        {
            "Date": [date(2024, 1, d) for d in range(1, 8)],
            "HolDiv": ["0", "0", "0", "2", "1", "0", "3"],
        }
    )
    cal = TradingCalendar.from_frame(frame)
    assert cal.days(date(2024, 1, 1), date(2024, 1, 7)) == [date(2024, 1, 4), date(2024, 1, 5)]
    assert cal.close_time(date(2024, 1, 4)) == time(11, 30)
    assert cal.close_time(date(2024, 1, 5)) == time(15, 0)


def test_store_calendar_agrees_with_xtks_fallback(xtks):
    """A J-Quants-style calendar (2020-10-01 business day) gives the same days as the fallback."""
    all_days = pl.date_range(date(2019, 1, 1), date(2024, 12, 31), eager=True)
    trading = set(xtks.days(date(2019, 1, 1), date(2024, 12, 31)))
    frame = pl.DataFrame({"Date": all_days}).with_columns(
        HolDiv=pl.col("Date")
        .is_in(sorted(trading))
        .cast(pl.String)
        .replace({"true": "1", "false": "0"})
    )
    from_api = TradingCalendar.from_frame(frame)
    assert from_api.days(date(2019, 1, 1), date(2024, 12, 31)) == xtks.days(
        date(2019, 1, 1), date(2024, 12, 31)
    )


def test_empty_calendar_is_an_error():
    with pytest.raises(CalendarError, match="empty trading calendar"):
        TradingCalendar.from_frame(pl.DataFrame({"Date": [date(2024, 1, 1)], "HolDiv": ["0"]}))
