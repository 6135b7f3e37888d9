"""Vintages: the superseded versions of raw-store rows, kept when a re-fetched unit differs.

J-Quants corrects published data. When a unit is fetched again and a row it held before is no
longer delivered unchanged (a corrected value, a deleted record), the old row moves to
``raw/<dataset>/_vintages/<YYYY-MM>.parquet`` (same month as in the main partition) with two
hidden columns:

- ``_fetched_at``: when that version was first fetched (UTC);
- ``_superseded_at``: the fetch time of the unit write that replaced it (UTC).

Rows in the main partitions carry ``_fetched_at`` too (the first fetch that delivered them
unchanged); stores written before vintages existed lack the column, and their rows count as
known since their unit's last fetch. A re-fetch that returns the same rows adds no vintage and
keeps each row's ``_fetched_at``. The synthetic oracle and imports (sources ``import:*``) keep
no vintages: they are not published data, and a re-import replaces what the user imported.

A record's *identity* is its unit key plus the dataset's key columns (``Endpoint.key`` in
``gogooku.jquants.endpoints``, e.g. ``Date, Code`` for daily bars, ``Code, DiscNo`` for
statements); ``gogooku.dataset.point_in_time`` picks, per identity, the version a build may use.

Crash safety: within step 2 of the write protocol (``gogooku.store.raw``) the vintage month file
is replaced before the main month file. A writer killed between the two leaves rows in the
vintage file that are still current; the next write of those units (they are ``pending``, so
the fetcher requests them again) first drops every vintage row equal to a still-current row of
its units (same content and ``_fetched_at``), so nothing is lost and nothing is doubled.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from gogooku.io import atomic_write_parquet

UNIT_COLUMN = "_unit"
FETCHED_AT = "_fetched_at"
SUPERSEDED_AT = "_superseded_at"
HIDDEN_COLUMNS = (UNIT_COLUMN, FETCHED_AT, SUPERSEDED_AT)
VINTAGE_DIR = "_vintages"
TIMESTAMP = pl.Datetime("us", "UTC")
_SIDE = "__side"
_ROW = "__row"
_OLD, _NEW, _VINTAGE = 0, 1, 2


IMPORT_SOURCE_PREFIX = "import:"
ORACLE_DATASET = "synthetic_oracle"


def keeps_vintages(dataset: str, source: str) -> bool:
    """Whether rewriting units of ``dataset`` from ``source`` keeps the rows they supersede."""
    return dataset != ORACLE_DATASET and not source.startswith(IMPORT_SOURCE_PREFIX)


def vintage_dir(dataset_dir: Path) -> Path:
    return dataset_dir / VINTAGE_DIR


def as_utc(when: dt.datetime) -> dt.datetime:
    """``when`` in UTC (a naive value counts as UTC)."""
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def stamp(when: dt.datetime) -> pl.Expr:
    """A ``_fetched_at``/``_superseded_at`` literal for ``when``."""
    return pl.lit(as_utc(when), dtype=TIMESTAMP)


def _with_row_hash(frame: pl.DataFrame) -> pl.DataFrame:
    data = sorted(c for c in frame.columns if c not in (*HIDDEN_COLUMNS, _SIDE))
    return frame.with_columns(pl.struct(data).hash().alias(_ROW))


def supersede(
    old: pl.DataFrame,
    new: pl.DataFrame,
    vintages: pl.DataFrame,
    superseded_at: dict[str, dt.datetime],
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Compare one month's old and new rows of the units being rewritten.

    ``old``: their stored rows (``_unit``, ``_fetched_at`` filled); ``new``: the rows being written
    (``_fetched_at`` = this fetch); ``vintages``: the month's vintage file (may be empty);
    ``superseded_at``: each unit's new fetch time. Returns the new rows, each keeping the
    ``_fetched_at`` of an identical old row of its unit, and the month's new vintage file
    content, or None when it is unchanged (nothing superseded and no crash leftovers).
    """
    parts = [
        old.with_columns(pl.lit(_OLD).alias(_SIDE)),
        new.with_columns(pl.lit(_NEW).alias(_SIDE)),
    ]
    if vintages.height:
        parts.append(vintages.with_columns(pl.lit(_VINTAGE).alias(_SIDE)))
    both = _with_row_hash(pl.concat(parts, how="diagonal_relaxed"))
    key = [UNIT_COLUMN, _ROW]
    old_rows = both.filter(pl.col(_SIDE) == _OLD)
    first_seen = old_rows.group_by(key).agg(pl.col(FETCHED_AT).min().alias("__first"))
    new_rows = (
        both.filter(pl.col(_SIDE) == _NEW)
        .join(first_seen, on=key, how="left")
        .with_columns(pl.coalesce("__first", FETCHED_AT).alias(FETCHED_AT))
        .drop("__first")
    )
    gone = old_rows.join(new_rows.select(key).unique(), on=key, how="anti")
    units = list(superseded_at)
    stale = both.filter((pl.col(_SIDE) == _VINTAGE) & pl.col(UNIT_COLUMN).is_in(units)).join(
        old_rows.select(*key, FETCHED_AT).unique(), on=[*key, FETCHED_AT], how="semi"
    )
    kept_new = new_rows.select(new.columns)
    if not gone.height and not stale.height:
        return kept_new, None
    times = pl.DataFrame(
        {UNIT_COLUMN: units, SUPERSEDED_AT: [superseded_at[u] for u in units]},
        schema={UNIT_COLUMN: pl.String, SUPERSEDED_AT: TIMESTAMP},
    )
    added = gone.drop(SUPERSEDED_AT, strict=False).join(times, on=UNIT_COLUMN, how="left")
    previous = both.filter(pl.col(_SIDE) == _VINTAGE).join(
        stale.select(*key, FETCHED_AT), on=[*key, FETCHED_AT], how="anti"
    )
    updated = pl.concat([previous, added], how="diagonal_relaxed").drop(_SIDE, _ROW)
    columns = [c for c in updated.columns if c not in HIDDEN_COLUMNS]
    return kept_new, updated.select(*columns, *HIDDEN_COLUMNS)


def read_month(directory: Path, month: str) -> pl.DataFrame:
    """The vintage rows of ``month`` (empty frame when there are none)."""
    path = vintage_dir(directory) / f"{month}.parquet"
    return pl.read_parquet(path) if path.exists() else pl.DataFrame()


def write_month(directory: Path, month: str, frame: pl.DataFrame) -> None:
    """Replace the vintage file of ``month`` atomically (removed when ``frame`` is empty)."""
    path = vintage_dir(directory) / f"{month}.parquet"
    if frame.height:
        path.parent.mkdir(exist_ok=True)
        atomic_write_parquet(path, frame, fsync=True, compression="zstd")
    else:
        path.unlink(missing_ok=True)


def purge_units(directory: Path, keys: list[str]) -> None:
    """Drop every vintage row of the units ``keys`` (their records are being removed)."""
    for path in sorted(vintage_dir(directory).glob("*.parquet")):
        frame = pl.read_parquet(path)
        kept = frame.filter(~pl.col(UNIT_COLUMN).is_in(keys))
        if kept.height != frame.height:
            write_month(directory, path.stem, kept)


def vintage_files(directory: Path) -> list[Path]:
    return sorted(vintage_dir(directory).glob("[0-9][0-9][0-9][0-9]-[0-9][0-9].parquet"))
