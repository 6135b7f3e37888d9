"""``gogooku import prices|index|list|remove``: files into the raw store, and what was imported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gogooku.importers.master import LIST_ASOF
from gogooku.importers.prices import FORMATS
from gogooku.logs import console

import_app = typer.Typer(help="Import data files into the raw store.", no_args_is_help=True)
Replace = Annotated[
    bool,
    typer.Option("--replace", help="replace rows whose keys another source already stored"),
]
DropBad = Annotated[
    bool,
    typer.Option(
        "--drop-bad", help="write the valid rows and report the bad ones (default: refuse)"
    ),
]
SHOWN_PROBLEMS = 20


def _say(text: str) -> None:
    """Print user data as written: no Rich markup (a value may hold brackets), no wrapping."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _show_problems(problems, name: str, outcome: str) -> None:
    """Print the first problems (plain text: values may hold brackets) and write them all to
    ``$GOGOOKU_HOME/imports/<name>_problems.csv``."""
    from gogooku.importers.commit import write_problems_csv
    from gogooku.settings import get_settings

    path = write_problems_csv(problems, get_settings().home / "imports" / f"{name}_problems.csv")
    rows = problems.select("file", "row").n_unique()
    _say(f"{problems.height} problem(s) in {rows} row(s), {outcome}; all listed in {path}")
    for row in problems.head(SHOWN_PROBLEMS).iter_rows(named=True):
        _say(f"  {row['file']}:{row['row']}: {row['column']}={row['value']!r}: {row['reason']}")


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
    market: str | None = typer.Option(
        None,
        "--market",
        help="XTKS (Tokyo, JPX rules), an exchange_calendars code such as XNYS, or data (the "
        "dates in the file are the calendar); default XTKS for JPX codes, else data",
    ),
    name: str | None = typer.Option(
        None, "--name", help="the import's id (default: the file name); re-importing replaces it"
    ),
    replace: Replace = False,
    drop_bad: DropBad = False,
) -> None:
    """Load a daily price table (Kaggle JPX or generic layout) as equities_bars_daily."""
    from gogooku.importers.commit import ImportProblems
    from gogooku.importers.prices import import_prices
    from gogooku.settings import get_settings
    from gogooku.store.raw import RawStore

    store = RawStore(get_settings().raw_dir)
    try:
        report = import_prices(
            Path(file),
            store,
            list_path=Path(list_file) if list_file else None,
            fmt=fmt,
            list_asof=list_asof,
            market=market,
            name=name,
            replace=replace,
            drop_bad=drop_bad,
        )
    except ImportProblems as exc:
        _show_problems(exc.problems, name or Path(file).name, "nothing was written")
        raise
    _say(
        f"imported {report.file} as {report.name} ({report.fmt}, market {report.market}): "
        f"{report.rows_written} of {report.rows_read} rows, {report.codes} codes, "
        f"{report.first_date}..{report.last_date}; datasets {report.datasets}"
    )
    if report.record.replaced:
        _say(f"replaced stored keys: {report.record.replaced}")
    for note in report.notes:
        _say(f"note: {note}")
    if report.problems.height:
        _show_problems(report.problems, report.name, "their rows were dropped (--drop-bad)")


@import_app.command("index")
def index_command(
    file: str = typer.Argument(..., help="CSV or Parquet: Date and Close (optional Open/High/Low)"),
    name: str = typer.Option(
        ..., "--name", help="the index code (Code of indices_bars_daily; topix: indices_topix)"
    ),
    replace: Replace = False,
    drop_bad: DropBad = False,
) -> None:
    """Load a daily index (a benchmark of your own) as indices_bars_daily or indices_topix."""
    from gogooku.importers.commit import ImportProblems
    from gogooku.importers.index import import_index, index_import_id
    from gogooku.settings import get_settings
    from gogooku.store.raw import RawStore

    store = RawStore(get_settings().raw_dir)
    try:
        report = import_index(Path(file), store, name, replace=replace, drop_bad=drop_bad)
    except ImportProblems as exc:
        _show_problems(exc.problems, index_import_id(name), "nothing was written")
        raise
    _say(
        f"imported {Path(file).name} as {report.record.id}: {report.rows_written} of "
        f"{report.rows_read} rows of {report.dataset} (Code {report.code}), "
        f"{report.first_date}..{report.last_date}"
    )
    if report.problems.height:
        _show_problems(report.problems, report.record.id, "their rows were dropped (--drop-bad)")


@import_app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="one JSON array of the import records"),
) -> None:
    """List the imports of this home: id, files, format, market, rows and dates per dataset."""
    from gogooku.importers.commit import list_imports
    from gogooku.settings import get_settings
    from gogooku.store.raw import RawStore

    records = list_imports(RawStore(get_settings().raw_dir))
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in records], indent=2))
        return
    if not records:
        typer.echo("no imports")
    for r in records:
        typer.echo(
            f"{r.id}  {r.format}  market {r.market}  files {', '.join(r.files)}  {r.imported_at}"
        )
        for dataset, info in r.datasets.items():
            typer.echo(f"    {dataset}: {info['rows']} rows, {info['first']}..{info['last']}")
        for dataset, count in r.replaced.items():
            typer.echo(f"    {dataset}: replaced {count} key(s) of other sources")


@import_app.command("remove")
def remove_command(
    import_id: str = typer.Argument(..., help="an id of gogooku import list"),
) -> None:
    """Delete every row an import wrote, and its record (replaced rows are not restored)."""
    from gogooku.importers.commit import remove_import
    from gogooku.settings import get_settings
    from gogooku.store.raw import RawStore

    remove_import(RawStore(get_settings().raw_dir), import_id)
    typer.echo(f"removed import {import_id}")


def _show_side_import(result) -> None:
    """Per file what it became, the notes, and the problems of rows left out (--drop-bad)."""
    for label, dataset, read, written in result.files:
        _say(f"{label} -> {dataset}: {written} of {read} rows")
    for note in result.notes:
        _say(f"note: {note}")
    if result.problems is not None and result.problems.height:
        _show_problems(result.problems, result.name, "their rows were dropped (--drop-bad)")


@import_app.command("table")
def table_command(
    dataset: str = typer.Argument(..., help="raw dataset id, e.g. markets_short_ratio"),
    file: str = typer.Argument(..., help="CSV or Parquet in J-Quants V2 field names"),
    name: str | None = typer.Option(
        None, "--name", help="the import's id (default: the file name); re-importing replaces it"
    ),
    replace: Replace = False,
    drop_bad: DropBad = False,
) -> None:
    """Load a table in J-Quants V2 field names (or a Kaggle JPX financials, options or trades
    file) into a raw dataset (docs/importers.md)."""
    from gogooku.importers.commit import ImportProblems
    from gogooku.importers.side import import_table
    from gogooku.settings import get_settings
    from gogooku.store.raw import RawStore

    store = RawStore(get_settings().raw_dir)
    try:
        result = import_table(
            store, dataset, Path(file), name=name, drop_bad=drop_bad, replace=replace
        )
    except ImportProblems as exc:
        _show_problems(exc.problems, name or Path(file).name, "nothing was written")
        raise
    _say(f"imported {Path(file).name} as {result.name}")
    _show_side_import(result)


@import_app.command("kaggle")
def kaggle_command(
    directory: str = typer.Argument(..., help="folder of the Kaggle JPX competition files"),
    name: str = typer.Option(
        "kaggle", "--name", help="id of the side-data import; price files get <name>-<file stem>"
    ),
    list_asof: str = typer.Option(
        "first",
        "--list-asof",
        help=f"date stock_list.csv's snapshot at: {', '.join(LIST_ASOF)} (see docs)",
    ),
    replace: Replace = False,
    drop_bad: DropBad = False,
) -> None:
    """Import every Kaggle JPX file in a folder: stock_prices, secondary_stock_prices,
    financials, options, trades and stock_list (also in train_files/ and supplemental_files/)."""
    from gogooku.importers.commit import ImportProblems
    from gogooku.importers.side import import_kaggle_dir
    from gogooku.settings import get_settings
    from gogooku.store.raw import RawStore

    store = RawStore(get_settings().raw_dir)
    try:
        result = import_kaggle_dir(
            store,
            Path(directory),
            name=name,
            drop_bad=drop_bad,
            replace=replace,
            list_asof=list_asof,
        )
    except ImportProblems as exc:
        _show_problems(exc.problems, name, "nothing was written")
        raise
    for report in result.prices:
        for note in report.notes:
            _say(f"note: {report.file}: {note}")
    _show_side_import(result)
