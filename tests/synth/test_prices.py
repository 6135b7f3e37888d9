"""Price rules: limits, ticks, no-trade rows, splits, dividends, TOPIX and the state arrays."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gogooku.synth.prices import TICK_BANDS, TICK_SIZES, limit_width, round_tick

PRICE_FIELDS = ("O", "H", "L", "C", "Vo", "Va", "AdjO", "AdjH", "AdjL", "AdjC", "AdjVo", "MktCap")


@pytest.mark.parametrize(
    ("base", "width"),
    [(50, 30), (99, 30), (100, 50), (199, 50), (200, 80), (499, 80), (500, 100), (700, 150),
     (999, 150), (1000, 300), (1500, 400), (2000, 500), (2999, 500), (3000, 700), (4999, 700),
     (5000, 1000), (7000, 1500), (9999, 1500), (10000, 3000), (15000, 4000), (20000, 5000),
     (30000, 7000), (50000, 10000), (70000, 15000)],
)  # fmt: skip
def test_limit_width_follows_the_tse_table(base, width):
    assert limit_width(np.array([float(base)]))[0] == width


@pytest.mark.parametrize(
    ("price", "rounded"),
    [(1234.4, 1234), (2999.6, 3000), (3002.0, 3000), (3003.0, 3005), (12344.0, 12340),
     (31000.0, 31000), (31020.0, 31000), (31030.0, 31050), (0.2, 1)],
)  # fmt: skip
def test_round_tick_uses_the_price_band_tick(price, rounded):
    assert round_tick(np.array([price]))[0] == rounded


@given(st.floats(min_value=1.0, max_value=2_000_000.0))
def test_round_tick_lands_on_a_tick_within_half_a_tick(price):
    out = round_tick(np.array([price]))[0]
    tick = TICK_SIZES[np.searchsorted(TICK_BANDS, price, side="left")]
    assert abs(out - price) <= tick / 2 + 1e-9
    assert out % TICK_SIZES[np.searchsorted(TICK_BANDS, out, side="left")] == 0


@given(st.floats(min_value=1.0, max_value=2_000_000.0), st.floats(min_value=1.0, max_value=3.0))
def test_limit_width_is_non_decreasing_in_price(price, mult):
    assert limit_width(np.array([price * mult]))[0] >= limit_width(np.array([price]))[0]


def _with_base(bars: pl.DataFrame) -> pl.DataFrame:
    """Previous traded close restated in today's share basis: AdjC_prev · C / AdjC."""
    prev_adj = pl.col("AdjC").forward_fill().shift(1).over("Code", order_by="Date")
    return bars.sort("Code", "Date").with_columns(
        (prev_adj * pl.col("C") / pl.col("AdjC")).alias("base"), prev_adj.alias("prev_adj")
    )


def test_bars_are_consistent_and_respect_price_limits(golden_market):
    bars = _with_base(golden_market.tables["equities_bars_daily"])
    traded = bars.filter(pl.col("C").is_not_null())
    assert traded.filter(
        (pl.col("L") > pl.min_horizontal("O", "C")) | (pl.col("H") < pl.max_horizontal("O", "C"))
    ).is_empty()
    assert traded["Vo"].min() >= 100 and (traded["Vo"] % 100 == 0).all()
    assert traded.filter(pl.col("Va") < pl.col("Vo") * pl.col("L") - 1e-6).is_empty()
    with_base = traded.filter(pl.col("base").is_not_null())
    width = pl.Series(limit_width(with_base["base"].to_numpy()))
    excess = (with_base["C"] - with_base["base"]).abs() - width
    assert excess.max() < 1e-6
    up = with_base.with_columns(width.alias("w")).filter(pl.col("UL"))
    down = with_base.with_columns(width.alias("w")).filter(pl.col("LL"))
    assert up.height + down.height > 0
    np.testing.assert_allclose(up["C"], up["base"] + up["w"], rtol=1e-9)
    np.testing.assert_allclose(down["C"], down["base"] - down["w"], rtol=1e-9)


def test_no_trade_rows_are_all_null_and_the_halt_day_is_empty(golden_market):
    bars = golden_market.tables["equities_bars_daily"]
    missing = bars.filter(pl.col("C").is_null())
    assert missing.height > bars.filter(pl.col("Date") == date(2020, 10, 1)).height > 0
    assert all(missing[f].null_count() == missing.height for f in PRICE_FIELDS)
    assert not (missing["UL"].any() or missing["LL"].any())
    traded = bars.filter(pl.col("C").is_not_null())
    assert all(traded[f].null_count() == 0 for f in PRICE_FIELDS)
    topix = golden_market.tables["indices_topix"].sort("Date")
    i = topix["Date"].to_list().index(date(2020, 10, 1))
    assert topix.row(i)[1:] == (topix["C"][i - 1],) * 4


def test_splits_set_adjfactor_and_keep_adjusted_prices_continuous(golden_market):
    bars = _with_base(golden_market.tables["equities_bars_daily"])
    splits = bars.filter(pl.col("AdjFactor") != 1.0)
    assert splits.height > 0
    assert (splits["ExRT"] == pl.Series(np.where(splits["AdjFactor"] < 1, "1", "2"))).all()
    assert (
        bars.filter(pl.col("AdjFactor") == 1.0)["ExRT"].null_count() == bars.height - splits.height
    )
    traded = splits.filter(pl.col("C").is_not_null() & pl.col("prev_adj").is_not_null())
    adj_move = (traded["AdjC"] / traded["prev_adj"] - 1).abs()
    assert adj_move.max() < 0.35  # within a daily limit although C jumps by the split ratio
    cum = bars.with_columns(pl.col("AdjFactor").cum_prod().over("Code", order_by="Date").alias("k"))
    ok = cum.filter(pl.col("C").is_not_null())
    np.testing.assert_allclose(ok["AdjC"], ok["C"] / ok["k"], rtol=1e-12)
    np.testing.assert_allclose(ok["AdjVo"], ok["Vo"] * ok["k"], rtol=1e-12)


def test_dividends_drop_the_price_but_not_the_total_return(golden_market):
    state = golden_market.state
    t, i = np.nonzero(state.dividend > 0)
    assert len(t) > 50
    close = state.close
    prev = np.array(
        [close[:tt, ii][np.isfinite(close[:tt, ii])][-1] for tt, ii in zip(t, i, strict=True)]
    )
    traded = np.isfinite(close[t, i])
    f = state.adj_factor[t, i]
    price_ret = close[t, i] / (prev * f) - 1.0
    total = state.ret[t, i]
    np.testing.assert_allclose(
        (total - price_ret)[traded], (state.dividend[t, i] / (prev * f))[traded], rtol=1e-9
    )
    yields = state.dividend[t, i] / (prev * f)
    assert 0.003 < np.median(yields) < 0.02


def test_topix_is_the_cap_weighted_price_index_of_its_members(golden_market):
    bars = _with_base(golden_market.tables["equities_bars_daily"])
    members = golden_market.state.universe.filter(pl.col("ScaleCat") != "-")["Code"]
    prev_cap = (pl.col("C") * pl.col("MktCap") / pl.col("C")).forward_fill().shift(1)
    rel = (
        bars.filter(pl.col("Code").is_in(members.implode()))
        .with_columns(prev_cap.over("Code", order_by="Date").alias("w"))
        .filter(pl.col("C").is_not_null() & pl.col("prev_adj").is_not_null())
        .group_by("Date")
        .agg(
            ((pl.col("w") * pl.col("AdjC") / pl.col("prev_adj")).sum() / pl.col("w").sum()).alias(
                "g"
            )
        )
    )
    topix = (
        golden_market.tables["indices_topix"]
        .sort("Date")
        .with_columns((pl.col("C") / pl.col("C").shift(1)).alias("index_g"))
    )
    joined = topix.join(rel, on="Date").drop_nulls()
    assert joined.height > 400
    np.testing.assert_allclose(joined["index_g"], joined["g"], atol=2e-5)
    assert topix.filter(
        (pl.col("H") < pl.max_horizontal("O", "C")) | (pl.col("L") > pl.min_horizontal("O", "C"))
    ).is_empty()


def test_state_arrays_match_the_bars_table(golden_market):
    state = golden_market.state
    bars = golden_market.tables["equities_bars_daily"]
    t, i = np.nonzero(state.listed)
    np.testing.assert_array_equal(bars["C"].fill_null(np.nan).to_numpy(), state.close[t, i])
    np.testing.assert_array_equal(bars["Vo"].fill_null(np.nan).to_numpy(), state.volume[t, i])
    # adv: mean traded value of the last 20 trading days with trades, one stock by hand
    code = state.universe["Code"][0]
    va = bars.filter(pl.col("Code") == code).sort("Date")["Va"].to_list()
    k = 100
    window = [v for v in va[k - 19 : k + 1] if v is not None]
    assert state.adv[k, 0] == pytest.approx(sum(window) / len(window), rel=1e-12)


def test_most_delistings_follow_a_crash_that_the_bars_show(golden_market):
    from gogooku.synth.universe import build_universe, horizon_end, trading_sessions

    config = golden_market.config
    days = golden_market.state.days
    _, params = build_universe(config, trading_sessions(config.start, horizon_end(config)))
    bars = golden_market.tables["equities_bars_daily"]
    visible = np.flatnonzero(params.delist_idx < len(days))
    crashed = [int(i) for i in visible if params.crash_idx[i] >= 0]
    assert crashed and len(crashed) < len(visible)
    codes = golden_market.state.universe["Code"]
    for i in crashed:
        start, end = int(params.crash_idx[i]), int(params.delist_idx[i])
        rows = bars.filter(pl.col("Code") == codes[i]).sort("Date")
        assert rows["Date"][-1] == days[end - 1]  # the last bar is the last listed day
        adj = dict(zip(rows["Date"], rows["AdjC"], strict=True))
        before = adj[days[start - 1]]
        last = rows["AdjC"].drop_nulls()[-1]
        planned = (end - start) * np.log1p(params.crash_return[i])  # log(1 - depth) <= log(0.5)
        assert planned <= np.log(0.5) + 1e-12
        assert np.log(last / before) < planned / 2, codes[i]
