"""``td_*``: TDnet disclosure counts over 5/20 sessions, recency and timing, against hand values
and a brute-force count of random disclosure streams."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gogooku.features.tdnet import BLOCK

from .conftest import run_block, typed, value

A, B = "13010", "72030"


def _base(codes: list[str], window: list[date]) -> pl.DataFrame:
    return pl.DataFrame(
        {"Code": [c for c in codes for _ in window], "Date": window * len(codes)},
        schema={"Code": pl.String, "Date": pl.Date},
    ).sort("Code", "Date")


def _record(code: str, day: date, hhmm: str, disc_items: str, n: int) -> dict:
    return {
        "DiscNo": f"{day:%Y%m%d}{n:06d}",
        "Code": code,
        "DiscDate": day,
        "DiscTime": hhmm,
        "Title": "t",
        "RevNo": "1",
        "DiscItems": disc_items,
        "Docs": "g",
    }


@pytest.fixture(scope="module")
def window(days) -> list[date]:
    return days[:40]


@pytest.fixture(scope="module")
def saturday(window) -> date:
    return next(d + timedelta(days=1) for d in window[20:] if d.weekday() == 4)


@pytest.fixture(scope="module")
def td(calendar, window, saturday) -> pl.DataFrame:
    w = window
    rows = [
        _record(A, w[10], "15:00", "101", 1),  # at the 15:00 close (2020): usable w[11]
        _record(A, w[12], "14:00", "201", 2),  # intraday: usable the same day
        _record(A, w[15], "08:00", "401", 3),  # pre-open: usable the same day
        _record(A, w[15], "16:00", "999", 4),  # after the close: usable w[16]
        _record(A, saturday, "10:00", "301|501", 5),  # closed day: the next trading day
    ]
    tables = {"td_list": typed("td_list", rows)}
    return run_block(BLOCK, tables, calendar, [A, B], _base([A, B], window))


def test_counts_over_5_sessions_use_the_first_usable_day(td, window):
    w = window
    assert value(td, A, w[14], "td_cnt_all_5d") is None  # w[9] precedes the source's first day
    assert value(td, A, w[15], "td_cnt_all_5d") == 3  # usable w[11], w[12], w[15]
    assert value(td, A, w[16], "td_cnt_all_5d") == 3  # w[11] leaves, the 16:00 one enters
    assert value(td, A, w[15], "td_cnt_buyback_5d") == 1
    assert value(td, A, w[16], "td_cnt_earn_5d") == 0
    assert value(td, B, w[16], "td_cnt_all_5d") == 0


def test_counts_over_20_sessions_by_category(td, window, calendar, saturday):
    w = window
    assert value(td, A, w[29], "td_cnt_all_20d") is None
    expected = {
        "td_cnt_all_20d": 5,
        "td_cnt_earn_20d": 1,
        "td_cnt_div_20d": 1,
        "td_cnt_mna_20d": 1,
        "td_cnt_buyback_20d": 1,
        "td_rev_up_20d": 1,
        "td_rev_down_20d": 0,
        "td_correction_20d": 1,
    }
    assert {k: value(td, A, w[30], k) for k in expected} == expected
    assert value(td, A, w[31], "td_cnt_earn_20d") == 0  # usable w[11] = w[31 - 20]
    monday = calendar.next_bd(saturday)
    assert value(td, A, monday, "td_cnt_div_5d") == 1
    assert value(td, A, calendar.prev_bd(monday), "td_cnt_div_5d") == 0


def test_recency_and_timing_flags(td, window, calendar, saturday):
    w = window
    assert value(td, A, w[10], "td_days_since_last") is None
    assert value(td, A, w[11], "td_after_hours") is True
    assert value(td, A, w[11], "td_days_since_last") == 0
    assert value(td, A, w[12], "td_after_hours") is False
    assert value(td, A, w[14], "td_days_since_last") == (w[14] - w[12]).days
    assert value(td, A, w[15], "td_pre_open") is True
    assert value(td, A, w[15], "td_after_hours") is False
    assert value(td, A, w[16], "td_pre_open") is False
    assert value(td, A, w[16], "td_after_hours") is True
    monday = calendar.next_bd(saturday)
    assert value(td, A, w[39], "td_days_since_last") == (w[39] - monday).days
    assert value(td, A, monday, "td_after_hours") is True
    assert value(td, B, w[20], "td_days_since_last") is None
    assert value(td, B, w[20], "td_after_hours") is None
    assert value(td, B, w[20], "td_pre_open") is False
    assert value(td, A, w[9], "td_pre_open") is None  # before the source's first day


TIMES = st.sampled_from(["07:30", "09:10", "11:45", "14:59", "15:00", "15:30", "17:00"])


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(0, 55), TIMES, st.sampled_from(["101", "201", "401|999"])),
        min_size=1,
        max_size=12,
    )
)
def test_counts_equal_a_brute_force_count(calendar, days, draws):
    """Every 5/20-session count equals the number of records whose first usable day lies in
    (t-N, t], the first usable day decided record by record from the statement rule."""
    calendar_days = [days[0] + timedelta(days=k) for k in range(60)]
    rows = [
        _record(A, calendar_days[k], hhmm, disc_items, n)
        for n, (k, hhmm, disc_items) in enumerate(draws)
    ]
    window = [d for d in days if d <= calendar_days[-1] + timedelta(days=20)]
    out = run_block(BLOCK, {"td_list": typed("td_list", rows)}, calendar, [A], _base([A], window))
    first = min(r["DiscDate"] for r in rows)

    def usable(r) -> date:
        on_day = calendar.is_trading_day(r["DiscDate"]) and r["DiscTime"] < "15:00"
        return r["DiscDate"] if on_day else calendar.next_bd(r["DiscDate"])

    for j, t in enumerate(window):
        for n in (5, 20):
            got = value(out, A, t, f"td_cnt_all_{n}d")
            if j < n or window[j - n] < first:
                assert got is None
                continue
            assert got == sum(window[j - n] < usable(r) <= t for r in rows)


def test_a_stock_listed_later_keeps_earlier_records_and_warms_up(calendar, window):
    """Records usable before the stock's first row still count for recency; its first 5 rows
    are warm-up rows for the 5-session counts."""
    w = window
    rows = [_record(B, w[12], "10:00", "401", 1), _record(B, w[21], "16:00", "101", 2)]
    out = run_block(BLOCK, {"td_list": typed("td_list", rows)}, calendar, [B], _base([B], w[20:]))
    assert value(out, B, w[20], "td_days_since_last") == (w[20] - w[12]).days
    assert value(out, B, w[20], "td_after_hours") is False
    assert value(out, B, w[24], "td_cnt_all_5d") is None
    assert value(out, B, w[25], "td_cnt_all_5d") == 1  # usable w[22], in (w[20], w[25]]
    assert value(out, B, w[27], "td_cnt_all_5d") == 0
    assert value(out, B, w[22], "td_after_hours") is True
    assert value(out, B, w[22], "td_days_since_last") == 0
