"""Validation-only scores of one trained fold (the search objective never reads test rows).

Both scores read the run's ``predictions.parquet`` restricted to ``split == "valid"`` (for ATFT
these are the best epoch's EMA weights, for LightGBM the best boosting round's), column
``pred_{h}d`` of the main horizon h = ``[target] main_horizon``:

- ``rank_ic``: mean over validation days of the daily Spearman correlation between prediction and
  ``target_{h}d`` (:func:`gogooku.evaluate.metrics.daily_ic`, the evaluator's convention); days
  with constant predictions are left out.
- ``sharpe``: net annualised Sharpe ratio (mean / std · √periods_per_year) of the evaluator's
  costed long-short backtest (:mod:`gogooku.evaluate.backtest`, top-K / bottom-K, rebalanced every
  h sessions, ``cost_bps`` per side) on the validation days. Positions opened on the last
  validation day are closed h + 1 sessions later, inside the purge gap before the test range
  (refused when the gap is shorter, so no test-range price is read).

``None`` when the score is undefined (no validation day with a finite value).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import polars as pl

from gogooku.calendar import TradingCalendar
from gogooku.errors import GogookuError
from gogooku.evaluate import backtest as bt
from gogooku.evaluate import metrics, risk
from gogooku.evaluate.benchmark import build_benchmark
from gogooku.evaluate.config import EvaluateConfig
from gogooku.evaluate.evaluator import run_settings
from gogooku.market import dataset_market
from gogooku.runs import load_run, read_predictions
from gogooku.settings import get_settings
from gogooku.store.raw import RawStore
from gogooku.target import label_column, pred_column

ObjectiveName = Literal["rank_ic", "sharpe"]
OBJECTIVES: tuple[str, ...] = ("rank_ic", "sharpe")


class ScoreError(GogookuError, ValueError):
    """A fold cannot be scored on validation (names the run and the reason)."""


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def validation_rows(run_dir: Path, horizon: int) -> pl.DataFrame:
    """``Date, Code, pred, target`` of the run's validation predictions for ``horizon``; the
    target is the label of the run's ``[target] label`` kind."""
    info = load_run(run_dir)
    preds = read_predictions(run_dir).filter(pl.col("split") == "valid")
    if preds.height == 0:
        raise ScoreError(f"run {info.run_id}: no validation predictions in {run_dir}")
    panel = get_settings().datasets_dir / info.dataset / "panel.parquet"
    target = label_column(horizon, run_settings(run_dir)[1])
    start, end = info.ranges.valid
    targets = (
        pl.scan_parquet(panel)
        .select("Date", "Code", target)
        .filter(pl.col("Date").is_between(start, end))
        .collect()
    )
    return preds.select("Date", "Code", pred=pl.col(pred_column(horizon))).join(
        targets.rename({target: "target"}), on=["Date", "Code"], how="left"
    )


def rank_ic(rows: pl.DataFrame) -> float | None:
    return _finite(metrics.daily_ic(rows, "pred", "target")["rank_ic"].mean())


def long_short_sharpe(
    run_dir: Path, rows: pl.DataFrame, horizon: int, top_k: int, cost_bps: float
) -> float | None:
    info = load_run(run_dir)
    store = RawStore(get_settings().raw_dir)
    start, end = info.ranges.valid
    test_start = info.ranges.test[0]
    calendar = TradingCalendar.load(store, start, test_start)
    close_by = calendar.offset_clipped(calendar.on_or_before(end), horizon + 1)
    if close_by >= test_start:
        raise ScoreError(
            f"run {info.run_id}: validation positions of horizon {horizon} would close on "
            f"{close_by}, inside the test range from {test_start} (purge gap too short)"
        )
    scores = rows.select("Date", "Code", score=pl.col("pred")).drop_nulls("score")
    market = bt.load_market(store, calendar, start, close_by)
    # The Sharpe of the net returns reads no benchmark; the equal-weight universe is the one
    # every store can build.
    levels = build_benchmark(store, calendar, market, "equal_weight").levels
    rules = dataset_market(get_settings().datasets_dir / info.dataset)
    config = bt.BacktestConfig(
        top_k=top_k,
        strategy="long_short",
        rebalance_days=horizon,
        cost_bps=cost_bps,
        lot_size=rules.lot_size,
        price_limits=rules.jpx,
    )
    daily = bt.run_backtest(scores, market, levels, config).daily.sort("Date")
    return _finite(
        risk.sharpe_ratio(daily["ret_net"].to_numpy(), risk.periods_per_year(calendar, start, end))
    )


def fold_score(
    run_dir: Path,
    horizon: int,
    objective: ObjectiveName = "rank_ic",
    evaluate: EvaluateConfig | None = None,
) -> dict[str, float | None]:
    """``{"rank_ic": …}`` and, for the ``sharpe`` objective, ``"sharpe"`` of one fold (its book
    of ``evaluate.top_k`` names a leg and ``evaluate.cost_bps``: the run's ``[evaluate]``)."""
    rows = validation_rows(run_dir, horizon)
    out = {"rank_ic": rank_ic(rows)}
    if objective == "sharpe":
        book = evaluate or EvaluateConfig()
        out["sharpe"] = long_short_sharpe(run_dir, rows, horizon, book.top_k, book.cost_bps)
    return out
