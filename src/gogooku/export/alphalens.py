"""``gogooku export alphalens``: a run's predictions and the market's adjusted closes in the
layout of ``alphalens.utils.get_clean_factor_and_forward_returns``.

Timing. gogooku's h-day label of a signal dated d is the return from the close of the next
session t = next(d) to the close h sessions later: target_h(d) = AdjC[t+h] / AdjC[t] − 1 (the
book trades at the close of t). Alphalens computes the forward return of a factor dated D from the
price dated D: fwd_h(D) = P[D+h] / P[D] − 1, h rows of the price table later. The export therefore
dates each factor value at its trade day t = next(d) (column ``date``; the signal's own date is
kept in ``signal_date``) and leaves the prices on their own dates, so fwd_h(t) = target_h(d)
exactly. Shifting the factor rather than the prices keeps ``prices`` a true price table (usable
as it is) and puts the factor on the day its position is opened, the day the returns export's
book trades.

Rows (the evaluator's): the split's predictions with a finite ``pred_{h}d`` and a finite label of
the run's label kind (metrics.json ``config.label``); the evaluator's daily RankIC of day d is
Spearman(factor, fwd_h) over the rows dated t = next(d), which is Alphalens' IC of day t.
Prices: ``AdjC`` (point-in-time adjusted close, ``gogooku.dataset.base``) of every trading day
from the first signal date to h sessions past the last trade day, one column per asset of the factor (null
where not listed or not traded; Alphalens carries the last price forward, which is the labels'
exit convention on a no-trade or delisted exit day, and the entry always has a close, or the
label would be null).

Alphalens drops a day whose factor it cannot cut into ``quantiles`` buckets (fewer distinct
values, e.g. on a halt day when every feature is carried) and filters outliers by default
(``filter_zscore=20``, with look-ahead): ``filter_zscore=None, quantiles=None, bins=1`` keep every
evaluated day and row.

With ``label = "excess"`` (minus TOPIX) the IC is the same (one shift per day); with ``"sector"``
Alphalens needs ``groupby`` = the ``group`` column (S33 on the signal date) and
``group_adjust=True``, equal to gogooku's only when the factor covers the whole universe.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl

from gogooku.calendar import TradingCalendar
from gogooku.evaluate import backtest as bt
from gogooku.evaluate.evaluator import load_targets, run_settings
from gogooku.export.evaluated import (
    EvaluatedRun,
    ExportError,
    as_timestamp,
    load_evaluated,
    output_dir,
    write_manifest,
    write_tables,
)
from gogooku.runs import read_predictions
from gogooku.settings import Settings, get_settings
from gogooku.store.raw import RawStore
from gogooku.target import pred_column

MANIFEST = "alphalens.json"
TIMING = (
    "factor 'date' = the trade day next(d) of the signal dated 'signal_date' = d; gogooku's h-day "
    "label of d is AdjC[next(d)+h] / AdjC[next(d)] - 1, which is Alphalens' h-period forward "
    "return of 'date' computed from 'prices' (AdjC, point-in-time adjusted closes on their own "
    "dates, trading days only)"
)


def _snippet(out: Path, horizon: int) -> list[str]:
    return [
        "import alphalens as al, pandas as pd",
        f'factor = pd.read_parquet("{out}/factor.parquet").set_index(["date", "asset"])["factor"]',
        f'prices = pd.read_parquet("{out}/prices.parquet").set_index("date")',
        "data = al.utils.get_clean_factor_and_forward_returns(factor, prices, "
        f"periods=({horizon},), filter_zscore=None, quantiles=None, bins=1)",
        "ic = al.performance.factor_information_coefficient(data)  # = the evaluator's rank_ic",
        "# quantiles=5 (the tear sheets) drops the days whose factor has < 5 distinct values",
    ]


def _calendar(store: RawStore, first, last, sessions: int) -> TradingCalendar:
    """The calendar the evaluator loads, covering ``sessions`` sessions past ``last`` (a calendar
    built from the exchange's rules needs its range: two calendar days per session plus ten days
    of holidays always hold them)."""
    return TradingCalendar.load(store, first, last + timedelta(days=2 * sessions + 10))


def alphalens_frames(
    ev: EvaluatedRun, horizon: int | None, split: str, settings: Settings
) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """``factor`` (date, asset, factor, signal_date, group), wide ``prices`` (date × asset) and
    the manifest's facts for ``split`` and ``horizon`` (default: the run's main horizon)."""
    h = ev.horizon(horizon)
    ev.split(split)
    label = ev.metrics.get("config", {}).get("label") or run_settings(ev.run_dir)[1]
    preds = read_predictions(ev.run_dir)
    part = preds.filter(pl.col("split") == split)
    targets, _ = load_targets(settings, ev.info.dataset, label)
    pred, target = pred_column(h), f"target_{h}d"
    rows = part.select("Date", "Code", pred).join(
        targets.select("Date", "Code", target), on=["Date", "Code"], how="left"
    )
    rows = rows.filter(pl.col(pred).is_finite() & pl.col(target).is_finite())
    if rows.height == 0:
        raise ExportError(
            f"run {ev.info.run_id}: no {split} prediction of horizon {h} has a {label} label"
        )
    store = RawStore(settings.raw_dir)
    first, last = rows["Date"].min(), rows["Date"].max()
    calendar = _calendar(store, first, last, h + 1)
    rows = rows.with_columns(trade=calendar.next_bd_expr(pl.col("Date")))
    shared = (
        rows.group_by("trade").agg(pl.col("Date").unique()).filter(pl.col("Date").list.len() > 1)
    )
    if shared.height:
        row = shared.sort("trade").row(0, named=True)
        raise ExportError(
            f"run {ev.info.run_id}: {split} signal dates {sorted(row['Date'])} share the trade "
            f"day {row['trade']} (predictions dated on non-trading days)"
        )
    start, end = rows["trade"].min(), calendar.offset_clipped(rows["trade"].max(), h)
    market = bt.load_market(store, calendar, first, end)
    assets = rows["Code"].unique().sort()
    sector = market.select("Date", "Code", group="S33")
    factor = (
        rows.join(sector, on=["Date", "Code"], how="left")
        .select(
            as_timestamp("trade").alias("date"),
            pl.col("Code").alias("asset"),
            pl.col(pred).alias("factor"),
            as_timestamp("Date").alias("signal_date"),
            "group",
        )
        .sort("date", "asset")
    )
    prices = (
        market.filter(pl.col("Code").is_in(assets.implode()))
        .pivot(on="Code", index="Date", values="AdjC", sort_columns=True)
        .sort("Date")
        .select(as_timestamp("Date").alias("date"), pl.exclude("Date"))
    )
    facts = {
        "run": ev.info.run_id,
        "model": ev.info.model,
        "dataset": ev.info.dataset,
        "split": split,
        "horizon": h,
        "label": label,
        "prediction_column": pred,
        "rows": factor.height,
        "assets": assets.len(),
        "first_signal_date": first.isoformat(),
        "last_signal_date": last.isoformat(),
        "first_trade_date": start.isoformat(),
        "prices_last_date": end.isoformat(),
    }
    return factor, prices, facts


def export_alphalens(
    run: str | Path,
    horizon: int | None = None,
    split: str = "test",
    out: Path | None = None,
    settings: Settings | None = None,
) -> Path:
    """Write factor.{parquet,csv}, prices.{parquet,csv} and alphalens.json (see the module doc)
    into ``out`` (default runs/RUN/export/); the manifest's path."""
    settings = settings or get_settings()
    ev = load_evaluated(run)
    factor, prices, facts = alphalens_frames(ev, horizon, split, settings)
    target = output_dir(ev, out)
    files = write_tables(target, {"factor": factor, "prices": prices})
    manifest = {
        **facts,
        "timing": TIMING,
        "files": {
            "factor": "long table: date (trade day), asset (Code), factor (the prediction), "
            "signal_date (the prediction's own date), group (S33 on signal_date)",
            "prices": "wide table: date × asset, AdjC (point-in-time adjusted close)",
        },
        "written": files,
        "python": _snippet(target, facts["horizon"]),
    }
    return write_manifest(target, MANIFEST, manifest)
