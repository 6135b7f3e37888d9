"""Tables in J-Quants V2 field names (CSV or Parquet) typed into a raw dataset, row by row.

``read_strings(path)`` reads every column as text plus ``_row`` (CSV: the file line, the header
being line 1; Parquet: the 1-based row number). ``type_table(dataset, frame, file)`` types it by
the endpoint schema (``gogooku.jquants.endpoints``: the same null tokens and casts as the API
parser) and returns the valid rows together with a problem report, one row per bad value
(``file, row, column, value, reason``):

- a value that does not convert to its field's type (date ``YYYY-MM-DD``, number, flag);
- a non-finite number (``inf``, ``nan``, ``1e309``);
- a null key or date value (the dataset's ``key`` and ``date_field`` columns);
- a date-field value after today + ``FUTURE_DAYS`` (a mistyped year would extend the stored
  calendar);
- a key seen on more than one row (every copy: which one is right is unknown).

A file without the dataset's key or date columns is refused as a whole (``TableImportError``).
Columns the endpoint does not know are dropped (named in the notes); fields the file lacks are
null. In datasets whose ``Code`` is a listed issue (``EQUITY_CODE_DATASETS``) a 4-character code
(``7203``, ``130A``) gets J-Quants' trailing 0 (``72030``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from gogooku.errors import GogookuError
from gogooku.jquants.endpoints import ENDPOINTS, typing_exprs

ROW = "_row"
PROBLEM_COLUMNS = ("file", "row", "column", "value", "reason")
FUTURE_DAYS = 7
EQUITY_CODE_DATASETS = frozenset(
    {
        "equities_master",
        "equities_bars_daily",
        "markets_margin_interest",
        "markets_margin_alert",
        "markets_short_sale_report",
        "fins_summary",
        "fins_earnings_date",
        "equities_earnings_calendar",
        "fins_dividend",
        "markets_breakdown",
    }
)
_KIND_WORDS = {
    "date": "date (YYYY-MM-DD)",
    "flag": "0/1 flag",
    "tf": "true/false flag",
    "num": "number",
    "numstr": "number",
}


class TableImportError(GogookuError, ValueError):
    """The file cannot be imported at all (unreadable, unknown dataset, key columns missing)."""

    exit_code = 2


@dataclass
class TypedTable:
    """A typed table: valid rows (the dataset's declared schema), problems, notes."""

    dataset: str
    frame: pl.DataFrame
    problems: pl.DataFrame
    rows_read: int
    notes: list[str] = field(default_factory=list)


def empty_problems() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"file": pl.String, "row": pl.Int64, "column": pl.String, "value": pl.String}
        | {"reason": pl.String}
    )


def read_strings(path: Path) -> pl.DataFrame:
    """Every column of a CSV or Parquet file as text, plus ``_row`` (see module doc)."""
    path = Path(path)
    if not path.is_file():
        raise TableImportError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise TableImportError(f"{path}: expected a .csv or .parquet file")
    try:
        if suffix == ".csv":
            frame = pl.read_csv(path, infer_schema=False, null_values=[""])
            first = 2
        else:
            frame = pl.read_parquet(path).with_columns(pl.col(pl.Datetime).dt.date())
            nested = [n for n, t in frame.schema.items() if t.is_nested()]
            if nested:
                raise TableImportError(f"{path}: column(s) {nested} hold lists or structs")
            frame = frame.with_columns(pl.all().cast(pl.String))
            first = 1
    except (pl.exceptions.PolarsError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TableImportError(f"{path}: cannot read as {suffix[1:]}: {reason}") from exc
    if ROW in frame.columns:
        raise TableImportError(f"{path}: a column may not be named {ROW!r}")
    return frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).add(first).alias(ROW))


def _equity_code(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.str.len_chars() == 4).then(expr + "0").otherwise(expr)


def _reasons(dataset: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(typed frame with ``_row``, long problems ``_row, column, reason``) of V2-named text."""
    ep = ENDPOINTS[dataset]
    required = {ep.date_field, *ep.key}
    specs = tuple(s for s in ep.fields if s.kind != "struct" and s.name in frame.columns)
    text = frame.select(ROW, *(pl.col(s.name).str.strip_chars() for s in specs))
    if dataset in EQUITY_CODE_DATASETS and "Code" in text.columns:
        text = text.with_columns(_equity_code(pl.col("Code")).alias("Code"))
    nulling, typing = typing_exprs(specs)
    nulled = text.with_columns(nulling)
    both = nulled.with_columns(e.name.prefix("_t_") for e in typing)
    latest = date.today() + timedelta(days=FUTURE_DAYS)
    reason_exprs = []
    for spec in specs:
        raw, typed = pl.col(spec.name), pl.col(f"_t_{spec.name}")
        reason = pl.when(raw.is_not_null() & typed.is_null()).then(
            pl.lit(f"not a valid {_KIND_WORDS.get(spec.kind, spec.kind)}")
        )
        if spec.kind in ("num", "numstr"):
            reason = reason.when(~typed.is_finite()).then(pl.lit("non-finite number"))
        if spec.name in required:
            reason = reason.when(typed.is_null()).then(pl.lit("missing key or date value"))
        if spec.name == ep.date_field:
            reason = reason.when(typed > latest).then(pl.lit(f"date after {latest}"))
        reason_exprs.append(reason.alias(spec.name))
    long = (
        both.select(ROW, *reason_exprs)
        .unpivot(index=ROW, variable_name="column", value_name="reason")
        .drop_nulls("reason")
        .with_columns(pl.lit(None, pl.String).alias("_key"))
    )
    typed = both.select(ROW, *(pl.col(f"_t_{s.name}").alias(s.name) for s in specs))
    return typed, long


def _duplicates(dataset: str, typed: pl.DataFrame, bad_rows: pl.Series) -> pl.DataFrame:
    """Long problems (``_row, column, reason``) for every copy of a key seen on several rows."""
    key = list(ENDPOINTS[dataset].key)
    clean = typed.filter(~pl.col(ROW).is_in(bad_rows.implode()))
    dup = clean.filter(pl.struct(key).is_duplicated())
    rows = dup.group_by(key).agg(pl.col(ROW).sort().alias("_rows"))
    return dup.join(rows, on=key, nulls_equal=True).select(
        ROW,
        pl.lit(", ".join(key)).alias("column"),
        pl.concat_str([pl.col(k).cast(pl.String) for k in key], separator=", ").alias("_key"),
        pl.concat_str(
            pl.lit("duplicate key, rows "),
            pl.col("_rows").cast(pl.List(pl.String)).list.join(", "),
        ).alias("reason"),
    )


def type_table(dataset: str, frame: pl.DataFrame, file: str) -> TypedTable:
    """Valid typed rows of ``dataset`` and the problem report of a ``read_strings`` frame."""
    if dataset not in ENDPOINTS:
        raise TableImportError(
            f"unknown dataset {dataset!r}; known datasets: {', '.join(sorted(ENDPOINTS))}"
        )
    ep = ENDPOINTS[dataset]
    required = list(dict.fromkeys((ep.date_field, *ep.key)))
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise TableImportError(
            f"{file}: missing column(s) {missing}; {dataset} rows are dated by "
            f"{ep.date_field!r} and identified by {list(ep.key)} (J-Quants V2 field names)"
        )
    notes = []
    unknown = [c for c in frame.columns if c != ROW and c not in ep.schema]
    if unknown:
        notes.append(f"{file}: column(s) not in {dataset} dropped: {', '.join(unknown)}")
    structs = [s.name for s in ep.fields if s.kind == "struct" and s.name in frame.columns]
    if structs:
        notes.append(f"{file}: nested field(s) {structs} cannot come from a table; left null")
    typed, long = _reasons(dataset, frame)
    long = pl.concat([long, _duplicates(dataset, typed, long[ROW])], how="diagonal")
    named = [c for c in long["column"].unique().to_list() if c in frame.columns]
    values = frame.select(ROW, *named).unpivot(
        index=ROW, on=named, variable_name="column", value_name="value"
    )
    problems = (
        long.join(values, on=[ROW, "column"], how="left")
        .select(
            pl.lit(file).alias("file"),
            pl.col(ROW).alias("row"),
            "column",
            pl.coalesce("value", "_key").alias("value"),
            "reason",
        )
        .sort("row", "column")
    )
    schema = ep.schema
    valid = (
        typed.filter(~pl.col(ROW).is_in(problems["row"].implode()))
        .with_columns(pl.lit(None, dtype).alias(n) for n, dtype in schema.items() if n not in typed)
        .select(pl.col(n).cast(t) for n, t in schema.items())
        .sort(required)
    )
    return TypedTable(dataset, valid, problems, frame.height, notes)
