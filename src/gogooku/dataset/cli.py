"""``gogooku build``: build or extend a point-in-time dataset from the raw store."""

from __future__ import annotations

from datetime import date

import typer

from gogooku.calendar import CalendarError
from gogooku.dataset.asof import LookAheadError
from gogooku.dataset.base import BaseFrameError
from gogooku.dataset.build import DEFAULT_CHUNK_STOCKS, BuildError, build_dataset
from gogooku.dataset.labels import LabelLeakError


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
        None, "--blocks", help="Comma-separated block names (default: every registered block)."
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
) -> None:
    """Build the feature panel, labels, features.json and metadata.json for START..END.

    An existing dataset with the same start, blocks and warm-up and an earlier end is extended incrementally (only the new days are computed; recent labels are refreshed).
    """
    start_d = _parse_date(start, "--start")
    end_d = _parse_date(end, "--end")
    names = [b.strip() for b in blocks.split(",") if b.strip()] if blocks else None
    try:
        result = build_dataset(
            name,
            start_d,
            end_d,
            blocks=names,
            warmup_days=warmup_days,
            incremental=not full,
            chunk_stocks=chunk_stocks,
        )
    except (BuildError, BaseFrameError, CalendarError, LabelLeakError, LookAheadError) as exc:
        typer.echo(f"build failed: {exc}", err=True)
        raise typer.Exit(code=1) from None
    kind = "extended" if result.incremental else "built"
    typer.echo(
        f"{kind} {result.path}: {result.rows} rows, {result.stocks} stocks, {result.dates} dates "
        f"({result.start}..{result.end}), blocks: {', '.join(result.blocks) or 'none'}, "
        f"{result.seconds:.1f}s"
    )
