"""The synthetic EDINET tables: filing times, holder lists, 5 % reports, cross-holdings, the
planted activist effect, and the service's parameter rules and plan gating."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from gogooku.features.ownership import HOLDER, SCOPE
from gogooku.jquants.bulk import NOT_BULK
from gogooku.jquants.endpoints import ENDPOINTS, parse_records
from gogooku.settings import Plan
from gogooku.synth.ownership import ACTIVIST_DECAY, Ownership, activist_contribution

from ..jquants.conftest import load_fixture
from .conftest import HandMarket, serve

EDINET = (
    "edinet_major_shareholders",
    "edinet_cross_shareholdings",
    "edinet_large_volume_shareholders",
)


@pytest.mark.parametrize("dataset_id", EDINET)
def test_filings_arrive_on_trading_days_between_9_and_18(side_market, dataset_id):
    frame = side_market.tables[dataset_id]
    assert frame.height > 20
    assert frame["SubDate"].dt.weekday().max() <= 5
    assert frame["SubDate"].is_in(pl.Series(side_market.state.days).implode()).all()
    times = frame["SubTime"].str.to_time("%H:%M:%S")
    assert times.min() >= dt.time(9, 0) and times.max() <= dt.time(17, 59)
    assert frame["DocId"].str.contains(r"^S[0-9A-Z]{7}$").all()


def test_annual_holder_lists_are_top_ten_below_one_and_persistent(side_market):
    major = side_market.tables["edinet_major_shareholders"].sort("Code", "SubDate")
    lists = [json.loads(text) for text in major["Hldrs"]]
    for holders in lists:
        ratios = [h["Ratio"] for h in holders]
        assert 1 <= len(ratios) <= 10
        assert ratios == sorted(ratios, reverse=True) and ratios[-1] > 0
        assert sum(ratios) < 0.95 + 1e-3  # rounded to 4 decimals
    names = [{h["Name"] for h in holders} for holders in lists]
    codes = major["Code"].to_list()
    pairs = zip(names[:-1], names[1:], codes[:-1], codes[1:], strict=True)
    kept = [len(a & b) for a, b, c, d in pairs if c == d]
    assert len(kept) > 50 and np.mean(kept) >= 8  # the same holders year after year


def test_large_volume_reports_cross_and_move_by_a_point(side_market):
    reports = side_market.tables["edinet_large_volume_shareholders"].with_columns(
        pl.col("Hldrs").str.json_decode(HOLDER).list.first().struct.field("Name").alias("holder")
    )
    first = reports.filter(pl.col("LargeHldgTypeCode") == "1")
    change = reports.filter(pl.col("LargeHldgTypeCode") == "2")
    assert first.height > 10 and change.height > 10
    assert (first["TotalShsRatio"] >= 0.05).all() and first["TotalShsRatioLast"].is_null().all()
    moved = (change["TotalShsRatio"] - change["TotalShsRatioLast"]).abs()
    assert (moved >= 0.0099).all()
    assert (change["TotalShsRatio"] < 0.05).any()  # holders also leave
    # Each report's previous ratio is the same holder's previous report on the issuer.
    chained = (
        reports.sort("SubDate", "DocId")
        .with_columns(pl.col("TotalShsRatio").shift(1).over("Code", "holder").alias("prev"))
        .filter(pl.col("LargeHldgTypeCode") == "2")
    )
    assert (chained["prev"] - chained["TotalShsRatioLast"]).abs().max() < 1e-9


def test_cross_holdings_come_from_a_subset_of_the_annual_reports(side_market):
    major = side_market.tables["edinet_major_shareholders"]
    cross = side_market.tables["edinet_cross_shareholdings"]
    assert cross["DocId"].is_in(major["DocId"].implode()).all()
    assert 0.4 < cross.height / major.height < 0.8
    books = cross["Report"].str.json_decode(SCOPE).struct.field("ListedBookValue")
    assert (books > 0).all()


def test_activist_contribution_starts_on_the_usable_day_and_decays():
    reports = pl.DataFrame(
        {
            "day_idx": [3, 3, 5],
            "code_idx": [0, 1, 0],
            "slot": [0, 0, 0],
            "kind": [1, 1, 2],  # the change report at day 5 plants nothing
            "ratio": [0.06, 0.07, 0.08],
            "prev_ratio": [None, None, 0.06],
            "minute": [10 * 60, 15 * 60, 9 * 60],  # 10:00 usable day 3; 15:00 usable day 4
        }
    )
    own = Ownership(top10=np.full(2, 0.3), weights=np.full((2, 10), 0.1), reports=reports)
    got = activist_contribution(own, np.ones((8, 2), dtype=bool), strength=1.0)
    assert got[:3].sum() == 0.0
    assert got[3:, 0] == pytest.approx([ACTIVIST_DECAY**k for k in range(5)])
    assert got[3, 1] == 0.0
    assert got[4:, 1] == pytest.approx([ACTIVIST_DECAY**k for k in range(4)])


def _edinet_market() -> HandMarket:
    return HandMarket(
        tables={d: parse_records(d, load_fixture(d)) for d in EDINET},
    )


def test_parameter_rules_and_plan_gating():
    market = _edinet_market()
    path = "/edinet/large-volume-shareholders"
    with serve(market, rate_limit=False, plan=Plan.STANDARD, today=dt.date(2025, 7, 3)) as client:
        both = client.get(path, params={"code": "72030", "edinet_code": "E02144"})
        assert both.status_code == 400 and "edinet_code" in both.json()["message"]
        today = client.get(path).json()["data"]
        assert [r["DocId"] for r in today] == ["S100XYZ2"]  # nothing: filings of today only
        by_edinet = client.get(path, params={"edinet_code": "E39999"}).json()["data"]
        assert [r["DocId"] for r in by_edinet] == ["S100XYZ1"]
        assert by_edinet[0]["Hldrs"][1]["Name"] == "共同保有者"  # nested JSON on the wire
        on_day = client.get(path, params={"code": "130A", "date": "2025-07-03"}).json()["data"]
        assert on_day == []
    with serve(market, rate_limit=False, plan=Plan.LIGHT, today=dt.date(2025, 7, 3)) as client:
        refused = client.get("/edinet/major-shareholders", params={"code": "72030"})
        assert refused.status_code == 403 and "standard" in refused.json()["message"]
    assert set(EDINET) <= NOT_BULK


@pytest.mark.parametrize("dataset_id", EDINET)
def test_no_filing_before_the_coverage_start(side_market, dataset_id):
    start = ENDPOINTS[dataset_id].coverage_from
    frame = side_market.tables[dataset_id]
    assert side_market.state.days[0] < start or dataset_id == "edinet_major_shareholders"
    assert frame["SubDate"].min() >= start
    if start > side_market.state.days[0]:  # the first filings come soon after it
        assert frame["SubDate"].min() < start + dt.timedelta(days=31)
