"""``gogooku import prices FILE [--list FILE] [--format auto|kaggle|generic]``."""

from __future__ import annotations

from pathlib import Path

import typer

from gogooku.importers.prices import FORMATS, LIST_ASOF, import_prices
from gogooku.logs import console

import_app = typer.Typer(help="Import data files into the raw store.", no_args_is_help=True)


@import_app.command("prices")
def prices_command(
    file: str = typer.Argument(..., help="CSV or Parquet price table"),
    list_file: str | None = typer.Option(
        None, "--list", help="Kaggle stock_list.csv (sectors, market segment, size class)"
    ),
    fmt: str = typer.Option("auto", "--format", help=f"one of {', '.join(FORMATS)}"),
    list_asof: str = typer.Option(
        "first",
        "--list-asof",
        help=f"date the stock list's snapshot at: {', '.join(LIST_ASOF)} (see docs)",
    ),
) -> None:
    """Load a daily price table (incl. the Kaggle JPX layout) as equities_bars_daily."""
    from gogooku.importers.prices import write_report_csv
    from gogooku.settings import get_settings
    from gogooku.store.raw import RawStore

    settings = get_settings()
    store = RawStore(settings.raw_dir)
    report = import_prices(
        Path(file),
        store,
        list_path=Path(list_file) if list_file else None,
        fmt=fmt,
        list_asof=list_asof,
    )
    console.print(
        f"imported {report.file} ({report.fmt}): {report.rows_written} of {report.rows_read} rows, "
        f"{report.codes} codes, {report.first_date}..{report.last_date}; "
        f"datasets {report.datasets}"
    )
    for note in report.notes:
        console.print(f"note: {note}")
    if report.bad_rows.height:
        path = write_report_csv(
            report, settings.home / "imports" / f"{Path(report.file).stem}_excluded_rows.csv"
        )
        console.print(f"[yellow]{report.bad_rows.height} row(s) excluded[/], listed in {path}")
        for row in report.bad_rows.head(10).iter_rows(named=True):
            console.print(f"  {row['file']}:{row['line']}: {row['reason']}")
