"""``gogooku evaluate``, ``gogooku compare`` and ``gogooku run factor``.

Reference factors (``run factor``), computed from the dataset panel's point-in-time features and
used as the prediction for every horizon:

- ``reversal`` = −ret_prev_5d (short-term reversal: last week's losers rebound);
- ``momentum`` = ret_prev_60d (past 60-session return);
- ``oracle``   = the synthetic market's exp_target_{h}d (expected h-day return known to the
  simulator; only on synthetic data — the ceiling a model could reach).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from gogooku.calendar import CalendarError
from gogooku.evaluate.evaluator import EvaluationError, dataset_horizons, evaluate_run
from gogooku.evaluate.report import COMPARE_FIELDS, _fmt, build_compare, compare_rows
from gogooku.runs import (
    SPLITS,
    Ranges,
    RunError,
    atomic_write_text,
    create_run,
    pred_column,
    resolve_run_dir,
    split_expr,
    write_predictions,
)
from gogooku.settings import get_settings
from gogooku.store.raw import RawStore

FACTORS: dict[str, tuple[str, float]] = {
    "reversal": ("ret_prev_5d", -1.0),
    "momentum": ("ret_prev_60d", 1.0),
}
FACTOR_NAMES = (*FACTORS, "oracle")

run_app = typer.Typer(help="Create runs (predictions of reference factors).", no_args_is_help=True)


def _parse_range(value: str, option: str) -> tuple[dt.date, dt.date]:
    try:
        start, end = value.split(":")
        return dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not START:END with YYYY-MM-DD dates", param_hint=option
        ) from None


def factor_predictions(
    dataset: str, factor: str, horizons: list[int], ranges: Ranges
) -> pl.DataFrame:
    """``Date, Code, pred_{h}d, split`` of a reference factor on the dataset's rows in ``ranges``."""
    settings = get_settings()
    panel_path = settings.datasets_dir / dataset / "panel.parquet"
    if not panel_path.is_file():
        raise RunError(f"dataset {dataset!r}: {panel_path} does not exist")
    keys = pl.scan_parquet(panel_path).select("Date", "Code").with_columns(split=split_expr(ranges))
    if factor == "oracle":
        oracle = RawStore(settings.raw_dir).read_oracle().collect()
        if oracle.height == 0:
            raise RunError(
                f"factor 'oracle' needs the synthetic market's oracle; {settings.raw_dir} has none"
            )
        absent = [h for h in horizons if f"exp_target_{h}d" not in oracle.columns]
        if absent:
            raise RunError(f"the synthetic oracle has no exp_target for horizons {absent}")
        preds = keys.collect().join(
            oracle.select(
                "Date",
                "Code",
                *(
                    pl.col(f"exp_target_{h}d").cast(pl.Float64).alias(pred_column(h))
                    for h in horizons
                ),
            ),
            on=["Date", "Code"],
            how="left",
        )
    else:
        column, sign = FACTORS[factor]
        if column not in pl.scan_parquet(panel_path).collect_schema().names():
            raise RunError(
                f"dataset {dataset!r}: {panel_path} has no column {column!r} for {factor}"
            )
        value = pl.col(column).cast(pl.Float64) * sign
        preds = (
            pl.scan_parquet(panel_path)
            .select("Date", "Code", *(value.alias(pred_column(h)) for h in horizons))
            .with_columns(split=split_expr(ranges))
            .collect()
        )
    return preds.filter(pl.col("split").is_not_null()).select(
        "Date", "Code", *(pred_column(h) for h in horizons), "split"
    )


@run_app.command("factor")
def run_factor_command(
    dataset: str = typer.Option(
        ..., "--dataset", help="Dataset name under $GOGOOKU_HOME/datasets."
    ),
    factor: str = typer.Option(..., "--factor", help=f"One of {', '.join(FACTOR_NAMES)}."),
    train: str = typer.Option(..., "--train", help="Training range START:END (YYYY-MM-DD)."),
    valid: str = typer.Option(..., "--valid", help="Validation range START:END."),
    test: str = typer.Option(..., "--test", help="Test range START:END."),
    horizons: str | None = typer.Option(
        None, "--horizons", help="Comma-separated horizons (default: every dataset target)."
    ),
    run_id: str | None = typer.Option(
        None, "--run-id", help="Run folder name (default: generated)."
    ),
) -> None:
    """Write a run whose predictions are a reference factor (reversal, momentum or the oracle)."""
    if factor not in FACTOR_NAMES:
        raise typer.BadParameter(f"{factor!r} is not one of {FACTOR_NAMES}", param_hint="--factor")
    parsed = {
        "train": _parse_range(train, "--train"),
        "valid": _parse_range(valid, "--valid"),
        "test": _parse_range(test, "--test"),
    }
    try:
        ranges = Ranges(**parsed)
    except ValidationError as exc:
        raise typer.BadParameter(
            "; ".join(e["msg"] for e in exc.errors()), param_hint="--train/--valid/--test"
        ) from None
    try:
        requested = [int(h) for h in horizons.split(",") if h.strip()] if horizons else []
    except ValueError:
        raise typer.BadParameter(
            f"{horizons!r} is not a list of integers", param_hint="--horizons"
        ) from None
    panel = get_settings().datasets_dir / dataset / "panel.parquet"
    try:
        hs = requested or (dataset_horizons(panel) if panel.is_file() else [])
        if not hs:
            raise RunError(f"dataset {dataset!r}: no horizons ({panel} missing or has no targets)")
        preds = factor_predictions(dataset, factor, hs, ranges)
        run_dir, info = create_run(
            f"factor_{factor}", dataset, hs, ranges, params={"factor": factor}, run_id=run_id
        )
        write_predictions(run_dir, preds)
    except RunError as exc:
        typer.echo(f"run factor failed: {exc}", err=True)
        raise typer.Exit(code=1) from None
    counts = {s: preds.filter(pl.col("split") == s).height for s in SPLITS}
    typer.echo(f"wrote run {info.run_id} at {run_dir}: {counts}")


def evaluate_command(
    run: str = typer.Option(..., "--run", help="Run id (under $GOGOOKU_HOME/runs) or run folder."),
    top_k: int = typer.Option(50, "--top-k", min=1, help="Names per portfolio leg."),
    cost_bps: float = typer.Option(10.0, "--cost-bps", min=0.0, help="Costs in bps per side."),
    replicates: int = typer.Option(1000, "--bootstrap", min=10, help="Bootstrap replicates."),
) -> None:
    """Evaluate a run: write runs/RUN/metrics.json and runs/RUN/report.html."""
    try:
        ev = evaluate_run(
            resolve_run_dir(run), top_k=top_k, cost_bps=cost_bps, replicates=replicates
        )
    except (RunError, EvaluationError, CalendarError) as exc:
        typer.echo(f"evaluate failed: {exc}", err=True)
        raise typer.Exit(code=1) from None
    for split, sd in ev.metrics["splits"].items():
        for h, e in sd["horizons"].items():
            s = e["signal"]
            lo = e.get("portfolio", {}).get("long_only", {}).get("net", {}).get("sharpe")
            typer.echo(
                f"{split:5s} {h:>3s}: RankIC {_fmt(s['rank_ic_mean'])}  IR {_fmt(s['rank_icir'])}"
                f"  long-only Sharpe {_fmt(lo)}"
            )
    typer.echo(f"wrote {ev.run_dir / 'metrics.json'} and {ev.run_dir / 'report.html'}")


def compare_command(
    runs: Annotated[list[str], typer.Argument(help="Run ids or folders (each evaluated).")],
    split: str = typer.Option("test", "--split", help="Split to compare."),
    out: Annotated[
        Path | None,
        typer.Option("--out", help="compare.html path (default $GOGOOKU_HOME/runs/compare.html)."),
    ] = None,
) -> None:
    """Print a side-by-side table of evaluated runs and write compare.html."""
    loaded = []
    for r in runs:
        try:
            path = resolve_run_dir(r) / "metrics.json"
        except RunError as exc:
            typer.echo(f"compare failed: {exc}", err=True)
            raise typer.Exit(code=1) from None
        if not path.is_file():
            typer.echo(
                f"compare failed: {path} missing; run `gogooku evaluate --run {r}`", err=True
            )
            raise typer.Exit(code=1)
        loaded.append(json.loads(path.read_text(encoding="utf-8")))
    table = Table(title=f"{split} split")
    table.add_column("horizon")
    table.add_column("metric")
    for m in loaded:
        table.add_column(m["run"]["run_id"], justify="right")
    pct = {label: p for label, _, p in COMPARE_FIELDS}
    for h, label, values in compare_rows(loaded, split):
        table.add_row(h, label, *(_fmt(v, pct[label]) for v in values))
    Console().print(table)
    target = out or get_settings().runs_dir / "compare.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, build_compare(loaded, split))
    typer.echo(f"wrote {target}")
