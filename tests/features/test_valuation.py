"""``val_*``: yields of the previous trading day's valuation, sector ranks and 20-day changes."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from gogooku.features.availability import with_available_from
from gogooku.features.valuation import BLOCK

from .conftest import run_block, typed, value

A, B, C = "13010", "72030", "99840"
SECTORS = {A: "3050", B: "3050", C: "3100"}


def _records(days: list[date]) -> pl.DataFrame:
    rows = []
    for k, d in enumerate(days):
        rows.append({"Date": d, "Code": A, "PER": 10.0 + k, "PBR": 2.0, "FwdPER": None})
        # B turns loss-making on day 30: PER flips sign, the earnings yield just goes negative.
        rows.append({"Date": d, "Code": B, "PER": 20.0 if k < 30 else -50.0, "PBR": 4.0})
        rows.append({"Date": d, "Code": C, "PER": 5.0, "PBR": 0.5, "FwdPER": 8.0})
    return typed("equities_valuation", rows)


@pytest.fixture(scope="module")
def window(days) -> list[date]:
    return days[:40]


@pytest.fixture(scope="module")
def valuation(calendar, window) -> pl.DataFrame:
    base = pl.DataFrame(
        {
            "Code": [c for c in SECTORS for _ in window],
            "Date": window * len(SECTORS),
            "S33": [SECTORS[c] for c in SECTORS for _ in window],
        },
        schema={"Code": pl.String, "Date": pl.Date, "S33": pl.String},
    ).sort("Code", "Date")
    tables = {"equities_valuation": _records(window)}
    return run_block(BLOCK, tables, calendar, list(SECTORS), base)


def test_yields_are_the_previous_trading_days_record(valuation, window):
    assert value(valuation, A, window[0], "val_ey") is None
    for j in (1, 5, 39):
        # Day j sees the record of day j-1: PER 10 + (j - 1).
        assert value(valuation, A, window[j], "val_ey") == pytest.approx(1 / (9 + j))
    assert value(valuation, A, window[5], "val_bp") == pytest.approx(0.5)
    assert value(valuation, A, window[5], "val_fey") is None
    assert value(valuation, C, window[5], "val_fey") == pytest.approx(1 / 8)


def test_a_loss_gives_a_negative_yield_not_a_blow_up(valuation, window):
    assert value(valuation, B, window[30], "val_ey") == pytest.approx(1 / 20)
    assert value(valuation, B, window[31], "val_ey") == pytest.approx(-1 / 50)


def test_sector_ranks_within_s33_on_each_date(valuation, window):
    # Day 5: A yields 1/14 > B's 1/20 in sector 3050; C is alone in 3100.
    assert value(valuation, A, window[5], "val_ey_rank_s33") == pytest.approx(1.0)
    assert value(valuation, B, window[5], "val_ey_rank_s33") == pytest.approx(0.0)
    assert value(valuation, C, window[5], "val_ey_rank_s33") is None
    # Day 15: A's PER is 24, so B (PER 20) yields more.
    assert value(valuation, A, window[15], "val_ey_rank_s33") == pytest.approx(0.0)
    assert value(valuation, B, window[15], "val_bp_rank_s33") == pytest.approx(0.0)
    assert value(valuation, A, window[15], "val_bp_rank_s33") == pytest.approx(1.0)
    assert value(valuation, A, window[0], "val_ey_rank_s33") is None


def test_twenty_day_changes(valuation, window):
    assert value(valuation, A, window[20], "val_ey_chg20") is None
    assert value(valuation, A, window[21], "val_ey_chg20") == pytest.approx(1 / 30 - 1 / 10)
    assert value(valuation, B, window[35], "val_ey_chg20") == pytest.approx(-1 / 50 - 1 / 20)
    assert value(valuation, C, window[30], "val_bp_chg20") == pytest.approx(0.0)


def test_available_from_the_next_trading_day(calendar):
    # Friday 2023-12-29 is the year's last session: usable on Thursday 2024-01-04.
    # A record of Friday 2023-11-03 (Culture Day, closed) is usable Monday 2023-11-06.
    records = typed(
        "equities_valuation",
        [
            {"Date": date(2023, 12, 29), "Code": A, "PER": 10.0},
            {"Date": date(2023, 11, 2), "Code": A, "PER": 10.0},
            {"Date": date(2023, 11, 3), "Code": A, "PER": 10.0},
        ],
    )
    got = with_available_from(records, "equities_valuation", calendar).collect()
    assert got["available_from"].to_list() == [
        date(2024, 1, 4),
        date(2023, 11, 6),
        date(2023, 11, 6),
    ]
