"""Fixtures for the dataset machinery: a small hand-rolled market, test blocks, and a tiny
synthetic dataset built through the real CLI.

``make_market`` draws a few stocks' bars around the XTKS calendar (2020-10-01 kept as a business
day with null bars, like J-Quants), with a 1:2 split, a delisting, a listing, no-trade days and a
per-date master; ``support.tables.TableStore`` serves such tables as the raw store does.

``built`` is a 30-stock synthetic market (2020) fetched and built once per session with two core
blocks (``returns``; ``sector``, which carries the categorical ids), so the cache tests do not
depend on every feature block of the registry (its cache written by ``gogooku build``).
``holey`` is a copy whose panel lost some rows — a stock listing late, one delisting early, random
missing days — with the cache rewritten from it, so masked stocks and absent rows are exercised.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gogooku.calendar import HALT_DAY, TradingCalendar
from gogooku.dataset.cache_writer import write_cache
from gogooku.features.base import Block, BlockContext, Feature
from gogooku.jquants.derived import MINUTE_SUMMARY, summarise_minute_bars

from ..support.markets import run_cli


def make_market(
    start: date = date(2020, 6, 1),
    end: date = date(2021, 3, 31),
    n_codes: int = 4,
    seed: int = 3,
    split_on: date | None = date(2020, 11, 16),
) -> dict[str, pl.DataFrame]:
    cal = TradingCalendar.from_xtks(start, end)
    days = cal.days(start, end)
    all_days = pl.date_range(start, end, eager=True)
    calendar = pl.DataFrame({"Date": all_days}).with_columns(
        HolDiv=pl.when(pl.col("Date").is_in(days)).then(pl.lit("1")).otherwise(pl.lit("0"))
    )
    rng = np.random.default_rng(seed)
    t_n = len(days)
    codes = [f"{1301 + i}0" for i in range(n_codes)]
    listed = np.ones((t_n, n_codes), dtype=bool)
    listed[int(t_n * 0.7) :, 1] = False  # code 1 delists
    listed[: int(t_n * 0.3), 2] = False  # code 2 lists later
    rets = rng.normal(0.0003, 0.02, size=(t_n, n_codes))
    closes = 1000.0 * np.exp(np.cumsum(rets, axis=0))
    factor = np.ones((t_n, n_codes))
    if split_on is not None:
        s = days.index(split_on)
        closes[s:, 0] /= 2.0
        factor[s, 0] = 0.5
    rows = []
    for j, code in enumerate(codes):
        for i, d in enumerate(days):
            if not listed[i, j]:
                continue
            c = closes[i, j]
            no_trade = d == HALT_DAY or rng.random() < 0.01
            o = c * (1 + rng.normal(0, 0.005))
            h = max(o, c) * (1 + abs(rng.normal(0, 0.005)))
            low = min(o, c) * (1 - abs(rng.normal(0, 0.005)))
            vo = float(rng.integers(1_000, 100_000))
            rows.append(
                {
                    "Date": d,
                    "Code": code,
                    "O": None if no_trade else o,
                    "H": None if no_trade else h,
                    "L": None if no_trade else low,
                    "C": None if no_trade else c,
                    "UL": False,
                    "LL": False,
                    "Vo": None if no_trade else vo,
                    "Va": None if no_trade else vo * c,
                    "AdjFactor": factor[i, j],
                }
            )
    bars = pl.DataFrame(rows).with_columns(
        AdjO=pl.col("O"), AdjH=pl.col("H"), AdjL=pl.col("L"), AdjC=pl.col("C"), AdjVo=pl.col("Vo")
    )
    sectors = ["0050", "1050", "0050", "3050", "1050", "0050"]
    master = bars.select("Date", "Code").with_columns(
        CoName=pl.lit("x"),
        S17=pl.lit("1"),
        S17Nm=pl.lit("x"),
        S33=pl.col("Code").replace({c: sectors[i % len(sectors)] for i, c in enumerate(codes)}),
        S33Nm=pl.lit("x"),
        ScaleCat=pl.lit("TOPIX Small 1"),
        Mkt=pl.lit("0111"),
        MktNm=pl.lit("Prime"),
        Mrgn=pl.lit("1"),
        ProdCat=pl.lit("011"),
    )
    topix_c = 1500.0 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, size=t_n)))
    topix = pl.DataFrame(
        {"Date": days, "O": topix_c, "H": topix_c * 1.005, "L": topix_c * 0.995, "C": topix_c}
    )
    return {
        "markets_calendar": calendar,
        "equities_bars_daily": bars,
        "equities_master": master,
        "indices_topix": topix,
    }


def _returns_compute(ctx: BlockContext) -> pl.LazyFrame:
    ret = pl.col("AdjC") / pl.col("AdjC").shift(1).over("Code") - 1
    return ctx.base.select(
        "Code",
        "Date",
        ret.alias("t_ret_1d"),
        ret.rolling_mean(5, min_samples=5).over("Code").alias("t_ret_mean_5d"),
        (pl.col("AdjC") / pl.col("AdjC").shift(20).over("Code") - 1).alias("t_ret_20d"),
        pl.col("Vo").rolling_sum(3, min_samples=3).over("Code").alias("t_vo_sum_3d"),
    )


RETURNS_BLOCK = Block(
    name="t_returns",
    sources=("equities_bars_daily",),
    availability="bars_same_day",
    lookback=25,
    features=(
        Feature("t_ret_1d", "1-day return", "AdjC[t]/AdjC[t-1]-1", 2),
        Feature("t_ret_mean_5d", "mean 1-day return", "mean_5(ret_1d)", 6),
        Feature("t_ret_20d", "20-day return", "AdjC[t]/AdjC[t-20]-1", 21),
        Feature("t_vo_sum_3d", "3-day volume", "sum_3(Vo)", 3, dtype="Float64"),
    ),
    compute=_returns_compute,
)


def _sector_compute(ctx: BlockContext) -> pl.LazyFrame:
    ret = pl.col("AdjC") / pl.col("AdjC").shift(1).over("Code") - 1
    return (
        ctx.base.with_columns(ret.alias("_r"))
        .with_columns(
            pl.col("_r").mean().over("Date", "S33").alias("t_sector_ret_1d"),
            (pl.col("topix_C") / pl.col("topix_C").shift(1).over("Code") - 1).alias("t_topix_1d"),
        )
        .select("Code", "Date", "t_sector_ret_1d", "t_topix_1d")
    )


SECTOR_BLOCK = Block(
    name="t_sector",
    sources=("equities_bars_daily", "equities_master", "indices_topix"),
    availability="bars_same_day",
    lookback=2,
    features=(
        Feature("t_sector_ret_1d", "sector mean return", "mean_{S33,Date}(ret_1d)", 2),
        Feature("t_topix_1d", "TOPIX return", "topix_C[t]/topix_C[t-1]-1", 2),
    ),
    compute=_sector_compute,
    cross_sectional=True,
)


def _leaky_compute(ctx: BlockContext) -> pl.LazyFrame:
    fwd = pl.col("AdjC").shift(-2).over("Code") / pl.col("AdjC").shift(-1).over("Code") - 1
    return ctx.base.select("Code", "Date", fwd.alias("t_peek"))


LEAKY_BLOCK = Block(
    name="t_leaky",
    sources=("equities_bars_daily",),
    availability="bars_same_day",
    lookback=0,
    features=(Feature("t_peek", "the next day's return", "AdjC[t+2]/AdjC[t+1]-1", None),),
    compute=_leaky_compute,
)

TEST_BLOCKS = {b.name: b for b in (RETURNS_BLOCK, SECTOR_BLOCK)}


def read_panel(result) -> pl.DataFrame:
    """The ``panel.parquet`` of a ``build_dataset`` result."""
    return pl.read_parquet(result.path / "panel.parquet")


@pytest.fixture(scope="session")
def small_market() -> dict[str, pl.DataFrame]:
    return make_market()


@pytest.fixture(scope="session")
def synth_market() -> dict[str, pl.DataFrame]:
    """≈40 stocks, 2020-06..2024-12, from the synthetic market (generated once per session).

    The bars carry the Premium session fields, as a Premium fetch stores them, so the ``am``
    block is built (and checked for future invariance) with the others; minute bars of some days
    (below) are there for the ``mb`` block.
    """
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market
    from gogooku.synth.minute import minute_bars
    from gogooku.synth.sessions import with_sessions

    config = SynthConfig(seed=11, stocks=40, start=date(2020, 6, 1), end=date(2024, 12, 30))
    tables = dict(generate_market(config).tables)
    tables["equities_bars_daily"] = with_sessions(tables["equities_bars_daily"], config.seed)
    # Minute bars on every 5th trading day, every day of 2020-09..10 and the last 60 days: each cut
    # of the invariance test has some before it, and the 20-day means fill where days are whole.
    bars = tables["equities_bars_daily"]
    days = bars["Date"].unique().sort()
    some = days.gather_every(5).append(
        days.filter(days.dt.strftime("%Y-%m").is_in(["2020-09", "2020-10"]))
    )
    some = some.append(days.tail(60)).unique()
    raw = bars.filter(pl.col("Date").is_in(some.implode())).select(
        "Date", "Code", "O", "H", "L", "C", "Vo", "Va"
    )
    tables["equities_bars_minute"] = minute_bars(raw, config.seed)
    # written with the bars by the raw store (the mb block reads it)
    tables[MINUTE_SUMMARY] = summarise_minute_bars(tables["equities_bars_minute"])
    return tables


FETCH = ["fetch", "--source", "synthetic", "--seed", "7", "--stocks", "30"]
FETCH += ["--start", "2020-01-01", "--end", "2020-12-31"]
FETCH += ["--datasets", "equities_bars_daily,equities_master,indices_topix"]
BUILD = ["build", "--start", "2020-03-02", "--end", "2020-12-30", "--name", "td"]
BUILD += ["--blocks", "returns,sector"]


@dataclass(frozen=True)
class Built:
    path: Path
    panel: pl.DataFrame


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    home = run_cli(tmp_path_factory.mktemp("td_home"), FETCH, BUILD)
    path = home / "datasets" / "td"
    return Built(path, pl.read_parquet(path / "panel.parquet"))


@pytest.fixture(scope="session")
def holey(built, tmp_path_factory) -> Built:
    path = tmp_path_factory.mktemp("holey") / "td"
    path.mkdir()
    shutil.copy(built.path / "features.json", path / "features.json")
    codes = sorted(built.panel["Code"].unique().to_list())
    dates = sorted(built.panel["Date"].unique().to_list())
    rng = np.random.default_rng(5)
    drop = pl.Series(rng.random(built.panel.height) < 0.03)
    panel = built.panel.filter(
        ~drop
        & ~((pl.col("Code") == codes[0]) & (pl.col("Date") < dates[40]))
        & ~((pl.col("Code") == codes[1]) & (pl.col("Date") > dates[150]))
    )
    panel.write_parquet(path / "panel.parquet")
    write_cache(path)
    return Built(path, panel)
