"""``gogooku export returns``: the evaluated book's daily returns, positions and benchmark in the
layouts of pyfolio, quantstats and empyrical.

The book is the evaluator's backtest of ``split`` × horizon h (``gogooku.evaluate.backtest``: the
signal dated d traded at the close of next(d), rebalanced every h sessions, top-K per leg and
costs as recorded in metrics.json's ``config``), run again from the run's predictions by
:func:`gogooku.evaluate.evaluator.split_backtests`; the export is refused when that run's net
returns differ from daily.parquet's (the predictions, the store or the code changed since the
evaluation: evaluate again).

Files (one row per day of the backtest, from its first trade day; ``date`` = the close the row
is marked at):

- ``returns``: ``ret_net`` and ``ret_gross`` (the return over close t−1 → close t, before day
  t's trades; net = gross − costs of day t / NAV of t−1; 0 on the first trade day), ``cost``,
  ``turnover``, ``nav`` (yen, after day t's trades and costs);
- ``positions``: pyfolio's layout, one column per stock with its signed value after day t's
  trades (weight · NAV = units · adjusted close, negative for shorts; 0 when not held) and
  ``cash`` = NAV − Σ values, so each row sums to the NAV;
- ``transactions``: pyfolio's layout, one row per stock and day whose share count changed:
  ``amount`` = shares_t − shares_{t−1} / AdjFactor_t (signed; a split alone is no trade) and
  ``price``, the day's close C_t, or for a stock without a trade that day (a delisted stock sold
  into cash) its last close carried over splits, A · F_t; Σ |amount| · price / NAV_{t−1} is the
  day's ``turnover``, such sales included (they pay ``cost_bps`` like any other);
- ``benchmark``: daily.parquet's ``bench`` on the same days, the ``[evaluate] benchmark`` named in
  metrics.json.

``periods_per_year`` in the manifest is the one the evaluator annualised with (metrics.json
``splits.<split>.periods_per_year``): empyrical's ``annualization`` for the same figures.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gogooku.calendar import TradingCalendar
from gogooku.evaluate import backtest as bt
from gogooku.evaluate.evaluator import STRATEGIES, split_backtests
from gogooku.export.evaluated import (
    EvaluatedRun,
    ExportError,
    as_timestamp,
    load_evaluated,
    output_dir,
    write_manifest,
    write_tables,
)
from gogooku.settings import Settings, get_settings
from gogooku.store.raw import RawStore

MANIFEST = "returns.json"
PORTFOLIO_SPLITS = ("valid", "test")
DAILY_COLUMN = {"long_short": "ls_net", "long_only": "lo_net"}
# daily.parquet holds the same floats the re-run computes; anything above rounding is a change.
STALE_TOLERANCE = 1e-12
TIMING = (
    "the signal dated d is traded at the close of next(d); 'date' t is a close: returns are "
    "close t-1 -> close t (before day t's trades; 0 on the first trade day), positions and nav "
    "are after day t's trades"
)


def _snippet(out: Path, ppy: float) -> list[str]:
    return [
        "import empyrical as ep, pandas as pd, quantstats as qs",
        f'returns = pd.read_parquet("{out}/returns.parquet").set_index("date")["ret_net"]',
        f'benchmark = pd.read_parquet("{out}/benchmark.parquet").set_index("date")["benchmark"]',
        f'positions = pd.read_parquet("{out}/positions.parquet").set_index("date")',
        f'transactions = pd.read_parquet("{out}/transactions.parquet").set_index("date")',
        f"ep.sharpe_ratio(returns, annualization={ppy!r}); qs.stats.max_drawdown(returns)",
    ]


def _benchmark_name(ev: EvaluatedRun, split: str, horizon: int) -> str | None:
    portfolio = ev.split(split)["horizons"].get(f"{horizon}d", {}).get("portfolio", {})
    named = portfolio.get("long_only", {}).get("benchmark")
    return named or ev.metrics.get("config", {}).get("benchmark")


def _check_fresh(ev: EvaluatedRun, daily: pl.DataFrame, evaluated: pl.DataFrame, strategy: str):
    """Refuse a re-run whose days or net returns differ from daily.parquet's."""
    column = DAILY_COLUMN[strategy]
    saved = evaluated.filter(pl.col(column).is_not_null()).select("Date", column)
    both = daily.select("Date", "ret_net").join(saved, on="Date", how="full", coalesce=True)
    gap = (pl.col("ret_net") - pl.col(column)).abs()
    bad = both.filter(
        pl.col("ret_net").is_null() | pl.col(column).is_null() | (gap > STALE_TOLERANCE)
    )
    if bad.height:
        row = bad.sort("Date").row(0, named=True)
        raise ExportError(
            f"run {ev.info.run_id}: the {strategy} backtest run again from the predictions differs "
            f"from {ev.run_dir / 'daily.parquet'} ({bad.height} days, first {row['Date']}: "
            f"{row['ret_net']} vs {column} {row[column]}); evaluate the run again "
            f"(gogooku evaluate --run {ev.info.run_id})"
        )


def pyfolio_positions(daily: pl.DataFrame, positions: pl.DataFrame) -> pl.DataFrame:
    """``Date``, one value column per held Code (weight · nav, 0 when not held) and
    ``cash`` = nav − Σ values, one row per day of ``daily`` (``Date, nav``)."""
    values = positions.join(daily.select("Date", "nav"), on="Date").select(
        "Date", "Code", value=pl.col("weight") * pl.col("nav")
    )
    codes = values["Code"].unique().sort().to_list()
    wide = daily.select("Date", "nav")
    if codes:
        wide = wide.join(
            values.pivot(on="Code", index="Date", values="value", sort_columns=True),
            on="Date",
            how="left",
        ).with_columns(pl.col(codes).fill_null(0.0))
    held = pl.sum_horizontal(codes) if codes else pl.lit(0.0)
    return wide.with_columns(cash=pl.col("nav") - held).select("Date", *codes, "cash").sort("Date")


def pyfolio_transactions(positions: pl.DataFrame, market: pl.DataFrame) -> pl.DataFrame:
    """``Date, symbol, amount, price`` of every change of a stock's share count (module doc).

    ``positions``: ``Date, Code, shares`` after each day's trades; ``market``: the backtest's
    dense grid (``Date, Code, C, AdjFactor, no_trade``) over the same days.
    """
    grid = (
        market.select("Date", "Code", "C", "AdjFactor", "no_trade")
        .sort("Code", "Date")
        .with_columns(F=pl.col("AdjFactor").fill_null(1.0).cum_prod().over("Code"))
        .with_columns(
            A=pl.when(~pl.col("no_trade") & pl.col("C").is_not_null())
            .then(pl.col("C") / pl.col("F"))
            .forward_fill()
            .over("Code")
        )
    )
    held = grid.join(
        positions.select("Date", "Code", "shares"), on=["Date", "Code"], how="left"
    ).sort("Code", "Date")
    return (
        held.with_columns(pl.col("shares").fill_null(0.0))
        .with_columns(
            amount=pl.col("shares")
            - pl.col("shares").shift(1, fill_value=0.0).over("Code")
            / pl.col("AdjFactor").fill_null(1.0)
        )
        .filter(pl.col("amount").abs() > 1e-6)
        .select(
            "Date",
            symbol="Code",
            amount=pl.col("amount").round(6),
            price=pl.when(~pl.col("no_trade") & pl.col("C").is_not_null())
            .then(pl.col("C"))
            .otherwise(pl.col("A") * pl.col("F")),
        )
        .sort("Date", "symbol")
    )


def returns_frames(
    ev: EvaluatedRun, strategy: str, horizon: int | None, split: str, settings: Settings
) -> tuple[dict[str, pl.DataFrame], dict]:
    """The returns, positions, transactions and benchmark tables and the manifest's facts."""
    if strategy not in STRATEGIES:
        raise ExportError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    h = ev.horizon(horizon)
    entry = ev.split(split)
    if split not in PORTFOLIO_SPLITS:
        raise ExportError(
            f"split {split!r} has no backtest; the evaluator backtests {', '.join(PORTFOLIO_SPLITS)}"
        )
    config = ev.metrics.get("config", {})
    if "top_k" not in config or "cost_bps" not in config:
        raise ExportError(f"{ev.run_dir / 'metrics.json'}: config lacks top_k or cost_bps")
    evaluated = ev.daily_of(split, h)
    result = split_backtests(
        ev.run_dir,
        split,
        h,
        int(config["top_k"]),
        float(config["cost_bps"]),
        str(config.get("benchmark", "auto")),
        settings,
    )[strategy]
    daily = result.daily.sort("Date")
    _check_fresh(ev, daily, evaluated, strategy)
    bench = (
        daily.select("Date")
        .join(evaluated.select("Date", "bench"), on="Date", how="left")
        .sort("Date")
    )
    if bench["bench"].null_count():
        first = bench.filter(pl.col("bench").is_null())["Date"][0]
        raise ExportError(
            f"{ev.run_dir / 'daily.parquet'}: no bench value for split {split!r}, horizon {h} "
            f"on {first}; evaluate the run again"
        )
    positions = pyfolio_positions(daily, result.positions)
    first, last = daily["Date"][0], daily["Date"][-1]
    store = RawStore(settings.raw_dir)
    market = bt.load_market(store, TradingCalendar.load(store, first, last), first, last)
    transactions = pyfolio_transactions(result.positions, market)
    tables = {
        "returns": daily.select(
            as_timestamp("Date").alias("date"), "ret_net", "ret_gross", "cost", "turnover", "nav"
        ),
        "positions": positions.select(as_timestamp("Date").alias("date"), pl.exclude("Date")),
        "transactions": transactions.select(as_timestamp("Date").alias("date"), pl.exclude("Date")),
        "benchmark": bench.select(as_timestamp("Date").alias("date"), benchmark="bench"),
    }
    ppy = entry.get("periods_per_year")
    facts = {
        "run": ev.info.run_id,
        "model": ev.info.model,
        "dataset": ev.info.dataset,
        "split": split,
        "horizon": h,
        "strategy": strategy,
        "top_k": config["top_k"],
        "cost_bps": config["cost_bps"],
        "benchmark": _benchmark_name(ev, split, h),
        "benchmark_description": entry.get("benchmark"),
        "periods_per_year": ppy,
        "days": daily.height,
        "first_date": daily["Date"][0].isoformat(),
        "last_date": daily["Date"][-1].isoformat(),
    }
    return tables, facts


def export_returns(
    run: str | Path,
    strategy: str = "long_short",
    horizon: int | None = None,
    split: str = "test",
    out: Path | None = None,
    settings: Settings | None = None,
) -> Path:
    """Write returns, positions and benchmark (.parquet and .csv) and returns.json (see the
    module doc) into ``out`` (default runs/RUN/export/); the manifest's path."""
    settings = settings or get_settings()
    ev = load_evaluated(run)
    tables, facts = returns_frames(ev, strategy, horizon, split, settings)
    target = output_dir(ev, out)
    files = write_tables(target, tables)
    manifest = {
        **facts,
        "timing": TIMING,
        "files": {
            "returns": "date, ret_net, ret_gross (daily book returns), cost, turnover, nav (yen)",
            "positions": "pyfolio layout: date, one signed value column (yen) per stock, cash; "
            "each row sums to nav",
            "transactions": "pyfolio layout: date, symbol, amount (signed shares), price",
            "benchmark": f"date, benchmark (daily return of {facts['benchmark']})",
        },
        "written": files,
        "python": _snippet(target, facts["periods_per_year"]),
    }
    return write_manifest(target, MANIFEST, manifest)
