"""A daily index of the user's own: ``import_index(file, store, code)``.

The file has ``Date`` and ``Close`` (optional ``Open``/``High``/``Low``), or J-Quants' V2 names
``Date, O, H, L, C``. It is written to ``indices_bars_daily`` with ``Code = code`` (what a
benchmark ``index:<code>`` reads), or for ``topix``/``TOPIX`` to ``indices_topix``, so the
market block and the TOPIX benchmark work as with fetched data. The import's id is
``index-<code>``. Checks: dates (unparseable, before 1950, future), numbers (unparseable, not
finite), prices ≤ 0, ``High < Low``, Open/Close outside ``[Low, High]``, repeated dates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from gogooku.importers import checks
from gogooku.importers.commit import ImportProblems, ImportRecord, commit_import
from gogooku.importers.registry import check_import_name
from gogooku.importers.table import (
    LINE,
    PriceImportError,
    pick_columns,
    read_table,
    require_columns,
)
from gogooku.market import load_market
from gogooku.store.raw import RawStore

INDEX_ALIASES = {
    "Date": ("Date",),
    "O": ("O", "Open"),
    "H": ("H", "High"),
    "L": ("L", "Low"),
    "C": ("C", "Close"),
}
TOPIX_NAMES = ("topix", "TOPIX")
INDEX_ID_PREFIX = "index-"


@dataclass
class IndexReport:
    """What an index import wrote: dataset, rows, dates, problems of dropped rows, record."""

    dataset: str
    code: str
    rows_read: int
    rows_written: int
    first_date: dt.date
    last_date: dt.date
    problems: pl.DataFrame
    record: ImportRecord


def index_import_id(code: str) -> str:
    """The import id of the index ``code``: ``index-<code>``."""
    return f"{INDEX_ID_PREFIX}{code}"


def import_index(
    path: Path,
    store: RawStore,
    code: str,
    *,
    replace: bool = False,
    drop_bad: bool = False,
    today: dt.date | None = None,
) -> IndexReport:
    """Check and store the index file ``path`` as ``code`` (module doc)."""
    path = Path(path)
    name = check_import_name(index_import_id(code))
    today = today or dt.date.today()
    raw = read_table(path)
    require_columns(path, raw.columns, {"Date": ("Date",), "C": INDEX_ALIASES["C"]})
    present = [c for c in checks.PRICE_COLUMNS if any(a in raw.columns for a in INDEX_ALIASES[c])]
    frame, names = pick_columns(raw, INDEX_ALIASES)
    typed = checks.parse(frame, present)
    rules = [
        *checks.date_checks(today),
        *checks.number_checks(present),
        *checks.price_checks(present),
    ]
    problems = pl.concat(
        [
            checks.find_problems(typed, rules, path.name, names),
            checks.duplicates(typed, ["_Date"], path.name, names),
        ]
    ).sort("row", maintain_order=True)
    if problems.height and not drop_bad:
        raise ImportProblems(problems, " (--drop-bad writes the valid rows and reports these)")
    good = typed.filter(~pl.col(LINE).is_in(problems["row"].implode()))
    if good.is_empty():
        raise PriceImportError(f"{path}: no valid row ({problems['row'].n_unique()} bad rows)")
    dataset = "indices_topix" if code in TOPIX_NAMES else "indices_bars_daily"
    schema = RawStore.schema(dataset)
    columns = {"Date": pl.col("_Date"), "Code": pl.lit(code)}
    columns.update(
        {p: pl.col(f"_{p}") if p in present else pl.lit(None) for p in checks.PRICE_COLUMNS}
    )
    bars = good.select(
        expr.cast(schema[n]).alias(n) for n, expr in columns.items() if n in schema
    ).sort("Date")
    meta = {
        "files": [path.name],
        "market": load_market(store.root).name,
        "index": code,
        "problems": problems.height,
    }
    record = commit_import(store, name, {dataset: bars}, replace=replace, fmt="index", meta=meta)
    return IndexReport(
        dataset=dataset,
        code=code,
        rows_read=raw.height,
        rows_written=bars.height,
        first_date=bars["Date"].min(),
        last_date=bars["Date"].max(),
        problems=problems,
        record=record,
    )
