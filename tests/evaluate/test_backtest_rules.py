"""Small hand-computed books: overlapping sleeves, long-short, short-side limits, errors."""

from __future__ import annotations

import polars as pl
import pytest

from gogooku.evaluate.backtest import BacktestConfig, BacktestError, run_backtest

from .conftest import market_frame, score_frame, topix_frame, trading_days

DAYS = trading_days(5)
FLAT_TOPIX = topix_frame(DAYS, [100.0] * 5)


def test_overlapping_sleeves_stagger_their_rebalances():
    # Two sleeves of ¥500, lot 1, no cost, top-1. Scores: d0 X, d1 Y, d2 Y, d3 Y.
    # d1 sleeve 0 buys X ⌊500/10⌋ = 50 (cash 0); sleeve 1 is cash.       V = 1000
    # d2 X 11 → sleeve 0 550; sleeve 1 buys Y ⌊500/20⌋ = 25 (cash 0).     V = 1050
    # d3 X 12, Y 22 → 600 + 550 = 1150; sleeve 0 sells 50 X @12 = 600 and buys Y ⌊600/22⌋ = 27
    #    = 594 (cash 6).                                                   V = 1150
    # d4 Y 23 → sleeve 0 27·23 + 6 = 627, sleeve 1 25·23 = 575; sleeve 1 keeps ⌊575/23⌋ = 25.
    #                                                                       V = 1202
    market = market_frame(
        DAYS, {"X": [10, 10, 11, 12, 12], "Y": [20, 20, 20, 22, 23]}, {"X": "1", "Y": "2"}
    )
    scores = score_frame(
        DAYS,
        {0: {"X": 1.0, "Y": 0.0}, 1: {"X": 0.0, "Y": 1.0}, 2: {"X": 0.0, "Y": 1.0},
         3: {"X": 0.0, "Y": 1.0}},
    )  # fmt: skip
    config = BacktestConfig(
        top_k=1, rebalance_days=2, overlapping=True, cost_bps=0.0, capital=1000, lot_size=1
    )
    res = run_backtest(scores, market, FLAT_TOPIX, config)
    assert res.daily["nav"].to_list() == pytest.approx([1000, 1050, 1150, 1202])
    assert res.daily["turnover"].to_list() == pytest.approx([0.5, 500 / 1000, 1194 / 1050, 0.0])
    assert res.daily["n_long"].to_list() == [1, 2, 1, 1]
    day3 = res.positions.filter(pl.col("Date") == DAYS[3])
    assert day3.select("Code", "shares").rows() == [("Y", 52.0)]


def test_non_overlapping_holds_until_the_next_rebalance():
    # Same scores without overlap, R = 2: d0 trades on d1 (X, all ¥1000 → 100 shares), d2 on d3
    # (Y: sell 100 X @12 = 1200, buy ⌊1200/22⌋ = 54 Y = 1188, cash 12); the series ends R = 2
    # days after the last trade, clipped to the last market day d4.
    market = market_frame(
        DAYS, {"X": [10, 10, 11, 12, 12], "Y": [20, 20, 20, 22, 23]}, {"X": "1", "Y": "2"}
    )
    scores = score_frame(DAYS, {t: {"X": 1.0 - (t > 0), "Y": float(t > 0)} for t in range(4)})
    config = BacktestConfig(top_k=1, rebalance_days=2, cost_bps=0.0, capital=1000, lot_size=1)
    res = run_backtest(scores, market, FLAT_TOPIX, config)
    assert res.daily["Date"].to_list() == DAYS[1:]
    assert res.daily["nav"].to_list() == pytest.approx([1000, 1100, 1200, 12 + 54 * 23])


def test_long_short_book_and_limit_down_blocks_a_new_short():
    # Top-1 long W, bottom-1 short Z, each ¥1000 / 2 = 500: long ⌊500/10⌋ = 50 W, short
    # ⌊500/20⌋ = 25 Z; the short's proceeds stay in cash: cash = 1000 − 500 + 500 = 1000.
    # d2: W 11, Z 18 → V = 1000 + 50·11 − 25·18 = 1100.
    days = DAYS[:3]
    closes = {"W": [10, 10, 11], "M": [15, 15, 15], "Z": [20, 20, 18]}
    sectors = {"W": "1", "M": "1", "Z": "2"}
    scores = score_frame(days, {0: {"W": 3.0, "M": 2.0, "Z": 1.0}})
    config = BacktestConfig(
        top_k=1, strategy="long_short", rebalance_days=1, cost_bps=0.0, capital=1000, lot_size=1
    )
    topix = topix_frame(days, [1.0] * 3)
    res = run_backtest(scores, market_frame(days, closes, sectors), topix, config)
    assert res.daily["nav"].to_list() == pytest.approx([1000, 1100])
    assert res.daily["n_long"].to_list() == [1, 1]
    assert res.daily["n_short"].to_list() == [1, 1]
    first = dict(res.positions.filter(pl.col("Date") == days[1]).select("Code", "shares").rows())
    assert first == {"W": 50.0, "Z": -25.0}
    assert dict(res.sector_contribution.rows()) == pytest.approx({"1": 50 / 1000, "2": 50 / 1000})

    # Z limit-down on the trade day: opening the short is a sell, so it is refused.
    blocked = run_backtest(
        scores, market_frame(days, closes, sectors, ll={("Z", 1)}), topix, config
    )
    assert blocked.daily["n_short"].to_list() == [0, 0]
    assert blocked.daily["nav"].to_list() == pytest.approx([1000, 1050])


def test_limit_up_blocks_covering_a_short():
    # d1 short Z 25 @20 (and long W 50 @10); on d2 the book flips: Z should be covered (now the
    # top score) but is limit-up, so the short stays; W goes from +50 to a short, a sell, allowed.
    days = DAYS[:4]
    closes = {"W": [10, 10, 10, 10], "Z": [20, 20, 22, 22]}
    scores = score_frame(days, {0: {"W": 2.0, "Z": 1.0}, 1: {"W": 1.0, "Z": 2.0}})
    config = BacktestConfig(
        top_k=1, strategy="long_short", rebalance_days=1, cost_bps=0.0, capital=1000, lot_size=1
    )
    market = market_frame(days, closes, {"W": "1", "Z": "2"}, ul={("Z", 2)})
    res = run_backtest(scores, market, topix_frame(days, [1.0] * 4), config)
    # d2: V = 1000 − 25·2 = 950; W target −⌊475/10⌋ = −47 (sell 97); Z covered? blocked (−25).
    day2 = dict(res.positions.filter(pl.col("Date") == days[2]).select("Code", "shares").rows())
    assert day2 == {"W": -47.0, "Z": -25.0}
    assert res.daily["nav"].to_list() == pytest.approx([1000, 950, 950])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"top_k": 0}, "top_k"),
        ({"strategy": "short_only"}, "strategy"),
        ({"rebalance_days": 0}, "rebalance_days"),
        ({"cost_bps": -1.0}, "cost_bps"),
        ({"capital": 0.0}, "capital"),
        ({"lot_size": 0}, "lot_size"),
    ],
)
def test_config_errors_name_the_parameter(kwargs, name):
    with pytest.raises(BacktestError, match=f"BacktestConfig.{name}"):
        BacktestConfig(**kwargs)


def test_input_errors_name_the_column_or_row():
    market = market_frame(DAYS, {"X": [10] * 5}, {"X": "1"})
    scores = score_frame(DAYS, {0: {"X": 1.0}})
    config = BacktestConfig(top_k=1)
    with pytest.raises(BacktestError, match=r"market: missing columns \['UL'\]"):
        run_backtest(scores, market.drop("UL"), FLAT_TOPIX, config)
    with pytest.raises(BacktestError, match=r"scores: missing columns \['score'\]"):
        run_backtest(scores.rename({"score": "pred"}), market, FLAT_TOPIX, config)
    with pytest.raises(
        BacktestError, match=r"market: 2 rows repeat a \(Date, Code\) pair, first 2024-01-04 X"
    ):
        run_backtest(scores, pl.concat([market, market.head(1)]), FLAT_TOPIX, config)
    with pytest.raises(
        BacktestError, match=r"scores: 2 rows repeat a \(Date, Code\) pair, first 2024-01-04 X"
    ):
        run_backtest(pl.concat([scores, scores]), market, FLAT_TOPIX, config)
    with pytest.raises(
        BacktestError, match=r"no score date in 2024-01-04\.\.2024-01-10 before the last market day"
    ):
        run_backtest(score_frame(DAYS, {4: {"X": 1.0}}), market, FLAT_TOPIX, config)
    with pytest.raises(BacktestError, match="market: no rows"):
        run_backtest(scores, market.clear(), FLAT_TOPIX, config)
    with pytest.raises(BacktestError, match="benchmark: no level on or before 2024-01-05"):
        run_backtest(scores, market, FLAT_TOPIX.filter(pl.col("Date") > DAYS[3]), config)
    with pytest.raises(BacktestError, match=r"non-positive close C=0\.0 for X on 2024-01-08"):
        run_backtest(scores, market_frame(DAYS, {"X": [10, 10, 0, 10, 10]}, {"X": "1"}),
                     FLAT_TOPIX, config)  # fmt: skip


def test_ties_go_to_the_smaller_code_for_longs_and_the_larger_for_shorts():
    # Order: score descending, Code ascending → P, Q, R, S (all equal); longs are the first k,
    # shorts the last k. With ¥1000 and price 10, long-only top-2 buys ⌊500/10⌋ = 50 each.
    days = DAYS[:3]
    closes = {c: [10, 10, 10] for c in ("P", "Q", "R", "S")}
    market = market_frame(days, closes, dict.fromkeys(closes, "1"))
    scores = score_frame(days, {0: dict.fromkeys(closes, 1.0)})
    topix = topix_frame(days, [1.0] * 3)
    base = {"rebalance_days": 1, "cost_bps": 0.0, "capital": 1000, "lot_size": 1}
    long_only = run_backtest(scores, market, topix, BacktestConfig(top_k=2, **base))
    held = long_only.positions.filter(pl.col("Date") == days[1]).select("Code", "shares").rows()
    assert held == [("P", 50.0), ("Q", 50.0)]
    config = BacktestConfig(top_k=1, strategy="long_short", **base)
    long_short = run_backtest(scores, market, topix, config)
    held = long_short.positions.filter(pl.col("Date") == days[1]).select("Code", "shares").rows()
    assert held == [("P", 50.0), ("S", -50.0)]


def test_split_while_held_then_full_exit():
    # X had a 10:1 reverse split on d1 (AdjFactor 10, C 0.3 → 3); d1 buys ⌊3e9 / 3⌋ = 1e9 X; a
    # 1:3 split on d2 makes it 3e9 shares (AdjFactor 1/3, C 3 → 1), and the d1 signal moves the
    # book to Y: X must be gone entirely.
    days = DAYS[:4]
    closes = {"X": [0.3, 3, 1, 1], "Y": [1, 1, 1, 1]}
    factors = {("X", 1): 10.0, ("X", 2): 1 / 3}
    market = market_frame(days, closes, {"X": "1", "Y": "2"}, adj_factor=factors)
    scores = score_frame(days, {0: {"X": 1.0, "Y": 0.0}, 1: {"X": 0.0, "Y": 1.0}})
    config = BacktestConfig(top_k=1, rebalance_days=1, cost_bps=0.0, capital=3e9, lot_size=1)
    res = run_backtest(scores, market, topix_frame(days, [1.0] * 4), config)
    assert res.positions.select("Date", "Code", "shares").rows() == [
        (days[1], "X", 1e9),
        (days[2], "Y", 3e9),
        (days[3], "Y", 3e9),
    ]
    assert res.daily["n_long"].to_list() == [1, 1, 1]
    assert res.daily["nav"].to_list() == pytest.approx([3e9, 3e9, 3e9])


def test_scores_dated_before_the_market_window_are_not_traded():
    # The market starts on d1: the d0 score has no known next trading day in the window and is
    # dropped, so the first trade is the d1 score's, on d2 (X at 11: ⌊1000/11⌋ = 90 shares).
    market = market_frame(DAYS, {"X": [10, 10, 11, 12, 12]}, {"X": "1"}).filter(
        pl.col("Date") > DAYS[0]
    )
    scores = score_frame(DAYS, {0: {"X": 1.0}, 1: {"X": 1.0}})
    config = BacktestConfig(top_k=1, rebalance_days=1, cost_bps=0.0, capital=1000, lot_size=1)
    res = run_backtest(scores, market, FLAT_TOPIX, config)
    assert res.daily["Date"].to_list() == [DAYS[2], DAYS[3]]
    assert res.positions.select("Date", "shares").rows() == [(DAYS[2], 90.0), (DAYS[3], 90.0)]
    assert res.daily["nav"].to_list() == pytest.approx([1000, 10 + 90 * 12])


def test_a_market_without_jpx_rules_trades_single_shares_through_limit_flags():
    # 10 000, top-1, no cost, X at 330 on the trade day with its upper-limit flag set.
    # JPX (lot 100, limits): ⌊10 000 / (330·100)⌋ = 0 lots; with 1-share lots UL refuses the buy.
    # Another market (lot 1, no limits): ⌊10 000 / 330⌋ = 30 shares = 9 900, cash 100;
    # d2 X 340: V = 100 + 30·340 = 10 300.
    days = DAYS[:3]
    market = market_frame(
        days, {"X": [300, 330, 340], "Y": [50, 50, 50]}, {"X": "1", "Y": "1"}, ul={("X", 1)}
    )
    scores = score_frame(days, {0: {"X": 1.0, "Y": 0.0}})
    flat = topix_frame(days, [1.0] * 3)
    jpx = BacktestConfig(top_k=1, rebalance_days=1, cost_bps=0.0, capital=10_000)
    res = run_backtest(scores, market, flat, jpx)
    assert res.positions.height == 0 and res.daily["nav"].to_list() == [10_000, 10_000]
    single_lots_with_limits = BacktestConfig(
        top_k=1, rebalance_days=1, cost_bps=0.0, capital=10_000, lot_size=1
    )
    assert run_backtest(scores, market, flat, single_lots_with_limits).positions.height == 0
    other = BacktestConfig(
        top_k=1, rebalance_days=1, cost_bps=0.0, capital=10_000, lot_size=1, price_limits=False
    )
    res = run_backtest(scores, market, flat, other)
    assert res.positions.select("Code", "shares").rows() == [("X", 30.0), ("X", 30.0)]
    assert res.daily["nav"].to_list() == pytest.approx([10_000, 10_300])


def test_a_holding_that_crashes_and_delists_books_the_loss_and_the_exit_cost():
    # X falls 1000 -> 400, has no trade on d4 and is delisted from d5. Top-1, one trade on d1,
    # ¥1,001,000, 10 bps, 100-share lots.
    # d1 buy X 1000 @1000 = 1,000,000 + cost 1,000: cash 0.              V = 1,000,000
    # d2 X 700, d3 X 400, d4 no trade (carried at 400).                   V = 700,000 / 400,000
    # d5 X not listed: sold at its last price 400 = 400,000, cost 400.    V = 399,600
    days = trading_days(6)
    market = market_frame(
        days,
        {"X": [1000, 1000, 700, 400, None, None], "Y": [100] * 6},
        {"X": "1", "Y": "2"},
        unlisted={("X", 5)},
    )
    scores = score_frame(days, {0: {"X": 1.0, "Y": 0.0}})
    config = BacktestConfig(
        top_k=1, rebalance_days=10, cost_bps=10.0, capital=1_001_000, lot_size=100
    )
    res = run_backtest(scores, market, topix_frame(days, [100.0] * 6), config)
    d = res.daily
    assert d["nav"].to_list() == pytest.approx([1_000_000, 700_000, 400_000, 400_000, 399_600])
    assert d["ret_gross"].to_list() == pytest.approx([0.0, -0.3, -3 / 7, 0.0, 0.0])
    assert d["cost"].to_list()[-1] == pytest.approx(400 / 400_000)
    assert d["turnover"].to_list()[-1] == pytest.approx(1.0)
    assert d["n_long"].to_list() == [1, 1, 1, 1, 0]
    assert res.positions.filter(pl.col("Date") == days[5]).height == 0


def test_a_short_in_a_delisting_stock_is_covered_at_its_last_price_with_cost():
    # Long-short top-1 of ¥1,000,000, 10 bps: d1 long Y 5000 @100 and short X 500 @1000, traded
    # 1,000,000, cost 1,000 → cash 999,000. X falls to 700 and 400 (V 1,149,000 and 1,299,000),
    # has no trade on d4 and is not listed on d5: covered at 400 = 200,000, cost 200 → 1,298,800.
    days = trading_days(6)
    market = market_frame(
        days,
        {"X": [1000, 1000, 700, 400, None, None], "Y": [100] * 6},
        {"X": "1", "Y": "2"},
        unlisted={("X", 5)},
    )
    scores = score_frame(days, {0: {"X": 0.0, "Y": 1.0}})
    config = BacktestConfig(
        top_k=1, strategy="long_short", rebalance_days=10, cost_bps=10.0, capital=1e6
    )
    d = run_backtest(scores, market, topix_frame(days, [100.0] * 6), config).daily
    assert d["nav"].to_list() == pytest.approx(
        [999_000, 1_149_000, 1_299_000, 1_299_000, 1_298_800]
    )
    assert d["n_short"].to_list() == [1, 1, 1, 1, 0]
    assert d["turnover"].to_list()[-1] == pytest.approx(200_000 / 1_299_000)
