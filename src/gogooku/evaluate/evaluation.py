"""What one evaluation produced: ``metrics.json``'s content and the series behind the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from gogooku.evaluate import backtest as bt
from gogooku.runs import RunInfo


@dataclass
class HorizonSeries:
    """In-memory series behind one split × horizon section of the report."""

    daily_ic: pl.DataFrame
    quantiles: pl.DataFrame
    backtests: dict[str, bt.BacktestResult] = field(default_factory=dict)
    oracle_backtests: dict[str, bt.BacktestResult] = field(default_factory=dict)


@dataclass
class Evaluation:
    run_dir: Path
    info: RunInfo
    metrics: dict[str, object]
    series: dict[tuple[str, int], HorizonSeries]
