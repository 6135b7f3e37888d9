"""Point-in-time as-of joins: attach to each panel row the latest source record already usable.

``asof_join`` is a backward ``join_asof`` per key on the source's availability date, followed by a
hard check: no joined record may have ``available_from`` after the row's date. A record is joined
to row (key, t) iff it is the latest record of that key with ``available_from <= t`` (ties on the
same availability date resolved by ``order_by``, last wins).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import polars as pl

from gogooku.errors import GogookuError
from gogooku.features.availability import AVAILABLE_FROM


class LookAheadError(GogookuError, AssertionError):
    """A joined source record was not yet available on the row's date."""


def asof_join(
    rows: pl.LazyFrame | pl.DataFrame,
    source: pl.LazyFrame | pl.DataFrame,
    *,
    source_name: str,
    by: str | Sequence[str] | None = None,
    availability_col: str = AVAILABLE_FROM,
    row_date: str = "Date",
    columns: Sequence[str] | None = None,
    order_by: Sequence[str] = (),
    max_age_days: int | None = None,
    keep_availability: str | None = None,
) -> pl.LazyFrame:
    """Left-join ``source`` onto ``rows`` backward in time on ``availability_col <= row_date``.

    ``by``: key column(s) present in both frames (None: one global series, e.g. TOPIX or flows).
    ``columns``: source columns to attach (default: all but keys and the availability column).
    ``order_by``: tie-breakers among records of one key sharing an availability date (the last
    after sorting wins, e.g. ``("PubDate",)`` for revisions). ``max_age_days``: records older than
    this many calendar days are not joined. ``keep_availability``: name under which to keep the
    joined record's availability date (dropped otherwise).

    Raises ``LookAheadError`` naming the source, column, row and offending date if any joined
    record is available after its row's date.
    """
    keys = [by] if isinstance(by, str) else list(by or [])
    src = source.lazy()
    src_names = src.collect_schema().names()
    for col in [*keys, availability_col, *order_by]:
        if col not in src_names:
            raise ValueError(f"asof_join({source_name}): source has no column {col!r}")
    attach = (
        list(columns)
        if columns is not None
        else [c for c in src_names if c not in {*keys, availability_col}]
    )
    row_frame = rows.lazy()
    row_names = row_frame.collect_schema().names()
    clash = [c for c in attach if c in row_names]
    if clash:
        raise ValueError(f"asof_join({source_name}): columns {clash} already exist in the rows")
    avail_alias = "__asof_available_from"
    src = (
        src.select(*keys, pl.col(availability_col).alias(avail_alias), *order_by, *attach)
        .sort([avail_alias, *order_by])
        .unique(subset=[*keys, avail_alias], keep="last", maintain_order=True)
        .drop(*[c for c in order_by if c not in attach])
        .with_columns(pl.col(avail_alias).alias("__asof_on"))
    )
    row_frame = row_frame.collect()
    if keys:
        result = _join_sorted(row_frame, src, keys, row_date, max_age_days)
    else:
        result = _join_global(row_frame, src.collect(), row_date, max_age_days)
    late = result.filter(pl.col(avail_alias) > pl.col(row_date))
    if late.height:
        first = late.row(0, named=True)
        where = ", ".join(f"{k}={first[k]}" for k in keys)
        raise LookAheadError(
            f"as-of join of {source_name}: column {availability_col!r} = {first[avail_alias]} "
            f"is after the row date {first[row_date]} ({where or 'global series'}); "
            f"{late.height} rows affected"
        )
    if keep_availability:
        result = result.rename({avail_alias: keep_availability})
    else:
        result = result.drop(avail_alias)
    return result.lazy()


def _tolerance(max_age_days: int | None) -> str | None:
    return f"{max_age_days}d" if max_age_days is not None else None


def _join_sorted(
    rows: pl.DataFrame,
    src: pl.LazyFrame,
    keys: list[str],
    row_date: str,
    max_age_days: int | None,
) -> pl.DataFrame:
    """The backward ``join_asof`` of ``rows`` on ``src`` (prepared by ``asof_join``), per key of
    ``keys`` (none: one global series).

    The join needs the row dates ascending only within each key: rows already sorted by (keys,
    row date) without nulls, as the base rows are, join in place; others are sorted by date and
    back.
    """
    in_order = _sorted_by(rows, [*keys, row_date])
    left = rows.lazy().with_columns(pl.col(row_date).alias("__asof_on"))
    if not in_order:
        left = left.with_row_index("__asof_row").sort("__asof_on")
    joined = left.join_asof(
        src,
        on="__asof_on",
        by=keys or None,
        strategy="backward",
        tolerance=_tolerance(max_age_days),
        check_sortedness=False,
    )
    if not in_order:
        joined = joined.sort("__asof_row").drop("__asof_row")
    return joined.drop("__asof_on").collect()


def _join_global(
    rows: pl.DataFrame, src: pl.DataFrame, row_date: str, max_age_days: int | None
) -> pl.DataFrame:
    """The backward as-of join of ``rows`` on one global series ``src`` (``asof_join``'s, one
    record per availability date, ascending).

    The record of a row dated d is the last one with ``__asof_on ≤ d``: position
    ``searchsorted(on, d, side="right") − 1`` of the series, gathered for every row in place (no
    sort of the rows by date and back). Rows with a null date, a series with null dates or
    another dtype take the ``join_asof`` (:func:`_join_sorted`).
    """
    on = src["__asof_on"]
    if on.null_count() or on.dtype != rows.schema[row_date] or rows[row_date].null_count():
        return _join_sorted(rows, src.lazy(), [], row_date, max_age_days)
    day = pl.col(row_date)
    position = pl.lit(on).search_sorted(day, side="right").cast(pl.Int64) - 1
    found = pl.when(position >= 0).then(position)
    if max_age_days is not None:
        age = day - pl.lit(on).gather(found)
        found = pl.when(age <= timedelta(days=max_age_days)).then(found)
    index = rows.select(found).to_series()
    attached = src.drop("__asof_on").select(pl.all().gather(index))
    return pl.concat([rows, attached], how="horizontal")


def _sorted_by(frame: pl.DataFrame, columns: Sequence[str]) -> bool:
    """Whether ``frame``'s rows ascend lexicographically in ``columns`` (ties allowed) and hold no
    null in them."""
    if frame.height < 2:
        return True
    ascending = pl.lit(True)
    for name in reversed(columns):
        col, prev = pl.col(name), pl.col(name).shift(1)
        ascending = (col > prev) | ((col == prev) & ascending)
    no_nulls = pl.all_horizontal(pl.col(c).is_not_null().all() for c in columns)
    return bool(frame.select(ascending.slice(1).fill_null(False).all() & no_nulls).item())
