"""``stmt_*``: a hand-made company history (YTD -> quarterly increments -> TTM), forecasts,
revisions, corrections, availability by DiscTime, split-adjusted valuation, no cross-code bleed."""

from __future__ import annotations

import math
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.features.statements import BLOCK

from .conftest import run_block, typed, value

A, B = "13010", "72030"
FY1, FY2, FY3 = date(2021, 3, 31), date(2022, 3, 31), date(2023, 3, 31)


def _stmt(per: str, end: date, fy_end: date, disc: date, time: str, s, op, **extra) -> dict:
    row = {
        "Code": A,
        "DiscDate": disc,
        "DiscTime": time,
        "DiscNo": f"{disc:%Y%m%d}{per}",
        "DocType": f"{per}FinancialStatements_Consolidated_JP",
        "CurPerType": per,
        "CurPerEn": end,
        "CurFYEn": fy_end,
        "Sales": s,
        "OP": op,
        "NP": op / 2,
    }
    row.update(extra)
    return row


FC1 = {"FSales": 480.0, "FOP": 48.0, "FNP": 24.0, "FDivAnn": 20.0}
FC2 = {"FSales": 540.0, "FOP": 56.0, "FNP": 28.0, "FDivAnn": 24.0}
# FY1 YTD sales 100/220/360/500 (increments 100, 120, 140, 140), OP 10/25/40/50 (10, 15, 15, 10);
# FY2 YTD sales 110/240/390/560 (110, 130, 150, 170), OP 12/27/45/60 (12, 15, 18, 15); NP = OP/2.
HISTORY = [
    _stmt("1Q", date(2020, 6, 30), FY1, date(2020, 8, 7), "14:00:00", 100.0, 10.0, **FC1),
    _stmt("2Q", date(2020, 9, 30), FY1, date(2020, 11, 6), "15:30:00", 220.0, 25.0, **FC1),
    {
        "Code": A,
        "DiscDate": date(2020, 12, 1),
        "DiscTime": "16:00:00",
        "DiscNo": "20201201rev",
        "DocType": "EarnForecastRevision",
        "CurPerType": "FY",
        "CurFYEn": FY1,
        "FOP": 52.0,
    },
    _stmt("3Q", date(2020, 12, 31), FY1, date(2021, 2, 5), "13:00:00", 360.0, 40.0, **FC1),
    _stmt(
        "FY",
        FY1,
        FY1,
        date(2021, 5, 14),
        "15:00:00",
        500.0,
        50.0,
        NxtFYEn=FY2,
        NxFSales=540.0,
        NxFOP=56.0,
        NxFNp=28.0,
        NxFDivAnn=24.0,
        Eq=900.0,
        TA=1800.0,
    ),
    _stmt("1Q", date(2021, 6, 30), FY2, date(2021, 8, 6), "10:00:00", 110.0, 12.0, **FC2),
    _stmt("2Q", date(2021, 9, 30), FY2, date(2021, 11, 5), "10:00:00", 240.0, 27.0, **FC2),
    _stmt("3Q", date(2021, 12, 31), FY2, date(2022, 2, 4), "10:00:00", 390.0, 45.0, **FC2),
    _stmt(
        "FY",
        FY2,
        FY2,
        date(2022, 5, 13),
        "10:00:00",
        560.0,
        60.0,
        NxtFYEn=FY3,
        NxFSales=600.0,
        NxFOP=66.0,
        NxFNp=33.0,
        NxFDivAnn=30.0,
        Eq=1000.0,
        TA=2000.0,
        ShOutFY=1100.0,
        TrShFY=100.0,
    ),
    # Correction of FY2 3Q YTD sales (390 -> 400), then a re-disclosed FY2 with NP 31.
    _stmt("3Q", date(2021, 12, 31), FY2, date(2022, 6, 1), "10:00:00", 400.0, 45.0, **FC2),
    {
        **_stmt(
            "FY",
            FY2,
            FY2,
            date(2022, 7, 1),
            "10:00:00",
            560.0,
            60.0,
            NxtFYEn=FY3,
            NxFSales=600.0,
            NxFOP=66.0,
            NxFNp=33.0,
            Eq=1000.0,
            TA=2000.0,
            ShOutFY=1100.0,
            TrShFY=100.0,
        ),
        "NP": 31.0,
    },
]


@pytest.fixture(scope="module")
def history(calendar) -> pl.DataFrame:
    tables = {"fins_summary": typed("fins_summary", HISTORY)}
    return run_block(BLOCK, tables, calendar, [A])


def test_increments_ttm_and_growth_by_hand(history):
    at = date(2022, 5, 13)
    assert value(history, A, at, "stmt_fq") == 4
    assert value(history, A, at, "stmt_sales_yoy_ttm") == pytest.approx(60 / 500, rel=1e-6)
    assert value(history, A, at, "stmt_op_yoy_ttm") == pytest.approx(10 / 50, rel=1e-6)
    assert value(history, A, at, "stmt_np_yoy_ttm") == pytest.approx(5 / 25, rel=1e-6)
    assert value(history, A, at, "stmt_sales_yoy_q") == pytest.approx(30 / 140, rel=1e-6)
    assert value(history, A, at, "stmt_op_yoy_q") == pytest.approx(5 / 10, rel=1e-6)
    assert value(history, A, at, "stmt_opm_ttm") == pytest.approx(60 / 560, rel=1e-6)
    assert value(history, A, at, "stmt_npm_ttm") == pytest.approx(30 / 560, rel=1e-6)
    assert value(history, A, at, "stmt_opm_q") == pytest.approx(15 / 170, rel=1e-6)
    assert value(history, A, at, "stmt_roe_ttm") == pytest.approx(30 / 1000, rel=1e-6)
    assert value(history, A, at, "stmt_roa_ttm") == pytest.approx(30 / 2000, rel=1e-6)
    assert value(history, A, at, "stmt_equity_ratio") == pytest.approx(0.5, rel=1e-6)


def test_ttm_needs_four_consecutive_quarters(history):
    # FY2 1Q: TTM_0 = 110 + 140 + 140 + 120 exists, TTM_4 would need FY0 quarters.
    at = date(2021, 8, 6)
    assert value(history, A, at, "stmt_sales_yoy_ttm") is None
    assert value(history, A, at, "stmt_sales_yoy_q") == pytest.approx(10 / 100, rel=1e-6)
    assert value(history, A, at, "stmt_opm_ttm") == pytest.approx(
        (12 + 10 + 15 + 15) / 510, rel=1e-6
    )
    # FY1 3Q: only three quarters of history -> no TTM at all.
    assert value(history, A, date(2021, 2, 5), "stmt_opm_ttm") is None
    assert value(history, A, date(2021, 2, 5), "stmt_opm_q") == pytest.approx(15 / 140, rel=1e-6)


def test_availability_follows_disc_time_and_close(history):
    assert value(history, A, date(2020, 8, 6), "stmt_fq") is None
    assert value(history, A, date(2020, 8, 7), "stmt_fq") == 1  # 14:00 < 15:00 close
    assert value(history, A, date(2020, 11, 6), "stmt_fq") == 1  # 15:30 is after the close
    assert value(history, A, date(2020, 11, 9), "stmt_fq") == 2
    assert value(history, A, date(2021, 5, 14), "stmt_fq") == 3  # exactly 15:00 is not before
    assert value(history, A, date(2021, 5, 17), "stmt_fq") == 4
    assert value(history, A, date(2022, 5, 13), "stmt_days_since_disc") == 0
    assert value(history, A, date(2022, 5, 20), "stmt_days_since_disc") == 7


def test_forecast_progress_revision_and_surprise(history):
    at = date(2020, 11, 9)  # FY1 2Q: YTD OP 25 against FOP 48, unchanged from 1Q
    assert value(history, A, at, "stmt_progress_op") == pytest.approx(25 / 48, rel=1e-6)
    assert value(history, A, at, "stmt_rev_op") == 0.0
    assert value(history, A, date(2020, 8, 7), "stmt_rev_op") is None
    # Expected quarter = (48 - (25 - 15)) / (5 - 2); actual 15.
    expected = 38 / 3
    assert value(history, A, at, "stmt_surprise_op_q") == pytest.approx(
        (15 - expected) / expected, rel=1e-6
    )
    # The revision (16:00 on 2020-12-01) is usable from 2020-12-02; FSales left empty keeps 480.
    assert value(history, A, date(2020, 12, 1), "stmt_rev_op") == 0.0
    assert value(history, A, date(2020, 12, 2), "stmt_rev_op") == pytest.approx(4 / 48, rel=1e-6)
    assert value(history, A, date(2020, 12, 2), "stmt_rev_sales") == 0.0
    assert value(history, A, date(2020, 12, 2), "stmt_progress_op") == pytest.approx(
        25 / 52, rel=1e-6
    )
    at = date(2022, 5, 13)  # FY2 results vs the forecast in force before them (56)
    assert value(history, A, at, "stmt_progress_op") == pytest.approx(60 / 56, rel=1e-6)
    assert value(history, A, at, "stmt_surprise_op_q") == pytest.approx((15 - 11) / 11, rel=1e-6)
    assert value(history, A, at, "stmt_surprise_sales_q") == pytest.approx(20 / 150, rel=1e-6)
    # The target year is now FY3, with a single forecast: no revision yet.
    assert value(history, A, at, "stmt_rev_op") is None
    assert value(history, A, at, "stmt_rev_div") is None
    assert value(history, A, at, "stmt_div_fcst_yield") == pytest.approx(30 / 1000, rel=1e-6)
    assert value(history, A, date(2020, 11, 9), "stmt_rev_div") == 0.0
    assert value(history, A, date(2020, 11, 9), "stmt_div_fcst_yield") == pytest.approx(0.02)


def test_corrections_replace_earlier_versions_from_their_availability(history):
    assert value(history, A, date(2022, 5, 31), "stmt_sales_yoy_q") == pytest.approx(
        30 / 140, rel=1e-6
    )
    assert value(history, A, date(2022, 6, 1), "stmt_sales_yoy_q") == pytest.approx(
        20 / 140, rel=1e-6
    )
    assert value(history, A, date(2022, 6, 1), "stmt_sales_yoy_ttm") == pytest.approx(
        60 / 500, rel=1e-6
    )
    assert value(history, A, date(2022, 6, 30), "stmt_restated") is False
    assert value(history, A, date(2022, 7, 1), "stmt_restated") is True
    assert value(history, A, date(2022, 7, 1), "stmt_roe_ttm") == pytest.approx(31 / 1000, rel=1e-6)
    assert value(history, A, date(2022, 7, 1), "stmt_days_since_disc") == 0


def test_valuation_uses_split_adjusted_shares(calendar):
    bars = typed(
        "equities_bars_daily",
        [{"Code": A, "Date": date(2021, 1, 4), "AdjFactor": 0.5}],
    )
    # After the split the 3Q forecast is 10 per new share: the same dividend, not a revision.
    rows = [{**r, "FDivAnn": 10.0} if r["DiscDate"] == date(2021, 2, 5) else r for r in HISTORY]
    tables = {"fins_summary": typed("fins_summary", rows), "equities_bars_daily": bars}
    out = run_block(BLOCK, tables, calendar, [A])
    assert value(out, A, date(2021, 2, 5), "stmt_rev_div") == 0.0
    assert value(out, A, date(2021, 2, 5), "stmt_div_fcst_yield") == pytest.approx(0.02)
    at = date(2022, 5, 13)
    # shares 1000 reported after a 1:2 split; AdjC 1000 = C / 0.5 -> mcap = 1000 * 0.5 * 1000.
    mcap = 1000 * 0.5 * 1000
    assert value(out, A, at, "stmt_log_mcap") == pytest.approx(math.log(mcap), rel=1e-6)
    assert value(out, A, at, "stmt_ep_ttm") == pytest.approx(30 / mcap, rel=1e-5)
    assert value(out, A, at, "stmt_bp") == pytest.approx(1000 / mcap, rel=1e-5)
    assert value(out, A, at, "stmt_sp_ttm") == pytest.approx(560 / mcap, rel=1e-5)
    assert value(out, A, at, "stmt_ep_fcst") == pytest.approx(33 / mcap, rel=1e-5)


def test_no_cross_code_bleed(calendar, history):
    other = [{**r, "Code": B, "DiscNo": r["DiscNo"] + "b"} for r in HISTORY[:4]]
    tables = {"fins_summary": typed("fins_summary", HISTORY + other)}
    both = run_block(BLOCK, tables, calendar, [A, B])
    assert both.filter(pl.col("Code") == A).equals(history)
    alone_b = run_block(BLOCK, {"fins_summary": typed("fins_summary", other)}, calendar, [B])
    assert both.filter(pl.col("Code") == B).equals(alone_b)
    # B has no statements after FY1 3Q, so its FY2-era rows keep FY1 3Q values.
    assert value(both, B, date(2022, 5, 13), "stmt_fq") == 3


def test_accounting_flags_treat_unreported_fields_as_absent(calendar):
    flagged = {"MatChgSub": False, "SigChgInC": None, "ChgByASRev": False, "RetroRst": True}
    rows = [{**r, **flagged} if r["DiscDate"] == date(2022, 5, 13) else r for r in HISTORY]
    rows[-1] = {
        **rows[-1],
        "SigChgInC": True,
        "DocType": "FYFinancialStatements_NonConsolidated_JP",
    }
    out = run_block(BLOCK, {"fins_summary": typed("fins_summary", rows)}, calendar, [A])
    at = date(2022, 5, 13)
    assert value(out, A, at, "stmt_acct_change") is True
    assert value(out, A, at, "stmt_scope_change") is False
    assert value(out, A, at, "stmt_est_change") is None
    assert value(out, A, at, "stmt_consolidated") is True
    at = date(2022, 7, 1)
    assert value(out, A, at, "stmt_scope_change") is True
    assert value(out, A, at, "stmt_acct_change") is None
    assert value(out, A, at, "stmt_consolidated") is False


@settings(max_examples=12, deadline=None)
@given(
    st.lists(st.floats(1.0, 1000.0), min_size=8, max_size=8),
    st.lists(st.floats(-50.0, 200.0), min_size=8, max_size=8),
)
def test_ttm_at_fy_equals_the_fiscal_year_figure(calendar, sales_q, op_q):
    """Whatever the quarters, increments of YTD figures add up to the FY figure at FY."""
    ends = [date(2020, 6, 30), date(2020, 9, 30), date(2020, 12, 31), date(2021, 3, 31)]
    ends += [date(2021, 6, 30), date(2021, 9, 30), date(2021, 12, 31), date(2022, 3, 31)]
    discs = [date(2020, 8, 7), date(2020, 11, 6), date(2021, 2, 5), date(2021, 5, 14)]
    discs += [date(2021, 8, 6), date(2021, 11, 5), date(2022, 2, 4), date(2022, 5, 13)]
    rows, ytd_s, ytd_o = [], 0.0, 0.0
    for i, (end, disc) in enumerate(zip(ends, discs, strict=True)):
        if i % 4 == 0:
            ytd_s, ytd_o = 0.0, 0.0
        ytd_s, ytd_o = ytd_s + sales_q[i], ytd_o + op_q[i]
        per = ("1Q", "2Q", "3Q", "FY")[i % 4]
        rows.append(_stmt(per, end, FY1 if i < 4 else FY2, disc, "10:00:00", ytd_s, ytd_o))
    out = run_block(BLOCK, {"fins_summary": typed("fins_summary", rows)}, calendar, [A])
    fy1_s, fy2_s = sum(sales_q[:4]), sum(sales_q[4:])
    fy2_o = sum(op_q[4:])
    at = date(2022, 5, 13)
    assert value(out, A, at, "stmt_sales_yoy_ttm") == pytest.approx(
        (fy2_s - fy1_s) / fy1_s, rel=1e-4, abs=1e-5
    )
    assert value(out, A, at, "stmt_opm_ttm") == pytest.approx(fy2_o / fy2_s, rel=1e-4, abs=1e-5)
    assert value(out, A, at, "stmt_sales_yoy_q") == pytest.approx(
        (sales_q[7] - sales_q[3]) / sales_q[3], rel=1e-4, abs=1e-5
    )
