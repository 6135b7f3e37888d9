"""Row-level checks of an import file: each failing value becomes one problem row.

A file is read as strings (``gogooku.importers.table``) and renamed to target columns (``Date``,
``Code``, ``O``, ``H``, ``L``, ``C``, ``Vo``, ...). ``parse`` adds the typed ``_<column>``
values; a ``Check`` is a condition on the typed row, the target column it blames and a reason;
``find_problems`` gives the problem report (``file, row, column, value, reason``: the file's
own column name and the value as written). A row may have several problems.

The value checks (the ``*_checks`` functions):

- dates: unparseable (neither ``YYYY-MM-DD`` nor ``YYYYMMDD``), before 1950-01-01, after ``today``;
- numbers: unparseable, not finite (``inf``, ``nan``; ``1e309`` parses to ``inf``);
- prices: ≤ 0, partly missing (a halted day has all four null), ``High < Low``, Open or Close
  outside ``[Low, High]``;
- ``AdjustmentFactor`` ≤ 0; volume negative, not a whole number or above 1e15 (Float64 holds
  every whole number up to 2^53 ≈ 9.0e15 exactly); turnover negative;
- keys: every copy of a key that occurs more than once (``duplicates``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from gogooku.importers.commit import PROBLEM_COLUMNS, problems_frame
from gogooku.importers.table import LINE

OLDEST_DATE = dt.date(1950, 1, 1)
MAX_VOLUME = 1e15
PRICE_COLUMNS = ("O", "H", "L", "C")
DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d")


@dataclass(frozen=True)
class Check:
    """Rows where ``failed`` holds have a problem ``reason`` in target column ``column``."""

    column: str
    failed: pl.Expr
    reason: str


def typed(name: str) -> pl.Expr:
    return pl.col(f"_{name}")


def finite(name: str) -> pl.Expr:
    """The typed value of ``name`` where finite, else null (a non-finite value has its own
    problem and is not compared)."""
    return pl.when(typed(name).is_finite()).then(typed(name))


def parse(frame: pl.DataFrame, numbers: Sequence[str]) -> pl.DataFrame:
    """``frame`` plus ``_Date`` (pl.Date) and ``_<n>`` (Float64) for each of ``numbers``."""
    return frame.with_columns(
        pl.coalesce(
            pl.col("Date").str.strip_chars().str.to_date(f, strict=False) for f in DATE_FORMATS
        ).alias("_Date"),
        *(
            pl.col(n).str.strip_chars().cast(pl.Float64, strict=False).alias(f"_{n}")
            for n in numbers
        ),
    )


def date_checks(today: dt.date) -> list[Check]:
    day = typed("Date")
    return [
        Check("Date", day.is_null(), "unparseable date (expected YYYY-MM-DD or YYYYMMDD)"),
        Check("Date", day < OLDEST_DATE, f"date before {OLDEST_DATE}"),
        Check("Date", day > today, f"date in the future (after {today})"),
    ]


def number_checks(numbers: Sequence[str]) -> list[Check]:
    checks = []
    for name in numbers:
        checks.append(
            Check(name, pl.col(name).is_not_null() & typed(name).is_null(), "unparseable number")
        )
        checks.append(Check(name, ~typed(name).is_finite(), "not a finite number"))
    return checks


def price_checks(present: Sequence[str] = PRICE_COLUMNS) -> list[Check]:
    """Checks of the price columns ``present`` (``C`` always; ``O``/``H``/``L`` when given)."""
    checks = [Check(p, finite(p) <= 0, "price <= 0") for p in present]
    for p in present:
        others = [pl.col(o).is_not_null() for o in present if o != p]
        if others:
            checks.append(
                Check(
                    p,
                    pl.col(p).is_null() & pl.any_horizontal(others),
                    "price missing while other prices of the row are given",
                )
            )
    if {"H", "L"} <= set(present):
        high, low = finite("H"), finite("L")
        checks.append(Check("H", high < low, "High < Low"))
        for p, label in (("O", "Open"), ("C", "Close")):
            if p in present:
                outside = (finite(p) > high) | (finite(p) < low)
                checks.append(Check(p, outside, f"{label} outside [Low, High]"))
    return checks


def volume_checks() -> list[Check]:
    volume = finite("Vo")
    return [
        Check("AdjFactor", finite("AdjFactor") <= 0, "AdjustmentFactor <= 0"),
        Check("Vo", volume < 0, "negative volume"),
        Check("Vo", volume != volume.floor(), "volume is not a whole number"),
        Check("Vo", volume > MAX_VOLUME, f"volume above {MAX_VOLUME:.0e}"),
        Check("Va", finite("Va") < 0, "negative turnover"),
    ]


def find_problems(
    frame: pl.DataFrame, checks: Sequence[Check], file: str, names: dict[str, str]
) -> pl.DataFrame:
    """The problem report of ``frame`` (parsed) under ``checks``; ``names`` maps a target
    column to the file's column name."""
    parts = [
        frame.filter(check.failed.fill_null(False)).select(
            pl.lit(file).alias("file"),
            pl.col(LINE).cast(pl.Int64).alias("row"),
            pl.lit(names.get(check.column, check.column)).alias("column"),
            pl.col(check.column).cast(pl.String).fill_null("").alias("value"),
            pl.lit(check.reason).alias("reason"),
        )
        for check in checks
    ]
    return pl.concat([problems_frame(), *parts]).sort("row", maintain_order=True)


def duplicates(
    frame: pl.DataFrame, key: Sequence[str], file: str, names: dict[str, str]
) -> pl.DataFrame:
    """One problem per copy of a ``key`` (typed columns) found on several rows, naming them."""
    keyed = frame.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in key))
    repeated = keyed.filter(pl.struct(key).is_duplicated())
    if repeated.is_empty():
        return problems_frame()
    rows = repeated.group_by(key).agg(
        pl.col(LINE).sort().cast(pl.String).str.join(", ").alias("_rows")
    )
    label = ", ".join(names.get(k.lstrip("_"), k.lstrip("_")) for k in key)
    return (
        repeated.join(rows, on=key)
        .select(
            pl.lit(file).alias("file"),
            pl.col(LINE).cast(pl.Int64).alias("row"),
            pl.lit(label).alias("column"),
            pl.concat_str([pl.col(k).cast(pl.String) for k in key], separator=" ").alias("value"),
            pl.concat_str(pl.lit(f"duplicate ({label}) key, rows "), pl.col("_rows")).alias(
                "reason"
            ),
        )
        .select(PROBLEM_COLUMNS)
        .sort("row")
    )


def jpx_code(expr: pl.Expr) -> pl.Expr:
    """J-Quants' 5-character code: 4 characters (1301, 130A) get a trailing 0, 5 stay; any
    other length is null."""
    text = expr.str.strip_chars().str.replace(r"\.0$", "")
    return (
        pl.when(text.str.len_chars() == 4)
        .then(text + "0")
        .when(text.str.len_chars() == 5)
        .then(text)
        .otherwise(None)
    )
