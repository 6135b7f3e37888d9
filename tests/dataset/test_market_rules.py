"""The store's market in the build: JPX-only blocks skipped on another market, TOPIX-fed blocks
skipped without TOPIX, the 2020-10-01 halt flag only on Tokyo, the market in metadata.json."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest

from gogooku.calendar import TradingCalendar
from gogooku.dataset.base import build_base
from gogooku.dataset.build import build_dataset
from gogooku.dataset.plan import plan_blocks
from gogooku.features.registry import BLOCKS
from gogooku.market import Market, dataset_market, save_market
from gogooku.store.raw import RawStore

DAYS = [date(2020, 9, 29), date(2020, 9, 30), date(2020, 10, 1), date(2020, 10, 2)]


@pytest.fixture
def store(tmp_path) -> RawStore:
    store = RawStore(tmp_path / "raw")
    n = len(DAYS)
    bars = pl.DataFrame(
        {
            "Date": DAYS * 2,
            "Code": ["AAPL"] * n + ["MSFT"] * n,
            "O": [10.0] * 2 * n,
            "H": [11.0] * 2 * n,
            "L": [9.0] * 2 * n,
            "C": [10.0 + i for i in range(2 * n)],
            "Vo": [1e3] * 2 * n,
            "Va": [1e4] * 2 * n,
            "AdjFactor": [1.0] * 2 * n,
        }
    )
    store.write_unit("equities_bars_daily", "u", bars, {}, source="import:u.csv")
    calendar = pl.DataFrame({"Date": DAYS, "HolDiv": "1"})
    store.write_unit("markets_calendar", "u", calendar, {}, source="import:u.csv")
    return store


def test_jpx_only_blocks_are_skipped_on_another_market_with_the_reason(store):
    names = ["returns", "limits", "am", "flows", "market"]
    tokyo_blocks, tokyo_skipped = plan_blocks(names, store, BLOCKS)
    assert [b.name for b in tokyo_blocks] == ["returns", "limits"]
    assert tokyo_skipped["market"] == "no raw data for source(s) indices_topix"
    assert tokyo_skipped["flows"].startswith("no raw data")
    blocks, skipped = plan_blocks(names, store, BLOCKS, Market("XNYS"))
    assert [b.name for b in blocks] == ["returns"]
    assert (
        skipped["limits"]
        == "JPX-only (JPX daily price limits (UL/LL)); the store holds market XNYS"
    )
    assert skipped["am"] == (
        "JPX-only (TSE morning/afternoon session times); the store holds market XNYS"
    )
    assert skipped["flows"].startswith("JPX-only (TSE investor-type flows")
    assert skipped["market"] == "no raw data for source(s) indices_topix"


def test_the_halt_flag_is_tokyo_only_and_the_dataset_records_its_market(store, _isolated_home):
    calendar = TradingCalendar.from_frame(pl.DataFrame({"Date": DAYS, "HolDiv": "1"}))
    halt = date(2020, 10, 1)
    tokyo = build_base(store, calendar, DAYS[0], DAYS[-1])
    assert tokyo.filter(pl.col("is_halt_20201001"))["Date"].unique().to_list() == [halt]
    save_market(store.root, Market("XNYS"))
    other = build_base(store, calendar, DAYS[0], DAYS[-1])
    assert not other["is_halt_20201001"].any()
    result = build_dataset(
        "us", DAYS[1], DAYS[-1], blocks=["returns"], store=store, warmup_days=1,
        show_progress=False, holdout="none",
    )  # fmt: skip
    meta = json.loads((result.path / "metadata.json").read_text())
    assert meta["market"] == {"name": "XNYS", "jpx": False, "lot_size": 1}
    assert dataset_market(result.path) == Market("XNYS")
    del meta["market"]  # a dataset built before markets were recorded is Tokyo
    (result.path / "metadata.json").write_text(json.dumps(meta))
    assert dataset_market(result.path) == Market()
