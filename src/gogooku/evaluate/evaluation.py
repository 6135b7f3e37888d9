"""What one evaluation produced: ``metrics.json``'s content and the series behind the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from gogooku.evaluate import backtest as bt
from gogooku.runs import RunInfo


@dataclass
class HorizonSeries:
    """In-memory series behind one split × horizon section of the report: the daily IC
    (``metrics.daily_ic``), the per-day quantile returns (``metrics.quantile_returns``), the
    per-day top-K turnover against h sessions earlier (``metrics.topk_turnover``) and the
    backtests."""

    daily_ic: pl.DataFrame
    quantiles: pl.DataFrame
    turnover: pl.DataFrame | None = None
    backtests: dict[str, bt.BacktestResult] = field(default_factory=dict)
    oracle_backtests: dict[str, bt.BacktestResult] = field(default_factory=dict)


@dataclass
class Evaluation:
    run_dir: Path
    info: RunInfo
    metrics: dict[str, object]
    series: dict[tuple[str, int], HorizonSeries]
