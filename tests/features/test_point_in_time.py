"""No-trade days, the 2020-10-01 halt, future invariance and bounded history of the core blocks."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gogooku.calendar import TradingCalendar
from gogooku.features import (
    calendar_flags,
    limits,
    liquidity,
    market,
    returns,
    sector,
    technicals,
    volatility,
)

CORE = (returns, volatility, technicals, liquidity, limits, market, sector, calendar_flags)

# Features that legitimately count calendar rows rather than traded rows.
CALENDAR_HORIZON = {
    *(f"ret_prev_{h}d" for h in (5, 10, 20, 60, 120)),
    *(f"log_ret_{h}d" for h in (5, 10, 20)),
    "mom_60_5d",
    "mom_250_20d",
}
# Price features that must be null on a no-trade row (no range or volume that day).
PRICE_BLOCKS = (returns, volatility, technicals)


@pytest.fixture(scope="module")
def calendar() -> TradingCalendar:
    return TradingCalendar.from_xtks(date(2020, 1, 1), date(2021, 12, 31))


@pytest.fixture(scope="module")
def halt_base(calendar, make_base, make_no_trade) -> pl.DataFrame:
    days = calendar.days(date(2020, 2, 3), date(2021, 6, 30))
    base = make_base(["13010", "72030", "99840"], days, seed=21)
    gaps = [("72030", date(2020, 11, 16)), ("72030", date(2021, 2, 1)), ("13010", date(2021, 3, 3))]
    return make_no_trade(base, gaps)


@pytest.mark.parametrize("module", PRICE_BLOCKS, ids=lambda m: m.BLOCK.name)
def test_no_trade_rows_are_null_and_windows_skip_them(
    module, halt_base, calendar, make_context, rebuild_base
):
    """Price features are null on a no-trade row, and on traded rows they equal the values
    computed with the no-trade rows deleted (windows run over the stock's traded rows)."""
    ctx = make_context(halt_base, calendar)
    out = module.BLOCK.compute(ctx).collect()
    no_trade = halt_base["no_trade"]
    for name in module.BLOCK.feature_names:
        assert out.filter(no_trade)[name].is_null().all(), name
    traded_only = halt_base.filter(~pl.col("no_trade"))
    compact = module.BLOCK.compute(make_context(traded_only, calendar)).collect()
    names = [n for n in module.BLOCK.feature_names if n not in CALENDAR_HORIZON]
    assert (
        out.filter(~no_trade)
        .select("Code", "Date", *names)
        .equals(compact.select("Code", "Date", *names))
    )


def test_returns_across_the_halt_run_from_the_last_traded_close(halt_base, calendar, make_context):
    out = returns.BLOCK.compute(make_context(halt_base, calendar)).collect()
    for code in ("13010", "99840"):
        c = halt_base.filter(pl.col("Code") == code).select("Date", "AdjC")
        close = dict(zip(c["Date"], c["AdjC"], strict=True))
        rows = out.filter(pl.col("Code") == code)
        on = rows.filter(pl.col("Date") == date(2020, 10, 1)).row(0, named=True)
        after = rows.filter(pl.col("Date") == date(2020, 10, 2)).row(0, named=True)
        assert on["ret_prev_1d"] is None and on["ret_overnight"] is None
        want = close[date(2020, 10, 2)] / close[date(2020, 9, 30)] - 1
        assert after["ret_prev_1d"] == pytest.approx(want, rel=1e-5)
        # 5 rows back from 2020-10-07 is 2020-09-30 (10-01 is a row of the stock).
        week = rows.filter(pl.col("Date") == date(2020, 10, 7)).row(0, named=True)
        want5 = close[date(2020, 10, 7)] / close[date(2020, 9, 30)] - 1
        assert week["ret_prev_5d"] == pytest.approx(want5, rel=1e-5)


def test_market_features_skip_the_halt_day(halt_base, calendar, make_context):
    out = market.BLOCK.compute(make_context(halt_base, calendar)).collect()
    on = out.filter(pl.col("Date") == date(2020, 10, 1))
    index_names = [f.name for f in market.BLOCK.features if f.name.startswith("topix_")]
    assert on.select(index_names).null_count().row(0) == (3,) * len(index_names)
    topix = halt_base.filter(pl.col("Code") == "13010").select("Date", "topix_C")
    close = dict(zip(topix["Date"], topix["topix_C"], strict=True))
    after = out.filter(pl.col("Date") == date(2020, 10, 2)).row(0, named=True)
    want = close[date(2020, 10, 2)] / close[date(2020, 9, 30)] - 1
    assert after["topix_ret_1d"] == pytest.approx(want, rel=1e-5)
    assert after["topix_vol_20d"] is not None and after["beta_60d"] is not None


def _compute_all(base: pl.DataFrame, calendar, make_context) -> dict[str, pl.DataFrame]:
    ctx = make_context(base, calendar)
    return {m.BLOCK.name: m.BLOCK.compute(ctx).collect() for m in CORE}


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(cut=st.integers(min_value=150, max_value=340))
def test_features_up_to_a_date_do_not_change_when_later_data_arrives(
    cut, halt_base, calendar, make_context
):
    days = halt_base["Date"].unique().sort()
    d = days[cut]
    full = _compute_all(halt_base, calendar, make_context)
    short = _compute_all(halt_base.filter(pl.col("Date") <= d), calendar, make_context)
    for name, frame in full.items():
        assert frame.filter(pl.col("Date") <= d).equals(short[name]), (name, d)


@pytest.mark.parametrize("module", CORE, ids=lambda m: m.BLOCK.name)
def test_values_depend_only_on_the_declared_lookback(module, halt_base, calendar, make_context):
    """Dropping history older than the block's lookback leaves the later values bit-identical
    (finite windows, truncated EMAs, capped distances), so a build may start anywhere."""
    days = halt_base["Date"].unique().sort()
    start = days[20]
    first_checked = days[20 + module.BLOCK.lookback]
    full = module.BLOCK.compute(make_context(halt_base, calendar)).collect()
    late = module.BLOCK.compute(
        make_context(halt_base.filter(pl.col("Date") >= start), calendar)
    ).collect()
    a = full.filter(pl.col("Date") >= first_checked)
    b = late.filter(pl.col("Date") >= first_checked)
    assert a.height == b.height > 0
    assert a.equals(b)


def test_a_split_leaves_price_and_volume_features_continuous(
    calendar, make_base, rebuild_base, make_context
):
    """A 1:2 split halves the raw price and doubles raw volume on the ex-date; with the
    point-in-time adjustment (C / ∏ AdjFactor) every ratio feature is unaffected."""
    days = calendar.days(date(2020, 2, 3), date(2020, 9, 30))
    plain = make_base(["13010"], days, seed=8)
    ex = days[100]
    after = pl.col("Date") >= ex
    split = rebuild_base(
        plain.with_columns(
            *(pl.when(after).then(pl.col(c) / 2).otherwise(pl.col(c)) for c in "OHLC"),
            pl.when(after).then(pl.col("Vo") * 2).otherwise(pl.col("Vo")).alias("Vo"),
            pl.when(pl.col("Date") == ex).then(0.5).otherwise(1.0).alias("AdjFactor"),
        )
    )
    for module in (returns, volatility, technicals, market):
        a = module.BLOCK.compute(make_context(plain, calendar)).collect()
        b = module.BLOCK.compute(make_context(split, calendar)).collect()
        for name in module.BLOCK.feature_names:
            x, y = a[name], b[name]
            assert x.is_null().equals(y.is_null()), name
            if x.dtype.is_float():
                np.testing.assert_allclose(
                    x.drop_nulls().to_numpy(), y.drop_nulls().to_numpy(), rtol=1e-4, atol=1e-6
                )
    flags = limits.BLOCK.compute(make_context(split, calendar)).collect()
    assert flags.filter(pl.col("split_flag"))["Date"].to_list() == [ex]
