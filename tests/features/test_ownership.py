"""``own_*``: large-holder counts and crossings, annual-report concentration, cross-holdings, and
the ``edinet_submission`` availability rule, against hand-computed values."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from gogooku.features.availability import with_available_from
from gogooku.features.ownership import BLOCK

from .conftest import run_block, typed, value

A, B = "13010", "72030"


def _holders(*pairs: tuple[str, float | None]) -> str:
    return json.dumps([{"Name": n, "Ratio": r, "Extra": 1} for n, r in pairs])


@pytest.fixture(scope="module")
def window(days) -> list[date]:
    return days[:80]


@pytest.fixture(scope="module")
def own(calendar, window) -> pl.DataFrame:
    w = window
    large = typed(
        "edinet_large_volume_shareholders",
        [
            # X crosses 5 % (usable the same day: before 15:00) ...
            {"DocId": "S1", "Code": A, "SubDate": w[2], "SubTime": "10:00:00",
             "TotalShsRatio": 0.062, "Hldrs": _holders(("X", 0.062))},
            # ... Y crosses from 3 % after 15:00 (usable the next trading day) ...
            {"DocId": "S2", "Code": A, "SubDate": w[4], "SubTime": "16:30:00",
             "TotalShsRatio": 0.055, "TotalShsRatioLast": 0.03, "Hldrs": _holders(("Y", 0.055))},
            # ... and X falls below 5 %.
            {"DocId": "S3", "Code": A, "SubDate": w[30], "SubTime": "09:00",
             "TotalShsRatio": 0.045, "TotalShsRatioLast": 0.062, "Hldrs": _holders(("X", 0.045))},
        ],
    )  # fmt: skip
    top = [("a", 0.2), ("b", 0.1), ("c", 0.05), *((f"d{k}", 0.01) for k in range(7)), ("e", 0.005)]
    major = typed(
        "edinet_major_shareholders",
        [
            {"DocId": "S4", "Code": A, "SubDate": w[10], "SubTime": "14:59:59",
             "Hldrs": _holders(*top, ("no ratio", None))},
            {"DocId": "S5", "Code": A, "SubDate": w[40], "SubTime": "15:00:00",
             "Hldrs": _holders(("a", 0.3))},
        ],
    )  # fmt: skip
    cross = typed(
        "edinet_cross_shareholdings",
        [
            {"DocId": "S4", "Code": A, "SubDate": w[10], "SubTime": "09:30:00",
             "Report": json.dumps({"ListedCount": 12, "ListedBookValue": 500.0, "Spec": []})},
            {"DocId": "S6", "Code": B, "SubDate": w[10], "SubTime": "09:30:00",
             "Report": json.dumps({"ListedCount": 0})},
        ],
    )  # fmt: skip
    valuation = typed(
        "equities_valuation",
        [{"Date": w[9], "Code": A, "MktCap": 10_000.0}, {"Date": w[9], "Code": B, "MktCap": 2e3}],
    )
    base = pl.DataFrame(
        {"Code": [c for c in (A, B) for _ in w], "Date": w * 2},
        schema={"Code": pl.String, "Date": pl.Date},
    )
    tables = {
        "edinet_large_volume_shareholders": large,
        "edinet_major_shareholders": major,
        "edinet_cross_shareholdings": cross,
        "equities_valuation": valuation,
    }
    return run_block(BLOCK, tables, calendar, [A, B], base)


def test_large_holder_count_follows_the_latest_report_of_each_holder(own, window):
    w = window
    assert value(own, A, w[1], "own_large_holders") is None  # before the data's first report
    assert value(own, B, w[1], "own_large_holders") is None
    assert [value(own, A, w[k], "own_large_holders") for k in (2, 4, 5, 29, 30, 79)] == [
        1, 1, 2, 2, 1, 1,
    ]  # fmt: skip
    assert value(own, B, w[2], "own_large_holders") == 0  # covered, no report


def test_change_over_60_rows(own, window):
    w = window
    assert value(own, A, w[61], "own_large_holders_chg_60") is None  # row 1 is before coverage
    assert value(own, A, w[62], "own_large_holders_chg_60") == 0  # 1 - 1
    assert value(own, A, w[65], "own_large_holders_chg_60") == -1  # 1 - 2
    assert value(own, B, w[70], "own_large_holders_chg_60") == 0


def test_new_large_holder_flag_lasts_twenty_trading_days(own, window):
    w = window
    assert value(own, A, w[1], "own_new_large_holder_20") is None
    # Y's crossing is usable on w[5]: flagged for w[5]..w[24] (0..19 days), not on w[25].
    assert [value(own, A, w[k], "own_new_large_holder_20") for k in (2, 5, 24, 25, 30)] == [
        1, 1, 1, 0, 0,
    ]  # fmt: skip
    assert value(own, B, w[5], "own_new_large_holder_20") == 0


def test_days_since_the_latest_report(own, window):
    w = window
    assert [value(own, A, w[k], "own_lv_days_since") for k in (2, 4, 5, 29, 30, 33)] == [
        0, 2, 0, 24, 0, 3,
    ]  # fmt: skip
    assert value(own, B, w[40], "own_lv_days_since") is None


def test_concentration_of_the_latest_annual_report(own, window):
    w = window
    assert value(own, A, w[9], "own_top10_ratio") is None
    # Ten largest of 0.2, 0.1, 0.05, 7 x 0.01, 0.005 (the 11th is left out; a null ratio too).
    assert value(own, A, w[10], "own_top10_ratio") == pytest.approx(0.42)
    assert value(own, A, w[10], "own_hhi") == pytest.approx(0.04 + 0.01 + 0.0025 + 7e-4)
    # Submitted at 15:00 sharp on w[40]: usable from w[41].
    assert value(own, A, w[40], "own_top10_ratio") == pytest.approx(0.42)
    assert value(own, A, w[41], "own_top10_ratio") == pytest.approx(0.3)
    assert value(own, A, w[41], "own_hhi") == pytest.approx(0.09)
    assert value(own, B, w[41], "own_top10_ratio") is None


def test_cross_share_is_book_value_over_market_cap(own, window):
    w = window
    assert value(own, A, w[9], "own_cross_share") is None
    assert value(own, A, w[10], "own_cross_share") == pytest.approx(500.0 / 10_000.0)
    assert value(own, B, w[10], "own_cross_share") == 0.0  # reports no listed holdings


def test_edinet_submission_rule(calendar):
    # Thursday 2023-11-02 is a session; Friday 2023-11-03 (Culture Day) is closed.
    rows = [
        (date(2023, 11, 2), "14:59:59", date(2023, 11, 2)),
        (date(2023, 11, 2), "09:05", date(2023, 11, 2)),
        (date(2023, 11, 2), "15:00:00", date(2023, 11, 6)),
        (date(2023, 11, 2), None, date(2023, 11, 6)),
        (date(2023, 11, 3), "10:00:00", date(2023, 11, 6)),
        (date(2023, 12, 29), "17:59:00", date(2024, 1, 4)),
    ]
    records = typed(
        "edinet_major_shareholders",
        [{"DocId": f"S{k}", "SubDate": d, "SubTime": t} for k, (d, t, _) in enumerate(rows)],
    )
    got = with_available_from(records, "edinet_major_shareholders", calendar).collect()
    assert got["available_from"].to_list() == [expected for *_, expected in rows]


def test_docs_list_every_own_column_with_its_formula():
    text = (Path(__file__).resolve().parents[2] / "docs" / "features.md").read_text()
    section = text.split("## Ownership (`own_*`)", 1)[1].split("\n## ", 1)[0]
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in section.splitlines()
        if line.startswith("| `")
    }
    assert set(rows) == set(BLOCK.feature_names)
    for feature in BLOCK.features:
        assert f"| {feature.dtype} |" in rows[feature.name], feature.name
        assert feature.formula in rows[feature.name], feature.name
    assert f"lookback {BLOCK.lookback} trading days" in section
