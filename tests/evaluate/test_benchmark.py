"""The benchmark choices: universe returns cap- and equal-weighted by hand, ``auto``'s fallback,
``index:NAME`` and the messages of a benchmark that cannot be built."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from gogooku.calendar import TradingCalendar
from gogooku.evaluate.benchmark import BenchmarkError, build_benchmark, universe_returns
from gogooku.evaluate.config import EvaluateConfig
from gogooku.store.raw import RawStore

from .conftest import market_frame, trading_days

DAYS = [date(2024, 1, 4), date(2024, 1, 5), date(2024, 1, 8)]
CLOSES = {"A": [100.0, 120.0, 108.0], "B": [50.0, 50.0, 55.0], "C": [20.0, 19.0, 19.95]}
# r_t:       A +0.20, −0.10;  B 0, +0.10;  C −0.05, +0.05
CALENDAR = TradingCalendar.from_frame(
    pl.DataFrame({"Date": trading_days(30, date(2023, 12, 18)), "HolDiv": "1"})
)


def _statements(rows: list[tuple[str, date, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"Code": c, "DiscDate": d, "DiscTime": t, "DiscNo": f"{i}", "ShOutFY": s}
            for i, (c, d, t, s) in enumerate(rows)
        ],
        schema={
            "Code": pl.String,
            "DiscDate": pl.Date,
            "DiscTime": pl.String,
            "DiscNo": pl.String,
            "ShOutFY": pl.Float64,
        },
    )


@pytest.fixture
def store(tmp_path):
    return RawStore(tmp_path / "raw")


def _market() -> pl.DataFrame:
    return market_frame(DAYS, CLOSES, dict.fromkeys(CLOSES, "0050"))


def test_cap_weighted_universe_uses_shares_available_on_the_previous_day(store):
    old = date(2023, 12, 27)
    store.write_unit(
        "fins_summary",
        "s",
        _statements(
            [
                ("A", old, "12:00:00", 1000.0),
                ("B", old, "12:00:00", 4000.0),
                ("C", old, "12:00:00", 10000.0),
                # B's new count is public during DAYS[1] (before the close): it weighs DAYS[2].
                ("B", DAYS[1], "12:00:00", 6000.0),
                # C's comes after the close of DAYS[1]: usable from DAYS[2], too late for its
                # weight (the cap at the close of DAYS[1]).
                ("C", DAYS[1], "18:00:00", 5000.0),
            ]
        ),
        {},
    )
    returns, weighting, reason = universe_returns(store, CALENDAR, _market())
    assert (weighting, reason) == ("cap", None)
    # Day 1: caps at DAYS[0] A 1000·100, B 4000·50, C 10000·20 (total 500 000).
    b1 = (100_000 * 0.2 + 200_000 * 0.0 + 200_000 * -0.05) / 500_000
    # Day 2: caps at DAYS[1] A 1000·120, B 6000·50, C 10000·19 (total 610 000).
    b2 = (120_000 * -0.1 + 300_000 * 0.1 + 190_000 * 0.05) / 610_000
    assert returns["Date"].to_list() == DAYS
    assert returns["b"].to_list() == pytest.approx([0.0, 0.02, b2], abs=1e-12)
    assert b1 == pytest.approx(0.02)
    bench = build_benchmark(store, CALENDAR, _market(), "universe")
    assert bench.describe() == {"name": "universe", "weighting": "cap", "reason": None}
    assert bench.levels["C"].to_list() == pytest.approx([1.0, 1.02, 1.02 * (1 + b2)], abs=1e-12)


def test_equal_weighted_universe_without_shares_and_auto_without_topix(store):
    returns, weighting, reason = universe_returns(store, CALENDAR, _market())
    equal = [0.0, (0.2 + 0.0 - 0.05) / 3, (-0.1 + 0.1 + 0.05) / 3]
    assert weighting == "equal" and "ShOutFY" in reason
    assert returns["b"].to_list() == pytest.approx(equal, abs=1e-12)
    bench = build_benchmark(store, CALENDAR, _market(), "auto")
    assert (bench.name, bench.weighting) == ("universe", "equal")
    assert bench.reason.startswith("auto: benchmark 'topix' (indices_topix): no closes")
    forced = build_benchmark(store, CALENDAR, _market(), "equal_weight")
    assert forced.reason == "[evaluate] benchmark = equal_weight"
    assert forced.levels["C"].to_list() == pytest.approx(
        [1.0, 1 + equal[1], (1 + equal[1]) * (1 + equal[2])], abs=1e-12
    )


def test_a_stock_without_a_price_the_day_before_is_not_a_member(store):
    closes = {"A": [100.0, None, 110.0], "B": [None, 50.0, 55.0]}
    market = market_frame(DAYS, closes, {"A": "1", "B": "1"})
    returns, _, _ = universe_returns(store, CALENDAR, market, cap=False)
    # Day 1: A has no trade (carried at 100, r = 0), B had no price on DAYS[0]: not a member.
    # Day 2: A 110/100 − 1, B 55/50 − 1.
    assert returns["b"].to_list() == pytest.approx([0.0, 0.0, 0.1], abs=1e-12)


def test_index_and_topix_benchmarks_read_their_closes_and_name_what_is_missing(store):
    with pytest.raises(BenchmarkError, match=r"'topix' \(indices_topix\): no closes"):
        build_benchmark(store, CALENDAR, _market(), "topix")
    with pytest.raises(BenchmarkError, match=r"Code == 'SPX'"):
        build_benchmark(store, CALENDAR, _market(), "index:SPX")
    index = pl.DataFrame(
        {"Date": [date(2024, 1, 3), DAYS[2]], "Code": "SPX", "C": [4000.0, 4100.0]}
    )
    store.write_unit("indices_bars_daily", "spx", index, {}, source="import:spx.csv")
    bench = build_benchmark(store, CALENDAR, _market(), "index:SPX")
    assert bench.describe() == {"name": "index:SPX", "weighting": "index", "reason": None}
    # The close of 2024-01-03 is carried over the first two days.
    assert bench.levels["C"].to_list() == [4000.0, 4000.0, 4100.0]
    short = index.filter(pl.col("Date") == DAYS[2])
    store.write_unit("indices_bars_daily", "spx", short, {}, source="import:spx.csv")
    with pytest.raises(BenchmarkError, match=r"not the evaluated window 2024-01-04\.\.2024-01-08"):
        build_benchmark(store, CALENDAR, _market(), "index:SPX")


def test_the_config_accepts_the_choices_and_refuses_others():
    assert EvaluateConfig().benchmark == "auto"
    for choice in ("topix", "universe", "equal_weight", "index:MSCI_JP"):
        assert EvaluateConfig(benchmark=choice).benchmark == choice
    with pytest.raises(ValueError, match="expected one of auto, topix"):
        EvaluateConfig(benchmark="nikkei")
