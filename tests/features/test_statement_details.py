"""``stmt_*`` of full statements: hand-computed ratios, carry-forward, timing and sector ranks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from gogooku.features.statement_details import BLOCK

from .conftest import run_block, typed, value

A, B, C = "13010", "72030", "99840"
SECTORS = {A: "3050", B: "3050", C: "3100"}
FIRST, LAST = date(2021, 5, 6), date(2022, 6, 30)


def _record(code, disc_date, disc_time, per, **items):
    no = f"{disc_date:%Y%m%d}{code}"
    return {"DiscDate": disc_date, "DiscTime": disc_time, "Code": code, "DiscNo": no,
            "PerType": per, **items}  # fmt: skip


RECORDS = [
    # After the close (15:00 until 2024-11-04): usable Monday 2021-05-17.
    _record(A, date(2021, 5, 14), "15:30:00", "FY", TA=1000.0, TL=600.0, CurA=400.0, CurL=200.0,
            Sales=800.0, NP=50.0, CFO=80.0, Capex=-40.0),
    # Intraday: usable the same day; a Q1 statement has no cash-flow statement.
    _record(A, date(2021, 8, 12), "13:00:00", "Q1", TA=1100.0, TL=700.0, CurA=420.0, CurL=300.0,
            Sales=200.0, NP=20.0),
    # At 15:00 exactly is not before the close: usable Monday 2021-11-15.
    _record(A, date(2021, 11, 12), "15:00:00", "Q2", TA=1200.0, TL=700.0, CurA=480.0, CurL=240.0,
            Sales=500.0, NP=30.0, CFO=10.0, Capex=-20.0),
    _record(A, date(2022, 5, 13), "11:30:00", "FY", TA=1500.0, TL=900.0, Sales=1000.0, NP=-10.0,
            CFO=100.0, Capex=-50.0),
    _record(B, date(2021, 5, 12), "16:00:00", "FY", TA=100.0, TL=30.0, Sales=90.0, NP=10.0,
            CFO=5.0, Capex=-1.0),
    _record(C, date(2021, 5, 12), "12:00:00", "FY", TA=100.0, TL=80.0, NP=1.0, CFO=1.0),
]  # fmt: skip


@pytest.fixture(scope="module")
def stmt(calendar) -> pl.DataFrame:
    days = calendar.days(FIRST, LAST)
    base = pl.DataFrame(
        {
            "Code": [c for c in SECTORS for _ in days],
            "Date": days * len(SECTORS),
            "S33": [SECTORS[c] for c in SECTORS for _ in days],
        },
        schema={"Code": pl.String, "Date": pl.Date, "S33": pl.String},
    )
    tables = {"fins_details": typed("fins_details", RECORDS)}
    return run_block(BLOCK, tables, calendar, list(SECTORS), base)


def test_first_statement_usable_after_the_close_rule(stmt):
    assert value(stmt, A, date(2021, 5, 14), "stmt_leverage") is None
    assert value(stmt, A, date(2021, 5, 17), "stmt_leverage") == pytest.approx(0.6)
    assert value(stmt, C, date(2021, 5, 12), "stmt_leverage") == pytest.approx(0.8)  # intraday


def test_ratios_of_a_cash_flow_statement(stmt):
    day = date(2021, 5, 17)
    assert value(stmt, A, day, "stmt_accruals") == pytest.approx((50 - 80) / 1000)
    assert value(stmt, A, day, "stmt_cash_conversion") == pytest.approx(80 / 50)
    assert value(stmt, A, day, "stmt_capex_intensity") == pytest.approx(40 / 800)
    assert value(stmt, A, day, "stmt_current_ratio") == pytest.approx(2.0)
    assert value(stmt, A, day, "stmt_asset_growth") is None  # no statement a year earlier


def test_quarter_without_cash_flows_carries_the_last_ones(stmt):
    day = date(2021, 8, 12)
    assert value(stmt, A, day, "stmt_leverage") == pytest.approx(700 / 1100)
    assert value(stmt, A, day, "stmt_current_ratio") == pytest.approx(1.4)
    assert value(stmt, A, day, "stmt_accruals") == pytest.approx(-0.03)
    assert value(stmt, A, day, "stmt_capex_intensity") == pytest.approx(0.05)


def test_half_year_accruals_are_annualised_over_average_assets(stmt):
    assert value(stmt, A, date(2021, 11, 12), "stmt_current_ratio") == pytest.approx(1.4)
    day = date(2021, 11, 15)
    assert value(stmt, A, day, "stmt_accruals") == pytest.approx((30 - 10) * 2 / 1150)
    assert value(stmt, A, day, "stmt_cash_conversion") == pytest.approx(10 / 30)
    assert value(stmt, A, day, "stmt_capex_intensity") == pytest.approx(20 / 500)


def test_year_growth_loss_and_bounded_cash_conversion(stmt):
    day = date(2022, 5, 13)
    assert value(stmt, A, day, "stmt_asset_growth") == pytest.approx(0.5)
    assert value(stmt, A, day, "stmt_cash_conversion") == pytest.approx(5.0)  # 100 / |-10|
    assert value(stmt, A, day, "stmt_accruals") == pytest.approx(-110 / 1350)


def test_sector_ranks(stmt):
    day = date(2021, 5, 17)
    # Sector 3050: B's accruals 0.05 above A's -0.03; leverage 0.3 below 0.6. C is alone.
    assert value(stmt, B, day, "stmt_accruals_rank_s33") == pytest.approx(1.0)
    assert value(stmt, A, day, "stmt_accruals_rank_s33") == pytest.approx(0.0)
    assert value(stmt, A, day, "stmt_leverage_rank_s33") == pytest.approx(1.0)
    assert value(stmt, C, day, "stmt_leverage_rank_s33") is None
    assert value(stmt, A, date(2021, 5, 12), "stmt_accruals_rank_s33") is None


def test_docs_list_every_column_with_its_formula():
    text = (Path(__file__).resolve().parents[2] / "docs" / "features.md").read_text()
    section = text.split("## Full statements", 1)[1].split("\n## ", 1)[0]
    for feature in BLOCK.features:
        row = next(line for line in section.splitlines() if line.startswith(f"| `{feature.name}`"))
        assert feature.formula.replace("|", "\\|") in row and f"| {feature.dtype} |" in row
