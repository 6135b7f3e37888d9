"""A 5-stock, 10-day book checked against portfolio values computed by hand.

Stocks (S33): A 3050, B 3650, C 3650, D 5250, E 9050. Long-only top-2, rebalance every 2 score
dates, 10 bps per side, ¥1,000,000, 100-share lots. Decision dates d0, d2, d4, d6, d8 trade at
the close of d1, d3, d5, d7, d9. The scores of d1, d3, d5, d7 favour E and D: they must be
ignored (only every second score date trades).

Events: B splits 1:2 on d3 (AdjFactor 0.5, C 2000 → 1000); C is limit-up on d3 (no buy);
B has no trade on d5 (no sell, carried at 1050); C is delisted after d7 (sold at its last price
530 on d8, paying the 10 bps like any sale);
E is limit-down on d9 (no sell); the buys of d5 and d9 exceed the cash and are scaled to lots.
"""

from __future__ import annotations

import polars as pl
import pytest

from gogooku.evaluate.backtest import BacktestConfig, run_backtest

from .conftest import market_frame, score_frame, topix_frame, trading_days

DAYS = trading_days(10)
CLOSES = {
    "A": [1000, 1000, 1100, 1100, 1100, 1100, 1100, 1100, 1000, 1000],
    "B": [2000, 2000, 2000, 1000, 1050, None, 1100, 1100, 1000, 1000],
    "C": [500, 500, 500, 550, 500, 500, 520, 530, None, None],
    "D": [1000] * 10,
    "E": [300, 300, 300, 300, 300, 300, 300, 300, 310, 280],
}
SECTORS = {"A": "3050", "B": "3650", "C": "3650", "D": "5250", "E": "9050"}
OFF_DAY = {"E": 5.0, "D": 4.0, "A": 0.0, "B": 0.0, "C": 0.0}
SCORES = {
    0: {"A": 5.0, "B": 4.0, "C": 1.0, "D": 0.0, "E": -1.0},
    1: OFF_DAY,
    2: {"B": 5.0, "C": 4.0, "A": 1.0, "D": 0.0, "E": -1.0},
    3: OFF_DAY,
    4: {"C": 5.0, "D": 4.0, "A": 1.0, "B": 0.0, "E": -1.0},
    5: OFF_DAY,
    6: {"C": 5.0, "E": 4.0, "A": 1.0, "B": 0.0, "D": -1.0},
    7: OFF_DAY,
    8: {"A": 5.0, "B": 4.0, "D": 0.0, "E": -1.0},
    9: {"E": 5.0, "D": 4.0},
}
CONFIG = BacktestConfig(
    top_k=2, strategy="long_only", rebalance_days=2, cost_bps=10.0, capital=1_000_000, lot_size=100
)

# V_t, the NAV after each day's trades and costs (d1..d9):
# d1 buy A 500 @1000 (⌊500,000/100,000⌋ = 5 lots) and B 200 @2000 (⌊500,000/200,000⌋ = 2 lots):
#    traded 900,000, cost 900, cash 1,000,000 − 900,000 − 900 = 99,100; V = 999,100
# d2 A 1100: V = 99,100 + 550,000 + 400,000 = 1,049,100
# d3 split: B 200 → 400 shares @1000, V before trades 1,049,100 (gross 0); target ⌊524,550 /
#    100,000⌋ = 5 lots of B → buy 100; C limit-up: no buy; sell A 500 @1100 = 550,000;
#    traded 650,000, cost 650, cash 99,100 + 550,000 − 100,000 − 650 = 548,450;
#    V = 548,450 + 500 · 1000 = 1,048,450
# d4 B 1050: V = 548,450 + 525,000 = 1,073,450
# d5 B no trade (kept); targets C 10 lots @500, D 5 lots @1000 = 1,000,000 · 1.001 > 548,450:
#    scale 548,450 / 1,001,000 = 0.5479: C ⌊1000 · 0.5479 / 100⌋ = 5 lots, D ⌊500 · 0.5479 /
#    100⌋ = 2 lots; traded 450,000, cost 450, cash 98,000; V = 98,000 + 525,000 + 250,000 +
#    200,000 = 1,073,000
# d6 B 1100, C 520: V = 98,000 + 550,000 + 260,000 + 200,000 = 1,108,000
# d7 C 530: V before trades 1,113,000; budget 556,500: C ⌊556,500 / 53,000⌋ = 10 lots (buy 500),
#    E ⌊556,500 / 30,000⌋ = 18 lots (buy 1800 @300); sell B 500 @1100 and D 200 @1000;
#    traded 750,000 + 805,000 = 1,555,000, cost 1,555, cash 98,000 + 750,000 − 805,000 − 1,555 =
#    41,445; V = 41,445 + 530,000 + 540,000 = 1,111,445
# d8 C delisted: 1000 sold at its last price 530, traded 530,000, cost 530 → cash 41,445 +
#    530,000 − 530 = 570,915; E 310: V before = 1,129,445, V = 570,915 + 558,000 = 1,128,915
# d9 E 280 limit-down (kept); V before trades 1,074,915; A and B 5 lots each = 1,000,000 · 1.001
#    > 570,915 → scale 0.5703: 2 lots each; traded 400,000, cost 400, cash 170,515;
#    V = 170,515 + 504,000 + 200,000 + 200,000 = 1,074,515
NAV = [999_100, 1_049_100, 1_048_450, 1_073_450, 1_073_000, 1_108_000, 1_111_445, 1_128_915,
       1_074_515]  # fmt: skip
RET_GROSS = [0.0, 50_000 / 999_100, 0.0, 25_000 / 1_048_450, 0.0, 35_000 / 1_073_000,
             5_000 / 1_108_000, 18_000 / 1_111_445, -54_000 / 1_128_915]  # fmt: skip
TRADED = [900_000, 0, 650_000, 0, 450_000, 0, 1_555_000, 530_000, 400_000]
PREV_NAV = [1_000_000, *NAV[:-1]]
N_LONG = [2, 2, 1, 1, 3, 3, 2, 1, 3]
# Equal-weight universe on adjusted prices (B's split is no return; C leaves after d7).
EW = [0.0, 0.1 / 5, 0.1 / 5, (0.05 - 1 / 11) / 5, 0.0, (1 / 21 + 0.04) / 5, (1 / 52) / 5,
      (-2 / 11 + 1 / 30) / 4, (-3 / 31) / 4]  # fmt: skip


@pytest.fixture(scope="module")
def result():
    market = market_frame(
        DAYS,
        CLOSES,
        SECTORS,
        adj_factor={("B", 3): 0.5},
        ul={("C", 3)},
        ll={("E", 9)},
        unlisted={("C", 8), ("C", 9)},
    )
    topix = topix_frame(DAYS, [100.0 + t for t in range(10)])
    return run_backtest(score_frame(DAYS, SCORES), market, topix, CONFIG)


def test_daily_series_matches_hand_values(result):
    d = result.daily
    assert d["Date"].to_list() == DAYS[1:]
    assert d["nav"].to_list() == pytest.approx(NAV, abs=1e-6)
    assert d["ret_gross"].to_list() == pytest.approx(RET_GROSS, abs=1e-12)
    cost = [0.001 * x / v for x, v in zip(TRADED, PREV_NAV, strict=True)]
    assert d["cost"].to_list() == pytest.approx(cost, abs=1e-12)
    assert d["turnover"].to_list() == pytest.approx(
        [x / v for x, v in zip(TRADED, PREV_NAV, strict=True)], abs=1e-12
    )
    assert d["ret_net"].to_list() == pytest.approx(
        [g - c for g, c in zip(RET_GROSS, cost, strict=True)], abs=1e-12
    )
    assert d["n_long"].to_list() == N_LONG
    assert d["n_short"].to_list() == [0] * 9


def test_benchmarks(result):
    d = result.daily
    topix = [0.0] + [(102.0 + k) / (101.0 + k) - 1 for k in range(8)]
    assert d["benchmark"].to_list() == pytest.approx(topix, abs=1e-12)
    assert d["benchmark_ew"].to_list() == pytest.approx(EW, abs=1e-12)


def test_positions_after_split_no_trade_delisting_and_limits(result):
    pos = result.positions
    held = {
        (r["Date"], r["Code"]): (r["shares"], r["weight"], r["S33"])
        for r in pos.iter_rows(named=True)
    }
    assert held[(DAYS[2], "B")] == (200.0, pytest.approx(400_000 / 1_049_100), "3650")
    assert held[(DAYS[3], "B")] == (500.0, pytest.approx(500_000 / 1_048_450), "3650")
    assert (DAYS[3], "C") not in held  # limit-up: not bought
    assert held[(DAYS[5], "B")][0] == 500.0  # no trade: carried
    assert held[(DAYS[5], "C")][0] == 500.0
    assert held[(DAYS[5], "D")][0] == 200.0
    assert (DAYS[8], "C") not in held  # delisted
    assert held[(DAYS[8], "E")] == (1800.0, pytest.approx(558_000 / 1_128_915), "9050")
    day9 = pos.filter(pl.col("Date") == DAYS[9]).sort("Code")
    assert day9["Code"].to_list() == ["A", "B", "E"]
    assert day9["shares"].to_list() == [200.0, 200.0, 1800.0]
    assert day9["weight"].sum() == pytest.approx(904_000 / 1_074_515)


def test_sector_contribution(result):
    got = dict(result.sector_contribution.iter_rows())
    assert got["3050"] == pytest.approx(50_000 / 999_100)
    assert got["3650"] == pytest.approx(25_000 / 1_048_450 + 35_000 / 1_073_000 + 5_000 / 1_108_000)
    assert got["5250"] == pytest.approx(0.0)
    assert got["9050"] == pytest.approx(18_000 / 1_111_445 - 54_000 / 1_128_915)
    assert sum(got.values()) == pytest.approx(sum(RET_GROSS))
