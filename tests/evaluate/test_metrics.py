"""Signal metrics against scipy, hand-computed values and the Kaggle JPX formula."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr, spearmanr

from gogooku.evaluate import metrics


def _per_day_scipy(frame: pl.DataFrame) -> dict[dt.date, tuple[float, float]]:
    out = {}
    for (day,), g in frame.group_by("Date"):
        out[day] = (
            pearsonr(g["pred"].to_numpy(), g["y"].to_numpy()).statistic,
            spearmanr(g["pred"].to_numpy(), g["y"].to_numpy()).statistic,
        )
    return out


@pytest.mark.parametrize("ties", [False, True])
def test_ic_and_rank_ic_equal_scipy_per_day(cross_section, ties):
    frame = cross_section(n_days=5, n_codes=30, seed=4, ties=ties)
    daily = metrics.daily_ic(frame, "pred", "y")
    ref = _per_day_scipy(frame)
    assert daily.height == 5
    for row in daily.iter_rows(named=True):
        ic, ric = ref[row["Date"]]
        assert row["ic"] == pytest.approx(ic, abs=1e-12)
        assert row["rank_ic"] == pytest.approx(ric, abs=1e-12)
        assert row["n"] == 30
        assert row["constant"] is False


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(-3, 3), min_size=6, max_size=25).flatmap(
        lambda p: st.tuples(
            st.just(p), st.lists(st.integers(-5, 5), min_size=len(p), max_size=len(p))
        )
    )
)
def test_rank_ic_matches_spearmanr_on_tie_heavy_days(pair):
    pred, y = pair
    frame = pl.DataFrame(
        {
            "Date": [dt.date(2021, 3, 1)] * len(pred),
            "Code": [f"{i:04d}0" for i in range(len(pred))],
            "pred": [float(v) for v in pred],
            "y": [float(v) for v in y],
        }
    )
    row = metrics.daily_ic(frame, "pred", "y").row(0, named=True)
    if len(set(pred)) < 2 or len(set(y)) < 2:
        assert row["rank_ic"] is None and row["constant"]
    else:
        assert row["rank_ic"] == pytest.approx(spearmanr(pred, y).statistic, abs=1e-12)


def test_perfect_and_sign_flipped_predictions(cross_section):
    frame = cross_section(n_days=4, n_codes=25, seed=1).with_columns(pred=pl.col("y") * 2 + 1)
    perfect = metrics.ic_summary(metrics.daily_ic(frame, "pred", "y"))
    assert perfect["rank_ic_mean"] == pytest.approx(1.0)
    assert perfect["ic_mean"] == pytest.approx(1.0)
    assert perfect["hit_rate"] == 1.0
    assert perfect["rank_ic_std"] == pytest.approx(0.0, abs=1e-12)
    assert perfect["rank_icir"] is None  # std 0: the ratio is undefined, not infinite
    flipped = metrics.ic_summary(
        metrics.daily_ic(frame.with_columns(pred=-pl.col("pred")), "pred", "y")
    )
    assert flipped["rank_ic_mean"] == pytest.approx(-1.0)
    assert flipped["hit_rate"] == 0.0
    spread = metrics.quantile_summary(metrics.quantile_returns(frame, "pred", "y", 5), 5)
    means = spread["mean_return"]
    assert means == sorted(means)
    assert spread["top_bottom_spread"] == pytest.approx(means[-1] - means[0])


def test_constant_predictions_are_null_and_flagged(cross_section):
    frame = cross_section(n_days=3, n_codes=20).with_columns(pred=pl.lit(0.5))
    daily = metrics.daily_ic(frame, "pred", "y")
    assert daily["rank_ic"].null_count() == 3 and daily["ic"].null_count() == 3
    summary = metrics.ic_summary(daily)
    assert summary["constant_prediction"] is True
    assert summary["constant_days"] == 3
    assert summary["rank_ic_mean"] is None and summary["hit_rate"] is None
    # Every stock ties at average rank (n+1)/2 = 10.5 of 20: all land in decile ⌈5.25⌉ = 6, so
    # there is neither a top nor a bottom decile and no spread.
    deciles = metrics.quantile_summary(metrics.quantile_returns(frame, "pred", "y", 10), 10)
    assert deciles["top_bottom_spread"] is None
    assert metrics.kaggle_jpx_daily(frame, "pred", "y").height == 3


def test_random_predictions_have_rank_ic_near_zero(cross_section):
    frame = cross_section(n_days=60, n_codes=50, seed=9).with_columns(
        pred=pl.Series(np.random.default_rng(123).normal(size=3000))
    )
    s = metrics.ic_summary(metrics.daily_ic(frame, "pred", "y"))
    # Under independence the daily RankIC has sd ≈ 1/√49, so the 60-day mean has sd ≈ 0.018.
    assert abs(s["rank_ic_mean"]) < 0.06
    assert abs(s["rank_ic_t_stat"]) < 3.5
    assert s["rank_icir"] == pytest.approx(s["rank_ic_mean"] / s["rank_ic_std"])
    assert s["rank_ic_t_stat"] == pytest.approx(s["rank_icir"] * np.sqrt(60))


def test_summary_hand_computed():
    s = metrics.summarize_series(pl.Series([0.1, -0.1, 0.3, None]))
    assert s["mean"] == pytest.approx(0.1)
    assert s["std"] == pytest.approx(0.2)
    assert s["ir"] == pytest.approx(0.5)
    assert s["t_stat"] == pytest.approx(0.5 * np.sqrt(3))
    assert s["hit_rate"] == pytest.approx(2 / 3)
    assert s["n"] == 3


def test_deciles_hand_computed():
    day = dt.date(2021, 1, 4)
    frame = pl.DataFrame(
        {
            "Date": [day] * 4,
            "Code": ["10010", "10020", "10030", "10040"],
            "pred": [1.0, 2.0, 2.0, 3.0],
            "y": [0.01, 0.02, 0.04, 0.10],
        }
    )
    q = metrics.quantile_returns(frame, "pred", "y", 2).sort("quantile")
    # average ranks 1, 2.5, 2.5, 4 -> ceil(r*2/4) = 1, 2, 2, 2
    assert q["n"].to_list() == [1, 3]
    assert q["ret"].to_list() == pytest.approx([0.01, (0.02 + 0.04 + 0.10) / 3])


def test_topk_turnover_and_rank_autocorrelation_hand_computed():
    d1, d2, d3 = dt.date(2021, 1, 4), dt.date(2021, 1, 5), dt.date(2021, 1, 6)
    codes = ["A", "B", "C", "D"]
    frame = pl.DataFrame(
        {
            "Date": [d1] * 4 + [d2] * 4 + [d3] * 4,
            "Code": codes * 3,
            "pred": [4.0, 3.0, 2.0, 1.0, 4.0, 1.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0],
        }
    )
    t = metrics.topk_turnover(frame, "pred", k=2)
    # top-2: {A,B} -> {A,C} -> {D,C}
    assert t["Date"].to_list() == [d2, d3]
    assert t["turnover"].to_list() == pytest.approx([0.5, 0.5])
    t2 = metrics.topk_turnover(frame, "pred", k=2, lag=2)
    assert t2["turnover"].to_list() == pytest.approx([1.0])
    ac = metrics.rank_autocorrelation(frame, "pred")
    assert ac["rank_autocorr"].to_list() == pytest.approx(
        [
            spearmanr([4, 1, 3, 2], [4, 3, 2, 1]).statistic,
            spearmanr([1, 2, 3, 4], [4, 1, 3, 2]).statistic,
        ]
    )


def test_coverage():
    day = dt.date(2021, 1, 4)
    universe = pl.DataFrame({"Date": [day] * 4, "Code": ["A", "B", "C", "D"]})
    preds = pl.DataFrame({"Date": [day] * 3, "Code": ["A", "B", "E"], "p": [1.0, None, 2.0]})
    assert metrics.coverage(preds, universe, "p") == pytest.approx(0.25)


def _kaggle_reference(df: pd.DataFrame, portfolio_size: int = 200, ratio: float = 2) -> float:
    """The competition's published metric (JPX Competition Metric Definition notebook)."""

    def calc_spread_return_per_day(day_df: pd.DataFrame) -> float:
        assert day_df["Rank"].min() == 0
        assert day_df["Rank"].max() == len(day_df["Rank"]) - 1
        weights = np.linspace(start=ratio, stop=1, num=portfolio_size)
        purchase = (
            day_df.sort_values(by="Rank")["Target"][:portfolio_size] * weights
        ).sum() / weights.mean()
        short = (
            day_df.sort_values(by="Rank", ascending=False)["Target"][:portfolio_size] * weights
        ).sum() / weights.mean()
        return purchase - short

    buf = df.groupby("Date")[["Rank", "Target"]].apply(calc_spread_return_per_day)
    return float(buf.mean() / buf.std())


def test_kaggle_jpx_score_equals_published_formula():
    rng = np.random.default_rng(5)
    n_days, n_codes = 4, 450
    pred = rng.normal(size=(n_days, n_codes))
    target = 0.01 * pred + rng.normal(0, 0.02, size=(n_days, n_codes))
    dates = [dt.date(2022, 4, 4) + dt.timedelta(days=i) for i in range(n_days)]
    frame = pl.DataFrame(
        {
            "Date": [d for d in dates for _ in range(n_codes)],
            "Code": [f"{1000 + j}0" for _ in dates for j in range(n_codes)],
            "pred": pred.ravel(),
            "y": target.ravel(),
        }
    )
    ranked = frame.with_columns(
        Rank=(pl.col("pred").rank("ordinal", descending=True).over("Date") - 1)
    )
    ref = _kaggle_reference(ranked.select("Date", "Rank", Target="y").to_pandas())
    daily = metrics.kaggle_jpx_daily(frame, "pred", "y")
    score = metrics.kaggle_jpx_score(daily)
    assert daily["legs"].to_list() == [200] * n_days
    assert score["score"] == pytest.approx(ref, rel=1e-10)
    assert score["n_days"] == n_days


def test_kaggle_jpx_small_universe_uses_half_the_stocks():
    day = dt.date(2022, 4, 4)
    frame = pl.DataFrame(
        {
            "Date": [day] * 5,
            "Code": ["A", "B", "C", "D", "E"],
            "pred": [5.0, 4.0, 3.0, 2.0, 1.0],
            "y": [0.05, 0.01, 0.0, -0.02, -0.04],
        }
    )
    row = metrics.kaggle_jpx_daily(frame, "pred", "y").row(0, named=True)
    # m = 2, w = (2, 1), mean 1.5: up = (2·0.05 + 1·0.01)/1.5, down = (2·(−0.04) + 1·(−0.02))/1.5
    assert row["legs"] == 2
    assert row["spread"] == pytest.approx((0.11 - (-0.10)) / 1.5)


def test_kaggle_score_of_flipped_ranking_is_negated(cross_section):
    frame = cross_section(n_days=8, n_codes=30, seed=11)
    score = metrics.kaggle_jpx_score(metrics.kaggle_jpx_daily(frame, "pred", "y"))["score"]
    flipped = frame.with_columns(pred=-pl.col("pred"))
    assert metrics.kaggle_jpx_score(metrics.kaggle_jpx_daily(flipped, "pred", "y"))[
        "score"
    ] == pytest.approx(-score)
