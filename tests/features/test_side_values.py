"""The side-data blocks on a 2.5-year synthetic market: every feature has values, and the short
positions equal the simulator's. Their future invariance at publication time is checked with the
whole registry in ``test_publication_invariance.py`` and ``tests/dataset/test_build.py``.
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

from ..support.tables import TableStore

BLOCKS = [
    *margin.BLOCKS,
    *daily_margin.BLOCKS,
    *flows.BLOCKS,
    *short_selling.BLOCKS,
    *options.BLOCKS,
]
START, END = date(2021, 1, 4), date(2023, 6, 30)


@pytest.fixture(scope="module")
def synthetic():
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market

    return generate_market(SynthConfig(seed=5, stocks=24, start=START, end=END))


@pytest.fixture(scope="module")
def market(synthetic) -> dict[str, pl.DataFrame]:
    return synthetic.tables


@pytest.fixture(scope="module")
def full(market) -> dict[str, pl.DataFrame]:
    store = TableStore(market)
    calendar = TradingCalendar.from_frame(market["markets_calendar"])
    base = build_base(store, calendar, START, END)
    ctx = BlockContext(base.lazy(), calendar, store, asof_join)
    return {block.name: block.compute(ctx).collect() for block in BLOCKS}


def test_every_side_feature_has_values(full):
    for block in BLOCKS:
        out = full[block.name]
        for name in block.feature_names:
            assert out[name].null_count() < out.height, f"{block.name}.{name} is all null"


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
