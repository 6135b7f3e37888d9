"""The minute-bar block ``mb``: formulas on a hand-built minute frame, and its skip without data."""

from __future__ import annotations

import functools
import math
from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gogooku.calendar import TradingCalendar
from gogooku.dataset.plan import plan_blocks
from gogooku.features.base import BlockContext
from gogooku.features.minute import BLOCK, FEATURES
from gogooku.features.registry import BLOCKS
from gogooku.jquants.derived import MINUTE_SUMMARY, summarise_minute_bars

from ..support.tables import TableStore
from . import minute_reference
from .conftest import BASE_SCHEMA, finish_base

DAYS = TradingCalendar.from_xtks(date(2021, 3, 1), date(2021, 4, 30)).days(
    date(2021, 3, 1), date(2021, 4, 30)
)
# (Time, C, Vo) of the first day; O = H = L = C and Va = Vo * C on every bar
FIRST_DAY = [
    ("09:00", 100.0, 100.0),
    ("09:03", 101.0, 100.0),
    ("09:07:00", 102.0, 100.0),  # HH:MM:SS as stored from an API sending seconds
    ("14:58", 100.0, 100.0),
    ("15:01", 103.0, 100.0),
    ("15:30", 104.0, 500.0),
]
LONE_BAR = [("09:00", 50.0, 300.0)]


class _Store:
    """The summary the raw store writes with the bars (the block reads nothing else)."""

    def __init__(self, bars: pl.DataFrame) -> None:
        self.summary = summarise_minute_bars(bars)

    def scan(self, dataset: str) -> pl.LazyFrame:
        assert dataset == MINUTE_SUMMARY
        return self.summary.lazy()


def _context(per_day: list[list[tuple[str, float, float]] | None]) -> BlockContext:
    days = DAYS[: len(per_day)]
    rows, bars = [], []
    for day, minutes in zip(days, per_day, strict=True):
        close = minutes[-1][1] if minutes else None
        volume = sum(v for _, _, v in minutes) if minutes else None
        rows.append({"Code": "13010", "Date": day, "O": close, "H": close, "L": close, "C": close,
                     "Vo": volume, "Va": volume and volume * close, "AdjFactor": 1.0, "UL": False,
                     "LL": False, "S33": "0050", "S17": "1", "Mkt": "0111", "ScaleCat": "-",
                     "topix_C": 1.0, "topix_O": 1.0, "topix_H": 1.0, "topix_L": 1.0})  # fmt: skip
        for time, c, vo in minutes or ():
            bars.append({"Date": day, "Time": time[:5], "Code": "13010", "O": c, "H": c, "L": c,
                         "C": c, "Vo": vo, "Va": vo * c})  # fmt: skip
    base = finish_base(pl.DataFrame(rows, schema_overrides=BASE_SCHEMA))
    calendar = TradingCalendar.from_xtks(days[0], days[-1])
    store = _Store(pl.DataFrame(bars).reverse())  # any row order: the summary sorts
    return BlockContext(base=base.lazy(), calendar=calendar, store=store, asof_join=None)


def test_formulas_match_hand_computed_values():
    out = BLOCK.compute(_context([FIRST_DAY, None, LONE_BAR])).collect()
    assert out.columns == ["Code", "Date", *(f.name for f in FEATURES)]
    first, idle, lone = out.rows(named=True)
    # five-minute closes 101 (09:00-09:04), 102, 100, 103, 104
    rv = sum(math.log(b / a) ** 2 for a, b in [(101, 102), (102, 100), (100, 103), (103, 104)])
    assert first["mb_rv_5m"] == pytest.approx(rv, rel=1e-5)
    assert first["mb_auction_share"] == pytest.approx(0.5)
    assert first["mb_last30_ret"] == pytest.approx(math.log(104 / 100), rel=1e-5)
    vwap = sum(c * v for _, c, v in FIRST_DAY) / 1000.0
    assert first["mb_vwap_dev"] == pytest.approx(104 / vwap - 1, rel=1e-5)
    assert all(v is None for k, v in idle.items() if k.startswith("mb_"))
    assert lone["mb_rv_5m"] is None  # one bucket: no return
    assert (lone["mb_auction_share"], lone["mb_last30_ret"], lone["mb_vwap_dev"]) == (0.0, 0.0, 0.0)
    assert first["mb_rv_5m_ma20"] is None and first["mb_auction_share_ma20"] is None


def test_twenty_day_means_need_twenty_traded_rows():
    out = BLOCK.compute(_context([FIRST_DAY] * 19 + [LONE_BAR, FIRST_DAY])).collect()
    share = out["mb_auction_share_ma20"].to_list()
    assert share[:19] == [None] * 19
    assert share[19] == pytest.approx(19 * 0.5 / 20)
    assert share[20] == pytest.approx(18 * 0.5 / 20 + 0.5 / 20)
    assert out["mb_rv_5m_ma20"][19] is None  # the lone bar's day has no variance


def test_skipped_with_a_message_when_the_store_has_no_minute_bars():
    selected, skipped = plan_blocks(["mb"], TableStore({}), BLOCKS)
    assert selected == []
    assert skipped == {
        "mb": "no raw data for source(s) equities_bars_minute_summary "
        "(needs the minute add-on: JQUANTS_ADDONS=minute)"
    }


@functools.cache
def _synthetic() -> tuple[dict[str, pl.DataFrame], pl.DataFrame, TradingCalendar]:
    """20 synthetic stocks, 2021-01..2021-04, minute bars on every trading day from February,
    and the base."""
    from gogooku.dataset.base import build_base
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market
    from gogooku.synth.minute import minute_bars

    start, end = date(2021, 1, 4), date(2021, 4, 30)
    config = SynthConfig(seed=5, stocks=20, start=start, end=end)
    tables = dict(generate_market(config, side_tables=False).tables)
    # the add-on's window starts after the build's start, as in a 10-year build
    daily = tables["equities_bars_daily"].filter(pl.col("Date") >= date(2021, 2, 1))
    tables["equities_bars_minute"] = minute_bars(daily, config.seed)
    tables[MINUTE_SUMMARY] = summarise_minute_bars(tables["equities_bars_minute"])
    calendar = TradingCalendar.from_frame(tables["markets_calendar"])
    base = build_base(TableStore(tables), calendar, start, end)
    return tables, base, calendar


def test_summary_block_equals_the_bar_reduction():
    """The block on the stored summaries equals the pre-summary block reducing every bar."""
    tables, base, calendar = _synthetic()
    store = TableStore(tables)
    ctx = BlockContext(base=base.lazy(), calendar=calendar, store=store, asof_join=None)
    new = BLOCK.compute(ctx).collect()
    old = minute_reference.compute(ctx).collect()
    assert new.height == base.height and new["mb_rv_5m"].is_not_null().sum() > 1000
    assert new["mb_rv_5m_ma20"].is_not_null().any()
    assert new.filter(pl.col("Date") < date(2021, 2, 1)).null_count().row(0)[2:] == (
        new.filter(pl.col("Date") < date(2021, 2, 1)).height,
    ) * len(FEATURES)
    for name in new.columns[2:]:
        assert new[name].is_null().equals(old[name].is_null()), name
        assert new[name].cast(pl.Float32).equals(old[name].cast(pl.Float32)), name
    assert_frame_equal(new, old, check_exact=False, rel_tol=1e-12, abs_tol=0.0)
