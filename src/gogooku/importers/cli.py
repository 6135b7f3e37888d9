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


def _print_problems(problems, shown: int = 10) -> None:
    """The first ``shown`` problem rows of a --drop-bad import (they were not written)."""
    if problems is None or not problems.height:
        return
    console.print(f"{problems.height} problem row(s) left out (--drop-bad):", markup=False)
    for row in problems.head(shown).iter_rows(named=True):
        console.print(
            f"  {row['file']}:{row['row']} {row['column']}={row['value']!r}: {row['reason']}",
            markup=False,
        )


def _print_import(result) -> None:
    for label, dataset, read, written in result.files:
        console.print(f"{label} -> {dataset}: {written} of {read} rows", markup=False)
    for note in result.notes:
        console.print(f"note: {note}", markup=False)
    _print_problems(result.problems)


@import_app.command("table")
def table_command(
    dataset: str = typer.Argument(..., help="raw dataset id (gogooku.jquants.endpoints)"),
    file: str = typer.Argument(..., help="CSV or Parquet with J-Quants V2 field names"),
    name: str | None = typer.Option(None, "--name", help="import id (default: the file stem)"),
    drop_bad: bool = typer.Option(
        False, "--drop-bad", help="write the valid rows when some rows have problems"
    ),
    replace: bool = typer.Option(
        False, "--replace", help="replace rows whose keys another source already stored"
    ),
) -> None:
    """Load a table in J-Quants V2 field names (or a Kaggle JPX side file) into a raw dataset."""
    from gogooku.importers.side import import_table
    from gogooku.settings import get_settings
    from gogooku.store.raw import RawStore

    store = RawStore(get_settings().raw_dir)
    result = import_table(store, dataset, Path(file), name=name, drop_bad=drop_bad, replace=replace)
    console.print(f"import {result.name}:", markup=False)
    _print_import(result)


@import_app.command("kaggle")
def kaggle_command(
    directory: str = typer.Argument(..., help="folder of the Kaggle JPX competition files"),
    name: str = typer.Option("kaggle", "--name", help="import id of the side files"),
    drop_bad: bool = typer.Option(
        False, "--drop-bad", help="write the valid rows when some rows have problems"
    ),
    replace: bool = typer.Option(
        False, "--replace", help="replace rows whose keys another source already stored"
    ),
    list_asof: str = typer.Option(
        "first",
        "--list-asof",
        help=f"date stock_list.csv's snapshot at: {', '.join(LIST_ASOF)} (see docs)",
    ),
) -> None:
    """Import every Kaggle JPX file in a folder (prices, secondary prices, financials,
    options, trades, stock list; also its train_files/ and supplemental_files/)."""
    from gogooku.importers.side import import_kaggle_dir
    from gogooku.settings import get_settings
    from gogooku.store.raw import RawStore

    store = RawStore(get_settings().raw_dir)
    result = import_kaggle_dir(
        store,
        Path(directory),
        name=name,
        drop_bad=drop_bad,
        replace=replace,
        list_asof=list_asof,
    )
    for report in result.prices:
        for note in report.notes:
            console.print(f"note: {report.file}: {note}", markup=False)
    _print_import(result)
