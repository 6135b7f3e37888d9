"""``bd_*`` and ``fut_*``: hand-computed shares and futures ratios, next-day availability, staleness."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.features.premium import BREAKDOWN_BLOCK, FUTURES_BLOCK

from .conftest import run_block, typed, value

A, B = "13010", "72030"


def _bd(code: str, day: date, scale: float = 1.0, short: float = 30.0) -> dict:
    return {
        "Code": code,
        "Date": day,
        "LongSellVa": 50.0 * scale,
        "ShrtNoMrgnVa": short * scale,
        "MrgnSellNewVa": 10.0 * scale,
        "MrgnSellCloseVa": 10.0 * scale,
        "LongBuyVa": 60.0 * scale,
        "MrgnBuyNewVa": 25.0 * scale,
        "MrgnBuyCloseVa": 15.0 * scale,
    }


def test_breakdown_shares_by_hand_and_next_day_availability(calendar):
    days = calendar.days(date(2021, 3, 1), date(2021, 3, 10))
    shorts = [30.0, 20.0, 40.0, 30.0, 50.0, 10.0, 30.0, 30.0]
    rows = [_bd(A, d, short=s) for d, s in zip(days, shorts, strict=True)]
    out = run_block(
        BREAKDOWN_BLOCK, {"markets_breakdown": typed("markets_breakdown", rows)}, calendar, [A]
    )
    # Record of 03-01 (sell 100, buy 100) is usable on 03-02.
    assert value(out, A, date(2021, 3, 1), "bd_short_share") is None
    assert value(out, A, date(2021, 3, 2), "bd_short_share") == pytest.approx(40 / 100)
    assert value(out, A, date(2021, 3, 2), "bd_margin_buy_new_share") == pytest.approx(25 / 100)
    assert value(out, A, date(2021, 3, 2), "bd_credit_new_net") == pytest.approx(15 / 200)
    assert value(out, A, date(2021, 3, 2), "bd_margin_close_share") == pytest.approx(25 / 200)
    assert value(out, A, date(2021, 3, 2), "bd_long_net") == pytest.approx(10 / 200)
    # Five records (03-01..03-05) are known on 03-08 (Monday).
    share = [(s + 10) / (s + 70) for s in shorts]
    assert value(out, A, date(2021, 3, 5), "bd_short_share_ma5") is None
    assert value(out, A, date(2021, 3, 8), "bd_short_share_ma5") == pytest.approx(
        sum(share[:5]) / 5, rel=1e-6
    )
    assert value(out, A, date(2021, 3, 8), "bd_short_share_z60") is None
    # The last record (03-10) goes stale after 7 calendar days.
    assert value(out, A, date(2021, 3, 18), "bd_short_share") == pytest.approx(share[-1])
    assert value(out, A, date(2021, 3, 19), "bd_short_share") is None


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(5.0, 60.0), min_size=62, max_size=62))
def test_breakdown_z60_over_own_records(calendar, shorts):
    days = calendar.days(date(2021, 1, 4), date(2021, 6, 30))[: len(shorts)]
    rows = [_bd(A, d, short=s) for d, s in zip(days, shorts, strict=True)]
    rows += [_bd(B, d, scale=3.0, short=5.0) for d in days]
    out = run_block(
        BREAKDOWN_BLOCK, {"markets_breakdown": typed("markets_breakdown", rows)}, calendar, [A, B]
    )
    x = pl.Series([(s + 10) / (s + 70) for s in shorts])
    window = x[len(x) - 60 :]
    at = calendar.next_bd(days[-1])
    got = value(out, A, at, "bd_short_share_z60")
    if window.std() > 1e-6:
        want = (x[-1] - window.mean()) / window.std()
        assert got == pytest.approx(want, rel=1e-3, abs=1e-4)
    else:
        assert got is None
    # B's constant share never borrows A's records: its z-score is 0/0 -> null.
    assert value(out, B, at, "bd_short_share_z60") is None
    assert value(out, B, at, "bd_short_share") == pytest.approx(15 / 75)


def _contract(
    code: str, day: date, settle: float, sqd: date, ccm: bool, oi: float, eo=None, ec=None
) -> dict:
    return {
        "Code": code,
        "ProdCat": "TOPIXF",
        "Date": day,
        "Settle": settle,
        "SQD": sqd,
        "CCMFlag": ccm,
        "OI": oi,
        "EO": eo,
        "EC": ec,
    }


def test_futures_front_next_basis_and_broadcast(calendar):
    d1, d2 = date(2021, 3, 1), date(2021, 3, 2)
    sq1, sq2 = date(2021, 3, 12), date(2021, 6, 11)
    rows = [
        _contract("F1", d1, 2000.0, sq1, True, 1000.0, 1990.0, 1995.0),
        _contract("F2", d1, 2004.0, sq2, False, 50.0),
        _contract("F1", d2, 2010.0, sq1, True, 1100.0, 2000.0, 2008.0),
        _contract("F2", d2, 2016.0, sq2, False, 60.0),
        # Another product must be ignored.
        {**_contract("N1", d2, 30000.0, sq1, True, 9.0), "ProdCat": "NK225F"},
    ]
    topix = typed("indices_topix", [{"Date": d1, "C": 1990.0}, {"Date": d2, "C": 2005.0}])
    tables = {"futures": typed("futures", rows), "indices_topix": topix}
    out = run_block(FUTURES_BLOCK, tables, calendar, [A, B])
    at = date(2021, 3, 3)  # record of 03-02 is usable on the next trading day
    assert value(out, A, d2, "fut_basis") == pytest.approx(2000 / 1990 - 1, rel=1e-5)
    assert value(out, A, at, "fut_basis") == pytest.approx(2010 / 2005 - 1, rel=1e-5)
    assert value(out, A, at, "fut_carry_ann") == pytest.approx(
        (2010 / 2005 - 1) * 365 / (sq1 - d2).days, rel=1e-5
    )
    assert value(out, A, at, "fut_term_slope") == pytest.approx(2016 / 2010 - 1, rel=1e-5)
    assert value(out, A, at, "fut_night_ret") == pytest.approx(2008 / 2000 - 1, rel=1e-5)
    assert value(out, A, at, "fut_ret_1d") == pytest.approx(2010 / 2000 - 1, rel=1e-5)
    assert value(out, A, at, "fut_oi_chg_1d") == pytest.approx(0.1, rel=1e-5)
    assert value(out, A, d2, "fut_ret_1d") is None
    assert value(out, A, at, "fut_days_to_sq") == (sq1 - at).days
    # Market-wide: every stock gets the same values.
    a = out.filter(pl.col("Code") == A).drop("Code")
    b = out.filter(pl.col("Code") == B).drop("Code")
    assert a.equals(b)
    stale = calendar.on_or_after(date(2021, 3, 3) + timedelta(days=8))
    assert value(out, A, stale, "fut_basis") is None


def test_futures_front_falls_back_to_largest_open_interest(calendar):
    d1 = date(2021, 3, 1)
    rows = [
        _contract("F1", d1, 2000.0, date(2021, 3, 12), False, 10.0),
        _contract("F2", d1, 2004.0, date(2021, 6, 11), False, 500.0),
    ]
    topix = typed("indices_topix", [{"Date": d1, "C": 2000.0}])
    out = run_block(
        FUTURES_BLOCK, {"futures": typed("futures", rows), "indices_topix": topix}, calendar, [A]
    )
    assert value(out, A, date(2021, 3, 2), "fut_basis") == pytest.approx(0.002, rel=1e-5)
    assert value(out, A, date(2021, 3, 2), "fut_term_slope") is None
