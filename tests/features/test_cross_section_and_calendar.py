"""Sector aggregates, sector ids, calendar flags, limit and split events."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gogooku.calendar import TradingCalendar
from gogooku.features import calendar_flags, limits, liquidity, sector


@pytest.fixture(scope="module")
def calendar() -> TradingCalendar:
    return TradingCalendar.from_xtks(date(2022, 6, 1), date(2024, 6, 30))


def _row(out: pl.DataFrame, code: str, day: date) -> dict:
    return out.filter((pl.col("Code") == code) & (pl.col("Date") == day)).row(0, named=True)


def test_sector_returns_exclude_members_without_a_return(
    calendar, make_base, make_no_trade, make_context
):
    days = calendar.days(date(2023, 1, 4), date(2023, 3, 31))
    sectors = {
        "10010": ("3650", "9"),
        "10020": ("3650", "9"),
        "10030": ("3650", "9"),
        "20010": ("7050", "15"),
    }
    base = make_base(list(sectors), days, seed=2, sectors=sectors)
    day = days[30]
    base = make_no_trade(base, [("10030", day)])
    out = sector.BLOCK.compute(make_context(base, calendar)).collect()
    c = {
        code: base.filter(pl.col("Code") == code)["AdjC"].to_list()
        for code in ("10010", "10020", "20010")
    }
    r_a = c["10010"][30] / c["10010"][29] - 1
    r_b = c["10020"][30] / c["10020"][29] - 1
    r_other = c["20010"][30] / c["20010"][29] - 1
    a = _row(out, "10010", day)
    assert a["sec33_ret_1d"] == pytest.approx((r_a + r_b) / 2, rel=1e-5)
    assert a["sec33_n"] == 3  # listed members, traded or not
    assert a["sec33_breadth_1d"] == pytest.approx(((r_a > 0) + (r_b > 0)) / 2)
    assert a["ret_1d_rel_sec33"] == pytest.approx(r_a - (r_a + r_b) / 2, rel=1e-4, abs=1e-7)
    assert a["mkt_ew_ret_1d"] == pytest.approx((r_a + r_b + r_other) / 3, rel=1e-5)
    missing = _row(out, "10030", day)
    assert missing["ret_1d_rel_sec33"] is None
    assert missing["sec33_ret_1d"] == pytest.approx(a["sec33_ret_1d"])
    other = _row(out, "20010", day)
    assert other["sec33_ret_1d"] == pytest.approx(r_other, rel=1e-5)
    assert other["sec33_disp_1d"] is None  # one member: no dispersion


def test_sector_vol_skips_the_halt_and_uses_sector_dates(calendar, make_base, make_context):
    cal = TradingCalendar.from_xtks(date(2020, 6, 1), date(2021, 3, 31))
    days = cal.days(date(2020, 8, 3), date(2020, 12, 30))
    base = make_base(["10010", "10020"], days, seed=4)
    out = sector.BLOCK.compute(make_context(base, cal)).collect()
    halt = out.filter(pl.col("Date") == date(2020, 10, 1))
    assert halt["sec33_ret_1d"].is_null().all()
    assert halt["sec33_n"].to_list() == [2, 2]
    after = out.filter(pl.col("Date") == date(2020, 10, 2))
    assert after["sec33_vol_20d"].is_not_null().all()
    series = (
        out.filter(pl.col("Code") == "10010", pl.col("sec33_ret_1d").is_not_null())
        .select("Date", "sec33_ret_1d", "sec33_vol_20d")
        .with_columns(
            (pl.col("sec33_ret_1d").cast(pl.Float64).rolling_std(20) * 245**0.5).alias("want")
        )
    )
    tail = series.tail(30)
    for got, want in zip(tail["sec33_vol_20d"], tail["want"], strict=True):
        assert got == pytest.approx(want, rel=1e-4)


def test_sector_ids_come_from_the_code_tables_and_ignore_data_order():
    frame = pl.DataFrame(
        {
            "S33": ["0050", "9999", "3650", None, "1234"],
            "S17": ["1", "99", "9", "17", "18"],
            "Mkt": ["0101", "0113", "0111", None, "9999"],
        }
    )
    ids = frame.select(
        sector.code_id("S33", sector.S33_CODES).alias("s33"),
        sector.code_id("S17", sector.S17_CODES).alias("s17"),
        sector.code_id("Mkt", sector.MARKET_CODES).alias("mkt"),
    )
    assert ids["s33"].to_list() == [1, 34, 16, 0, 0]
    assert ids["s17"].to_list() == [1, 18, 9, 17, 0]
    assert ids["mkt"].to_list() == [1, 10, 8, 0, 0]
    reordered = frame.reverse().select(sector.code_id("S33", sector.S33_CODES))
    assert reordered.to_series().to_list() == [0, 0, 16, 34, 1]
    assert len(set(sector.S33_CODES)) == 34 and len(set(sector.S17_CODES)) == 18


def test_sector_ids_do_not_depend_on_which_stocks_are_present(calendar, make_base, make_context):
    days = calendar.days(date(2023, 1, 4), date(2023, 1, 31))
    sectors = {"10010": ("9050", "10"), "20010": ("0050", "1")}
    full = make_base(list(sectors), days, sectors=sectors)
    only = full.filter(pl.col("Code") == "10010")
    ids_full = (
        sector.BLOCK.compute(make_context(full, calendar))
        .collect()
        .filter(pl.col("Code") == "10010")["sector33_id"]
    )
    ids_only = sector.BLOCK.compute(make_context(only, calendar)).collect()["sector33_id"]
    assert ids_full.to_list() == ids_only.to_list() == [33] * len(days)


@pytest.fixture(scope="module")
def flags(calendar) -> pl.DataFrame:
    return calendar_flags.calendar_frame(calendar.frame())


def _day(flags: pl.DataFrame, day: date) -> dict:
    return flags.filter(pl.col("Date") == day).row(0, named=True)


def test_month_and_quarter_ends_use_trading_days(flags):
    # 2023-09-30 is a Saturday: the last trading day of September 2023 is Friday the 29th.
    end = _day(flags, date(2023, 9, 29))
    assert end["is_month_end"] and end["is_quarter_end"]
    assert end["days_to_month_end"] == 0 and end["day_of_week"] == 5
    assert end["days_to_next_session"] == 3
    assert not _day(flags, date(2023, 9, 28))["is_month_end"]
    assert _day(flags, date(2023, 9, 27))["days_to_month_end"] == 2
    start = _day(flags, date(2023, 10, 2))
    assert start["is_month_start"] and start["trading_day_of_month"] == 1
    assert start["days_since_prev_session"] == 3
    # Year end: 2023-12-29 (Fri) is the last session; the next is 2024-01-04.
    ye = _day(flags, date(2023, 12, 29))
    assert ye["is_month_end"] and ye["is_quarter_end"] and ye["days_to_next_session"] == 6
    oct_end = _day(flags, date(2023, 10, 31))
    assert oct_end["is_month_end"] and not oct_end["is_quarter_end"]


def test_sq_day_moves_to_the_previous_trading_day_when_the_friday_is_a_holiday(flags):
    # August 2023: second Friday is the 11th, Mountain Day; SQ is Thursday the 10th.
    assert _day(flags, date(2023, 8, 10))["is_sq_day"]
    assert not _day(flags, date(2023, 8, 10))["is_major_sq_day"]
    assert _day(flags, date(2023, 8, 7))["days_to_sq"] == 3
    assert _day(flags, date(2023, 8, 14))["days_to_sq"] > 0
    sep = _day(flags, date(2023, 9, 8))
    assert sep["is_sq_day"] and sep["is_major_sq_day"] and sep["days_to_sq"] == 0
    assert flags.filter(pl.col("Date").dt.strftime("%Y-%m") == "2023-05")["is_sq_day"].sum() == 1
    sq_days = flags.filter(pl.col("is_sq_day"))["Date"]
    assert sq_days.dt.month().n_unique() == 12
    assert date(2024, 3, 8) in sq_days.to_list()


def test_flags_that_need_days_past_the_calendar_are_null(flags, calendar):
    last = _day(flags, calendar.last)
    assert last["is_month_end"] is None and last["days_to_next_session"] is None
    first = _day(flags, calendar.first)
    assert first["is_month_start"] is None and first["trading_day_of_month"] is None


def test_validity_flags_and_halt_flag(make_base, make_no_trade, make_context):
    cal = TradingCalendar.from_xtks(date(2020, 6, 1), date(2021, 3, 31))
    days = cal.days(date(2020, 9, 1), date(2020, 12, 30))
    base = make_no_trade(make_base(["10010"], days), [("10010", date(2020, 10, 15))])
    out = calendar_flags.BLOCK.compute(make_context(base, cal)).collect()
    halt = _row(out, "10010", date(2020, 10, 1))
    assert halt["is_halt_20201001"] and not halt["is_5d_valid"]
    assert out.filter(pl.col("is_halt_20201001"))["Date"].to_list() == [date(2020, 10, 1)]
    traded_before = [d for d in days if d not in (date(2020, 10, 1), date(2020, 10, 15))]
    sixth = traded_before[5]
    assert not _row(out, "10010", traded_before[4])["is_5d_valid"]
    assert _row(out, "10010", sixth)["is_5d_valid"]
    assert not _row(out, "10010", date(2020, 10, 15))["is_20d_valid"]


def _event_base(calendar, rebuild_base, ul, ll, factor):
    n = len(ul)
    days = calendar.days(date(2023, 1, 4), date(2023, 3, 31))[:n]
    close = [None if f is None else 100.0 for f in factor]
    return rebuild_base(
        pl.DataFrame(
            {
                "Code": ["13010"] * n,
                "Date": days,
                "O": close,
                "H": [None if c is None else 101.0 for c in close],
                "L": [None if c is None else 99.0 for c in close],
                "C": close,
                "Vo": [None if c is None else 10.0 for c in close],
                "Va": [None if c is None else 1000.0 for c in close],
                "UL": ul,
                "LL": ll,
                "AdjFactor": [1.0 if f is None else f for f in factor],
                "S33": ["3650"] * n,
                "S17": ["9"] * n,
                "Mkt": ["0111"] * n,
                "ScaleCat": ["-"] * n,
                "topix_C": [2000.0] * n,
                "topix_O": [2000.0] * n,
                "topix_H": [2000.0] * n,
                "topix_L": [2000.0] * n,
            },
            schema_overrides={"O": pl.Float64, "C": pl.Float64},
        )
    )


def test_limit_streaks_counts_and_split_distances(calendar, rebuild_base, make_context):
    ul = [False, True, True, False, True, True, True, False]
    ll = [False, False, False, True, False, False, False, False]
    factor = [1.0, 1.0, 0.5, 1.0, None, 1.0, 2.0, 1.0]  # row 4: no trade
    base = _event_base(calendar, rebuild_base, ul, ll, factor)
    out = limits.BLOCK.compute(make_context(base, calendar)).collect()
    assert out["limit_up_flag"].to_list() == [False, True, True, False, None, True, True, False]
    # The no-trade row (4) is skipped: the streak continues over it.
    assert out["limit_up_streak"].to_list() == [0, 1, 2, 0, None, 1, 2, 0]
    assert out["limit_down_streak"].to_list() == [0, 0, 0, 1, None, 0, 0, 0]
    assert out["days_since_limit"].to_list() == [None, 0, 0, 0, None, 0, 0, 1]
    assert out["split_flag"].to_list() == [False, False, True, False, False, False, True, False]
    assert out["reverse_split_flag"].to_list() == [False] * 6 + [True, False]
    assert out["days_since_split"].to_list() == [None, None, 0, 1, 2, 3, 0, 1]
    assert out["limit_up_cnt_20d"].is_null().all()


def test_unknown_limit_flags_give_null_streaks(calendar, rebuild_base, make_context):
    ul = [False, True, None, True]
    base = _event_base(calendar, rebuild_base, ul, [False] * 4, [1.0] * 4)
    out = limits.BLOCK.compute(make_context(base, calendar)).collect()
    assert out["limit_up_flag"].to_list() == [False, True, None, True]
    assert out["limit_up_streak"].to_list() == [0, 1, None, 1]


def test_no_trade_counts_exclude_the_market_halt(make_base, make_no_trade, make_context):
    cal = TradingCalendar.from_xtks(date(2020, 6, 1), date(2021, 3, 31))
    days = cal.days(date(2020, 9, 1), date(2020, 12, 30))
    gaps = [date(2020, 10, 5), date(2020, 10, 6), date(2020, 10, 20)]
    base = make_no_trade(make_base(["10010"], days), [("10010", d) for d in gaps])
    out = liquidity.BLOCK.compute(make_context(base, cal)).collect()
    row = _row(out, "10010", date(2020, 10, 20))
    assert row["notrade_cnt_20d"] == 3  # 2020-10-01 is inside the window but not counted
    assert row["days_since_trade"] == 1 and row["turnover_log"] is None
    assert _row(out, "10010", date(2020, 10, 6))["days_since_trade"] == 2
    assert _row(out, "10010", date(2020, 10, 7))["days_since_trade"] == 0


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.dates(date(2023, 7, 3), date(2024, 3, 1)))
# The SQ Friday 2023-08-11 was a holiday: on a calendar ending the day before, 08-10 may be SQ.
@example(cut=date(2023, 8, 10))
@example(cut=date(2023, 9, 29))
def test_flags_of_a_shorter_calendar_are_the_full_values_or_null(flags, calendar, cut):
    """A calendar ending at ``cut`` (a store's calendar before the months ahead were fetched)
    gives every flag of the full calendar, or null where the answer needs days past ``cut``."""
    short = calendar_flags.calendar_frame(calendar.frame().filter(pl.col("Date") <= cut))
    full = flags.filter(pl.col("Date").is_between(short["Date"][0], cut))
    assert short["Date"].equals(full["Date"])
    for column in short.columns:
        known = short[column].is_not_null()
        assert short[column].filter(known).equals(full[column].filter(known)), column
