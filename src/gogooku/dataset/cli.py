"""``gogooku build`` (build or extend a point-in-time dataset from the raw store) and
``gogooku splits`` (the walk-forward folds of a dataset)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gogooku.config import load_split_config
from gogooku.dataset.build import DEFAULT_CHUNK_STOCKS, build_dataset, dataset_dir
from gogooku.dataset.coverage import block_coverage, coverage_table
from gogooku.dataset.holdout import SPEC_HELP, read_holdout
from gogooku.dataset.splits import Fold, dataset_dates, dataset_folds


def _parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a YYYY-MM-DD date", param_hint=option) from None


def build_command(
    start: str = typer.Option(..., "--start", help="First panel date (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--end", help="Last panel date (YYYY-MM-DD)."),
    name: str = typer.Option(..., "--name", help="Dataset name: $GOGOOKU_HOME/datasets/NAME/."),
    blocks: str | None = typer.Option(
        None,
        "--blocks",
        help="Comma-separated block names; 'default' stands for every registered block but the opt-in ones (gemb), which is also what no --blocks builds.",
    ),
    warmup_days: int | None = typer.Option(
        None,
        "--warmup-days",
        help="Trading days of history read before --start (default: the longest block lookback).",
    ),
    full: bool = typer.Option(
        False, "--full", help="Rebuild from scratch even if the dataset can be extended."
    ),
    chunk_stocks: int = typer.Option(
        DEFAULT_CHUNK_STOCKS,
        "--chunk-stocks",
        help="Stocks per chunk of the per-stock blocks (smaller: less memory; same panel).",
    ),
    holdout: str | None = typer.Option(
        None,
        "--holdout",
        help=f"Sealed hold-out, recorded in metadata.json: {SPEC_HELP}. auto = the last 12 "
        "calendar months when the dataset spans at least 4 years, else none. Default: auto for a "
        "new dataset; an existing dataset keeps its hold-out (its start is fixed, so an "
        "extension grows it).",
    ),
    holdout_reset: bool = typer.Option(
        False,
        "--holdout-reset",
        help="Let --holdout replace the dataset's recorded hold-out (otherwise a different one "
        "is refused); earlier hold-out figures of the dataset are then void.",
    ),
    as_revised: bool = typer.Option(
        False,
        "--as-revised",
        help="Read the latest version of every raw record J-Quants corrected, on every row "
        "(default: the version held at 19:00 JST on the day the record became usable, so a "
        "correction fetched later never changes past rows). Recorded in metadata.json "
        "(revisions: latest); always a full build.",
    ),
) -> None:
    """Build the feature panel, labels, features.json and metadata.json for START..END.

    END is narrowed to the last stored daily bar (the calendar runs ahead of the data). The blocks are planned from the raw rows usable on or before END, so data stored after END never changes the columns; the calendar flags use the calendar JPX publishes ahead, so a build on a store fetched up to D gives the rows up to D of a later, longer build.

    An existing dataset with the same start, blocks and warm-up and an earlier end is extended incrementally (only the new days are computed; recent labels are refreshed), unless it holds a history-dependent block (gemb): then it is rebuilt in full.

    Raw records that were corrected after they were first fetched are read as held at each row's decision time unless --as-revised.

    The most recent days can be sealed as a hold-out (--holdout): no fold, search or ordinary evaluation uses them; `gogooku evaluate --final RUN` scores them once per config.
    """
    start_d = _parse_date(start, "--start")
    end_d = _parse_date(end, "--end")
    names = [b.strip() for b in blocks.split(",") if b.strip()] if blocks else None
    result = build_dataset(
        name,
        start_d,
        end_d,
        blocks=names,
        warmup_days=warmup_days,
        incremental=not full,
        chunk_stocks=chunk_stocks,
        holdout=holdout,
        holdout_reset=holdout_reset,
        as_revised=as_revised,
    )
    kind = "extended" if result.incremental else "built"
    typer.echo(
        f"{kind} {result.path}: {result.rows} rows, {result.stocks} stocks, {result.dates} dates "
        f"({result.start}..{result.end}), blocks: {', '.join(result.blocks) or 'none'}, "
        f"{result.seconds:.1f}s"
    )
    sealed = read_holdout(result.path)
    typer.echo(f"hold-out: {sealed.describe()}")
    Console(width=120).print(coverage_table(block_coverage(result.path)))


def folds_table(folds: Sequence[Fold], title: str) -> Table:
    table = Table(title=title)
    for col in ("fold", "train", "days", "validation", "days", "test", "days"):
        table.add_column(col, justify="right" if col in ("fold", "days") else "left")
    for f in folds:
        table.add_row(
            str(f.index),
            f"{f.train.start} → {f.train.end}",
            str(f.train.days),
            f"{f.val.start} → {f.val.end}",
            str(f.val.days),
            f"{f.test.start} → {f.test.end}",
            str(f.test.days),
        )
    return table


def splits_command(
    dataset: str = typer.Option(
        ..., "--dataset", help="Dataset name: $GOGOOKU_HOME/datasets/NAME/."
    ),
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            help="A data config with [splits] or a run config with [data.splits] (or a shipped "
            "config's name, e.g. configs/lgbm.toml).",
        ),
    ] = ...,
    as_json: bool = typer.Option(
        False,
        "--json",
        help='Print JSON: {"folds": [one object per fold: date ranges and days], "holdout": '
        '{"start", "end", "days"} or null}.',
    ),
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Override a value of the file, keyed from its top level, e.g. --set "
            "data.splits.train_days=500 (run config) or splits.train_days=500 (data config).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the walk-forward folds of a dataset for the [splits] of a data config or the
    [data.splits] of a run config.

    The dataset's sealed hold-out (if any) is shown below the folds; no fold reaches it.
    """
    split_config = load_split_config(config, overrides or ())
    path = dataset_dir(dataset)
    folds = dataset_folds(path, split_config)
    holdout = read_holdout(path)
    sealed = None
    if holdout.active:
        days = sum(1 for d in dataset_dates(path) if holdout.contains(d))
        sealed = {**holdout.as_json(), "days": days}
    if as_json:
        out = {"folds": [{"fold": f.index, **f.ranges()} for f in folds], "holdout": sealed}
        typer.echo(json.dumps(out, indent=2))
        return
    title = (
        f"{dataset}: {split_config.scheme} walk-forward, purge {split_config.purge} + embargo "
        f"{split_config.embargo_days} trading days"
    )
    Console(width=140).print(folds_table(folds, title))
    if sealed is None:
        typer.echo("hold-out: none")
    else:
        typer.echo(
            f"hold-out: {sealed['start']} → {sealed['end']} ({sealed['days']} days, sealed: "
            "scored only by `gogooku evaluate --final`)"
        )
