"""Future invariance of the side-data blocks on the synthetic market.

The blocks computed on the raw store as it stood at D (every dataset cut on its date field, the
calendar kept whole, base frame ending at D) equal the blocks computed on the full store, on every
feature of every row dated <= D. Every block must also produce values (not all null).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from gogooku.calendar import TradingCalendar
from gogooku.dataset.asof import asof_join
from gogooku.dataset.base import build_base
from gogooku.features import daily_margin, flows, margin, options, short_selling
from gogooku.features.base import BlockContext
from gogooku.store.raw import RawStore

BLOCKS = [
    *margin.BLOCKS,
    *daily_margin.BLOCKS,
    *flows.BLOCKS,
    *short_selling.BLOCKS,
    *options.BLOCKS,
]
START, END = date(2021, 1, 4), date(2023, 6, 30)


class CutStore:
    def __init__(self, tables: dict[str, pl.DataFrame], cut: date | None = None) -> None:
        self.tables, self.cut = tables, cut

    def scan(self, dataset: str) -> pl.LazyFrame:
        frame = self.tables[dataset].lazy()
        if self.cut is not None and dataset != "markets_calendar":
            frame = frame.filter(pl.col(RawStore.date_field(dataset)) <= self.cut)
        return frame


@pytest.fixture(scope="module")
def synthetic():
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market

    return generate_market(SynthConfig(seed=5, stocks=24, start=START, end=END))


@pytest.fixture(scope="module")
def market(synthetic) -> dict[str, pl.DataFrame]:
    return synthetic.tables


def _compute(tables, cut: date | None) -> dict[str, pl.DataFrame]:
    store = CutStore(tables, cut)
    calendar = TradingCalendar.from_frame(tables["markets_calendar"])
    base = build_base(store, calendar, START, cut or END)
    ctx = BlockContext(base.lazy(), calendar, store, asof_join)
    return {block.name: block.compute(ctx).collect() for block in BLOCKS}


@pytest.fixture(scope="module")
def full(market) -> dict[str, pl.DataFrame]:
    return _compute(market, None)


def test_every_side_feature_has_values(full):
    for block in BLOCKS:
        out = full[block.name]
        for name in block.feature_names:
            assert out[name].null_count() < out.height, f"{block.name}.{name} is all null"


@pytest.mark.slow
@pytest.mark.parametrize(
    "cut",
    [
        date(2022, 1, 7),  # a Friday: a weekly margin record dated today is not usable yet
        date(2022, 1, 12),  # the Wednesday after: it is
        date(2022, 4, 4),  # market reform: sections switch to Prime/Standard/Growth
        date(2022, 6, 10),  # an SQ day
    ],
)
def test_side_blocks_do_not_change_when_later_data_exists(market, full, cut):
    early = _compute(market, cut)
    for block in BLOCKS:
        got = early[block.name]
        want = full[block.name].filter(pl.col("Date") <= cut)
        assert got.select("Code", "Date").equals(want.select("Code", "Date")), block.name
        for name in block.feature_names:
            assert got[name].equals(want[name]), f"{name} changes when data after {cut} exists"


def test_short_positions_match_the_simulated_reported_positions(synthetic, full):
    """ssp_ratio_sum on day t = the simulator's sum of reported positions >= 0.5 % as of calc
    day t - 3 (disclosed t - 1, usable t). Published ratios are rounded to 4 decimals, so a
    position just under 0.5 % can be published as 0.0050 and count as open: the only allowed
    differences are whole multiples of 0.5 %."""
    state = synthetic.state
    days = pl.Series(state.days[3:], dtype=pl.Date)
    reported = state.latents.short_reported
    want = pl.concat(
        pl.DataFrame({"Code": code, "Date": days, "want": reported[:-3, i]})
        for i, code in enumerate(state.universe["Code"].to_list())
    )
    got = (
        full["short_positions"]
        .join(want, on=["Code", "Date"])
        .filter(pl.col("ssp_ratio_sum").is_not_null())
    )
    assert got.height > 5000
    diff = (got["ssp_ratio_sum"].cast(pl.Float64) - got["want"]).abs().to_numpy()
    assert (diff < 3e-4).mean() > 0.85
    steps = np.round(diff / 0.005)
    assert np.all(np.abs(diff - 0.005 * steps) < 3e-4)
