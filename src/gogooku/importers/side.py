"""Side data into the raw store: ``import_table`` (one V2-named or Kaggle file) and
``import_kaggle_dir`` (a Kaggle JPX competition folder).

Both are strict by default: any problem row (``gogooku.importers.v2``) refuses the whole import
with ``ImportProblems`` and nothing is written. With ``drop_bad`` the valid rows are written and
the problems returned for the report. Rows are stored through ``commit_import`` (key conflicts
with other sources refused unless ``replace``; the import is listed by ``gogooku import list``).

``import_kaggle_dir`` reads the Kaggle files found in the folder itself or in its ``train_files/``
and ``supplemental_files/`` sub-folders (both, in that order). Side files of the same kind are
stacked into one dataset (a key in both is a duplicate-key problem). ``stock_prices.csv`` and
``secondary_stock_prices.csv`` go through the price importer (``import_prices``, same checks and
``drop_bad``) with ``stock_list.csv`` as their issue list, each as its own import. The side files
are converted and checked before any price file is written; when a price file or the side data
is then refused, the price imports this call already wrote are removed again (a same-named
import of an earlier call that it had replaced is not restored).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from gogooku.errors import GogookuError
from gogooku.importers.commit import ImportProblems, commit_import, remove_import
from gogooku.importers.kaggle import LAYOUTS, convert, detect_layout
from gogooku.importers.prices import ImportReport, import_prices
from gogooku.importers.registry import check_import_name
from gogooku.importers.v2 import TableImportError, TypedTable, read_strings, type_table
from gogooku.store.raw import RawStore

SIDE_FILES = {"financials.csv": "financials", "options.csv": "options", "trades.csv": "trades"}
PRICE_FILES = ("stock_prices.csv", "secondary_stock_prices.csv")
LIST_FILE = "stock_list.csv"
SUBFOLDERS = ("train_files", "supplemental_files")
OTHER_COMMANDS = {
    "equities_bars_daily": "gogooku import prices (price checks, adjustment, calendar)",
    "markets_calendar": "gogooku import prices (the calendar comes with the prices)",
    "indices_topix": "gogooku import index --name topix",
    "indices_bars_daily": "gogooku import index --name CODE",
}
DROP_BAD_HINT = "; fix the rows or re-run with --drop-bad to write the valid rows only"


@dataclass
class SideImport:
    """What an import wrote: per file its dataset and rows, the problems, notes, price reports."""

    name: str
    files: list[tuple[str, str, int, int]] = field(default_factory=list)
    problems: pl.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    prices: list[ImportReport] = field(default_factory=list)


def read_typed(dataset: str, path: Path, label: str | None = None) -> TypedTable:
    """``path`` typed as ``dataset``: a Kaggle layout when its columns are one, else V2 names."""
    raw = read_strings(path)
    label = label or path.name
    layout = detect_layout(raw.columns)
    if layout is None:
        return type_table(dataset, raw, label)
    if LAYOUTS[layout][0] != dataset:
        raise TableImportError(
            f"{label}: the columns are Kaggle's {layout} layout, which imports into "
            f"{LAYOUTS[layout][0]}, not {dataset}"
        )
    return convert(layout, raw, label)


def _commit(
    store: RawStore,
    name: str,
    tables: list[TypedTable],
    *,
    drop_bad: bool,
    replace: bool,
    fmt: str,
    files: list[str],
) -> pl.DataFrame:
    """Commit the valid rows of ``tables`` (stacked per dataset); the problems frame."""
    problems = pl.concat([t.problems for t in tables]) if tables else None
    if problems is not None and problems.height and not drop_bad:
        raise ImportProblems(problems, DROP_BAD_HINT)
    datasets: dict[str, pl.DataFrame] = {}
    for table in tables:
        if table.frame.height:
            stacked = [datasets[table.dataset]] if table.dataset in datasets else []
            datasets[table.dataset] = pl.concat([*stacked, table.frame])
    if datasets:
        commit_import(store, name, datasets, replace=replace, fmt=fmt, meta={"files": files})
    return problems


def import_table(
    store: RawStore,
    dataset: str,
    path: Path,
    *,
    name: str | None = None,
    drop_bad: bool = False,
    replace: bool = False,
) -> SideImport:
    """One CSV/Parquet file into ``dataset`` as the import ``name`` (default: the file name)."""
    path = Path(path)
    if dataset in OTHER_COMMANDS:
        raise TableImportError(f"{dataset} is imported with {OTHER_COMMANDS[dataset]}")
    table = read_typed(dataset, path)
    if not table.frame.height and not table.problems.height:
        raise TableImportError(f"{path}: no rows to import")
    name = check_import_name(name or path.name)
    problems = _commit(
        store, name, [table], drop_bad=drop_bad, replace=replace, fmt="table", files=[path.name]
    )
    return SideImport(
        name,
        [(path.name, dataset, table.rows_read, table.frame.height)],
        problems,
        table.notes,
    )


def kaggle_files(directory: Path) -> list[tuple[str, Path]]:
    """(label, path) of the known Kaggle files in ``directory`` and its sub-folders."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TableImportError(f"{directory}: no such directory")
    folders = [directory, *(directory / s for s in SUBFOLDERS if (directory / s).is_dir())]
    known = (*PRICE_FILES, *SIDE_FILES, LIST_FILE)
    found = [
        (str(path.relative_to(directory)), path)
        for folder in folders
        for path in (folder / f for f in known)
        if path.is_file()
    ]
    if not any(Path(label).name != LIST_FILE for label, _ in found):
        raise TableImportError(
            f"{directory}: none of {', '.join(known[:-1])} found (nor in "
            f"{' or '.join(f'{s}/' for s in SUBFOLDERS)})"
        )
    return found


def _price_import_name(name: str, label: str) -> str:
    """``<name>-<folder>-<stem>`` of a price file (``kaggle-stock_prices``)."""
    return "-".join((name, *Path(label).with_suffix("").parts))


def import_kaggle_dir(
    store: RawStore,
    directory: Path,
    *,
    name: str = "kaggle",
    drop_bad: bool = False,
    replace: bool = False,
    list_asof: str = "first",
) -> SideImport:
    """Every known Kaggle file of ``directory`` (module doc); side data as the import ``name``,
    each price file as ``<name>-<stem>`` (``<name>-<folder>-<stem>`` in a sub-folder)."""
    check_import_name(name)
    found = kaggle_files(directory)
    stock_list = next((p for label, p in found if Path(label).name == LIST_FILE), None)
    side = [(label, path) for label, path in found if path.name in SIDE_FILES]
    tables = [read_typed(LAYOUTS[SIDE_FILES[p.name]][0], p, label) for label, p in side]
    problems = [t.problems for t in tables if t.problems.height]
    if problems and not drop_bad:
        raise ImportProblems(pl.concat(problems), DROP_BAD_HINT)
    result = SideImport(name)
    if stock_list is not None and not any(p.name in PRICE_FILES for _, p in found):
        result.notes.append(f"{LIST_FILE} not imported: it is the issue list of the price files")
    written: list[str] = []
    try:
        for label, path in found:
            if path.name not in PRICE_FILES:
                continue
            report = import_prices(
                path,
                store,
                list_path=stock_list,
                list_asof=list_asof,
                name=_price_import_name(name, label),
                replace=replace,
                drop_bad=drop_bad,
            )
            written.append(report.name)
            result.prices.append(report)
            result.files.append(
                (label, "equities_bars_daily", report.rows_read, report.rows_written)
            )
            problems.append(report.problems)
        _commit(
            store,
            name,
            tables,
            drop_bad=True,
            replace=replace,
            fmt="kaggle",
            files=[label for label, _ in side],
        )
    except GogookuError:
        for imported in written:
            remove_import(store, imported)
        raise
    for (label, _), table in zip(side, tables, strict=True):
        result.files.append((label, table.dataset, table.rows_read, table.frame.height))
        result.notes.extend(table.notes)
    result.problems = pl.concat(problems) if problems else None
    return result
