"""Property tests of the per-stock rolling helpers against plain reference loops."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.features import ops
from gogooku.features.base import Feature

stocks = st.lists(
    st.lists(st.one_of(st.booleans(), st.none()), min_size=1, max_size=40),
    min_size=1,
    max_size=4,
)


def _frame(per_stock: list[list]) -> pl.DataFrame:
    codes = [f"{i + 1}0000" for i, values in enumerate(per_stock) for _ in values]
    flat = [v for values in per_stock for v in values]
    return pl.DataFrame({"Code": codes, "x": flat}, schema={"Code": pl.String, "x": pl.Boolean})


def _streak_reference(values: list) -> list[int]:
    out, run = [], 0
    for v in values:
        run = run + 1 if v else 0
        out.append(run)
    return out


def _since_reference(values: list, cap: int) -> list[int | None]:
    out, last = [], None
    for i, v in enumerate(values):
        if v:
            last = i
        since = None if last is None else i - last
        out.append(since if since is not None and since <= cap else None)
    return out


@settings(max_examples=60, deadline=None)
@given(stocks)
def test_streak_counts_consecutive_true_rows_within_each_stock(per_stock):
    got = _frame(per_stock).select(ops.streak(pl.col("x")).alias("s"))["s"].to_list()
    want = [s for values in per_stock for s in _streak_reference(values)]
    assert got == want


@settings(max_examples=60, deadline=None)
@given(stocks, st.integers(min_value=0, max_value=10))
def test_rows_since_is_the_capped_distance_to_the_stock_s_last_event(per_stock, cap):
    got = _frame(per_stock).select(ops.rows_since(pl.col("x"), cap).alias("s"))["s"].to_list()
    want = [s for values in per_stock for s in _since_reference(values, cap)]
    assert got == want


def _stocks_with_gaps(bound: float, rows: int, stocks: int) -> st.SearchStrategy:
    """Per stock (1..``stocks``) 1..``rows`` values in [−bound, bound] or missing."""
    value = st.one_of(st.none(), st.floats(min_value=-bound, max_value=bound))
    return st.lists(st.lists(value, min_size=1, max_size=rows), min_size=1, max_size=stocks)


@settings(max_examples=40, deadline=None)
@given(_stocks_with_gaps(5, 60, 3), st.sampled_from([1 / 2, 1 / 3, 2 / 11, 1 / 14]))
def test_truncated_ema_is_a_per_stock_finite_weighted_mean(per_stock, alpha):
    codes = [f"{i + 1}0000" for i, values in enumerate(per_stock) for _ in values]
    flat = [v for values in per_stock for v in values]
    frame = pl.DataFrame({"Code": codes, "x": flat}, schema={"Code": pl.String, "x": pl.Float64})
    got = frame.select(ops.ema(pl.col("x"), alpha))["x"].to_list()
    w = math.ceil(math.log(0.005) / math.log(1 - alpha))
    weights = (1 - alpha) ** np.arange(w)
    want: list[float | None] = []
    for values in per_stock:
        for t in range(len(values)):
            window = values[max(0, t - w + 1) : t + 1][::-1]
            if len(window) < w or any(v is None for v in window):
                want.append(None)
            else:
                want.append(float((weights * np.array(window)).sum() / weights.sum()))
    assert [g is None for g in got] == [v is None for v in want]
    for g, v in zip(got, want, strict=True):
        if v is not None:
            assert math.isclose(g, v, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    _stocks_with_gaps(1e6, 90, 4),
    st.sampled_from([1 / 2, 2 / 11, 1 / 14]),
    st.integers(min_value=1, max_value=30),
)
def test_whole_column_windows_equal_per_stock_windows_bit_for_bit(per_stock, alpha, w):
    """The EMA, max, min and lag run down the whole column (``one_stock_window``) give exactly
    the values of the same kernels run once per stock with ``.over("Code")``."""
    codes = [f"{i + 1}0000" for i, values in enumerate(per_stock) for _ in values]
    flat = [v for values in per_stock for v in values]
    frame = pl.DataFrame({"Code": codes, "x": flat}, schema={"Code": pl.String, "x": pl.Float64})
    x = pl.col("x")
    weights = ops.ema_weights(alpha)
    n = len(weights)
    complete = x.is_not_null().cast(pl.Int32).rolling_sum(n, min_samples=n) == n
    value = x.fill_null(0.0).rolling_sum(n, weights=weights, min_samples=n)
    per_stock_ema = pl.when(complete.over("Code")).then(value.over("Code")).otherwise(None)
    got = frame.select(
        ops.ema(x, alpha).alias("ema"),
        ops.rolling_max(x, w).alias("max"),
        ops.rolling_min(x, w).alias("min"),
        ops.lag(x, w - 1).alias("lag"),
    )
    want = frame.select(
        per_stock_ema.alias("ema"),
        x.rolling_max(w, min_samples=w).over("Code").alias("max"),
        x.rolling_min(w, min_samples=w).over("Code").alias("min"),
        x.shift(w - 1).over("Code").alias("lag"),
    )
    for name in ("ema", "max", "min", "lag"):
        assert got[name].equals(want[name]), name


records = st.lists(
    st.tuples(st.sampled_from(["10000", "20000", "30000"]), st.integers(0, 5), st.integers(0, 9)),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(rows=records)
def test_last_per_day_sorted_equals_unique_keep_last_then_sort(rows):
    frame = pl.DataFrame(
        {
            "Code": [r[0] for r in rows],
            "Date": [date(2024, 1, 1) + timedelta(days=r[1]) for r in rows],
            "v": [r[2] for r in rows],
        },
        schema={"Code": pl.String, "Date": pl.Date, "v": pl.Int64},
    ).lazy()
    want = frame.unique(subset=["Code", "Date"], keep="last").sort("Code", "Date").collect()
    assert ops.last_per_day_sorted(frame).collect().equals(want)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.lists(st.booleans(), min_size=1, max_size=8), min_size=1, max_size=3),
    st.booleans(),
)
def test_to_base_rows_puts_each_traded_value_on_its_row_and_nulls_elsewhere(per_stock, subset):
    """By position (computed = the traded rows in base order) or by key (any other row set)."""
    codes = [f"{i + 1}0000" for i, flags in enumerate(per_stock) for _ in flags]
    days = [date(2024, 1, 1) + timedelta(days=d) for flags in per_stock for d in range(len(flags))]
    no_trade = [f for flags in per_stock for f in flags]
    base = pl.DataFrame(
        {"Code": codes, "Date": days, "no_trade": no_trade, "k": list(range(len(codes)))}
    ).lazy()
    computed = ops.traded_rows(base).with_columns((pl.col("k") * 10.0).alias("v"))
    if subset:  # drop the last traded row: no longer the traded rows, joined by key
        computed = computed.head(max(computed.select(pl.len()).collect().item() - 1, 0))
    kept = set(computed.select("k").collect()["k"].to_list())
    features = (Feature("v", "", "", None), Feature("k", "", "", None, dtype="Int64"))
    out = ops.to_base_rows(base, computed, features, from_base=("k",)).collect()
    assert out["k"].to_list() == list(range(len(codes)))
    assert out["v"].to_list() == [k * 10.0 if k in kept else None for k in range(len(codes))]
    assert out["v"].dtype == pl.Float32
