"""Reading an import file: CSV or Parquet, every column as a string, plus its ``_line`` number.

``_line`` is the row's place in the file as a user finds it: the CSV line with the header as
line 1 (so the first data row is line 2), or the 1-based row number of a Parquet file. A file
that cannot be read (missing, corrupt Parquet, non-UTF-8 or ragged CSV, no header) raises
``PriceImportError`` naming the file and what is wrong.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gogooku.errors import GogookuError

LINE = "_line"
PARQUET_SUFFIXES = (".parquet", ".pq")


class PriceImportError(GogookuError, ValueError):
    """An import file (prices, index, stock list) cannot be imported: unreadable, unknown
    layout, missing columns, nothing valid; exits 2."""

    exit_code = 2


def read_table(path: Path) -> pl.DataFrame:
    """All columns as strings (nulls for empty CSV fields) plus ``_line`` (module doc)."""
    path = Path(path)
    if not path.is_file():
        raise PriceImportError(f"{path}: no such file")
    parquet = path.suffix.lower() in PARQUET_SUFFIXES
    try:
        if parquet:
            frame = pl.read_parquet(path).with_columns(pl.all().cast(pl.String))
        else:
            frame = pl.read_csv(path, infer_schema=False, null_values=[""])
    except pl.exceptions.NoDataError as exc:
        raise PriceImportError(f"{path}: empty file ({exc})") from exc
    except (pl.exceptions.PolarsError, OSError) as exc:
        kind = "Parquet" if parquet else "UTF-8 CSV with one field per header column"
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PriceImportError(f"{path}: cannot read as {kind}: {detail}") from exc
    if LINE in frame.columns:
        raise PriceImportError(f"{path}: column {LINE!r} is reserved")
    offset = 1 if parquet else 2
    return frame.with_columns(pl.int_range(pl.len()).add(offset).alias(LINE))


def pick_columns(
    frame: pl.DataFrame, aliases: dict[str, tuple[str, ...]]
) -> tuple[pl.DataFrame, dict[str, str]]:
    """``frame`` with the first present alias of each target renamed to the target (absent
    targets as null strings) plus ``_line``; and target -> the file's column name."""
    names = {
        target: next((a for a in options if a in frame.columns), None)
        for target, options in aliases.items()
    }
    found = {t: s for t, s in names.items() if s is not None}
    out = frame.select(*(pl.col(s).alias(t) for t, s in found.items()), LINE)
    absent = [pl.lit(None, pl.String).alias(t) for t in aliases if t not in found]
    return out.with_columns(absent).select(*aliases, LINE), {t: names[t] or t for t in aliases}


def require_columns(path: Path, columns: list[str], required: dict[str, tuple[str, ...]]) -> None:
    """Raise ``PriceImportError`` naming each required column (with its accepted names) absent."""
    missing = [
        "/".join(options) for options in required.values() if not any(o in columns for o in options)
    ]
    if missing:
        present = ", ".join(c for c in columns if c != LINE)
        raise PriceImportError(
            f"{path}: missing column(s) {', '.join(missing)}; the file has {present}"
        )
