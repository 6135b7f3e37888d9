"""Bring-your-own prices: load a daily price table into the raw store in the J-Quants V2 layout.

``import_prices(file, list_file=None, fmt="auto")`` reads CSV or Parquet and writes
``equities_bars_daily`` (+ ``equities_master`` from a stock list or from sector columns, +
``markets_calendar`` from XTKS) through :class:`gogooku.store.raw.RawStore` (one unit
``import:<file name>:<YYYY-MM>`` per month, recorded in the catalog with source
``import:<file name>``; re-importing a file of the same name replaces its rows), so the price-based blocks, training
and evaluation run on such data. Side-data blocks are then skipped by the builder.

Formats:

- ``kaggle``: the "JPX Tokyo Stock Exchange Prediction" ``stock_prices.csv`` (RowId, Date,
  SecuritiesCode, Open, High, Low, Close, Volume, AdjustmentFactor, ExpectedDividend,
  SupervisionFlag, Target) and optionally its ``stock_list.csv`` (``--list``).
- ``generic``: ``Date``, ``Code`` and ``Open/High/Low/Close/Volume`` (or ``O/H/L/C/Vo``), optional
  ``TurnoverValue``/``Va``, ``AdjustmentFactor``/``AdjFactor`` (J-Quants convention) and
  ``S33``/``S17`` sector codes.

Conventions: 4-character codes (Kaggle's ``SecuritiesCode`` 1301, or 130A) become J-Quants'
5-character codes with a trailing 0 (13010). A missing trading value is estimated as
``Va = C · Vo``. Limit flags are unknown (null). ``Adj*`` are J-Quants-style back-adjusted values
(``AdjX_t = X_t · ∏_{u>t} AdjFactor_u``, ``AdjVo_t = Vo_t / ∏_{u>t} AdjFactor_u``); the builder
ignores them and adjusts point in time itself.

AdjustmentFactor: J-Quants puts a split's factor (0.5 for 1:2) on the ex-date, the first day
traded at the new share count. Kaggle puts it on the stock's last row *before* the ex-date (its
tutorial back-adjusts with a reverse cumulative product that includes the row itself). The
Kaggle importer therefore moves each factor to the stock's next row; a factor on a stock's last
row (ex-date after the file ends) is dropped and reported.

Kaggle's ``stock_list.csv`` is one snapshot (``EffectiveDate``, mostly 2021-12-30). By default
(``list_asof="first"``) it is dated at each stock's first price date so that sector features exist
for the whole history: this uses the late-2021 classification for earlier dates (a documented
look-ahead of the sector label only). ``list_asof="effective"`` dates it at ``EffectiveDate``
(strictly point in time: no sector before it).

Bad rows are excluded and reported (file, line, reason): unparseable dates or numbers, a code
that is not 4 or 5 characters, negative prices or volume, ``High < Low``, an open or close
outside ``[Low, High]``, a day that is not an XTKS trading day, and duplicate (Code, Date) keys
(every copy is excluded: which one is right is unknown). CSV lines count the header as line 1;
Parquet "lines" are 1-based row numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from gogooku.calendar import TradingCalendar
from gogooku.errors import GogookuError
from gogooku.io import atomic_path
from gogooku.store.raw import RawStore, UnitWrite

log = logging.getLogger(__name__)

FORMATS = ("auto", "kaggle", "generic")
LIST_ASOF = ("first", "effective")
PRICE_COLS = ("O", "H", "L", "C")
KAGGLE_COLUMNS = {"SecuritiesCode", "AdjustmentFactor", "Open", "High", "Low", "Close", "Volume"}
GENERIC_ALIASES = {
    "O": ("O", "Open"),
    "H": ("H", "High"),
    "L": ("L", "Low"),
    "C": ("C", "Close"),
    "Vo": ("Vo", "Volume"),
    "Va": ("Va", "TurnoverValue"),
    "AdjFactor": ("AdjFactor", "AdjustmentFactor"),
    "S33": ("S33", "33SectorCode"),
    "S17": ("S17", "17SectorCode"),
}
MARKET_CODES = {"Prime Market": "0111", "Standard Market": "0112", "Growth Market": "0113"}
MARKET_NAMES = {"0111": "Prime", "0112": "Standard", "0113": "Growth"}
CALENDAR_LEAD_DAYS = 366


class PriceImportError(GogookuError, ValueError):
    """The file cannot be imported (unreadable, unknown layout, nothing valid); exits 2."""

    exit_code = 2


@dataclass
class ImportReport:
    """What an import did: rows read/written, excluded rows (file, line, reason), datasets."""

    file: str
    fmt: str
    rows_read: int
    rows_written: int
    codes: int
    first_date: date | None
    last_date: date | None
    bad_rows: pl.DataFrame
    datasets: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# -- reading -----------------------------------------------------------------------------------
def read_table(path: Path) -> tuple[pl.DataFrame, int]:
    """All columns as strings plus ``_line`` (CSV: header is line 1; Parquet: 1-based row)."""
    if not path.exists():
        raise PriceImportError(f"{path}: no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pl.read_parquet(path)
        frame = frame.with_columns(pl.all().cast(pl.String))
        offset = 1
    else:
        try:
            frame = pl.read_csv(path, infer_schema=False, null_values=[""])
        except pl.exceptions.PolarsError as exc:
            raise PriceImportError(f"{path}: cannot read as CSV: {exc}") from exc
        offset = 2
    return frame.with_columns(pl.int_range(pl.len()).add(offset).alias("_line")), offset


def detect_format(columns: list[str], path: Path) -> str:
    if set(columns) >= KAGGLE_COLUMNS:
        return "kaggle"
    names = set(columns)
    required = {"Date", "Code"}
    if required <= names and all(any(a in names for a in GENERIC_ALIASES[c]) for c in PRICE_COLS):
        return "generic"
    raise PriceImportError(
        f"{path}: unknown layout (columns {columns}); expected the Kaggle JPX stock_prices.csv "
        f"columns {sorted(KAGGLE_COLUMNS)} or generic Date, Code, Open/High/Low/Close[/Volume]"
    )


def _standardise(raw: pl.DataFrame, fmt: str) -> pl.DataFrame:
    """String columns renamed to Date, Code, O, H, L, C, Vo, Va, AdjFactor, S33, S17 (+_line)."""
    if fmt == "kaggle":
        mapping = {
            "Date": "Date",
            "SecuritiesCode": "Code",
            "Open": "O",
            "High": "H",
            "Low": "L",
            "Close": "C",
            "Volume": "Vo",
            "AdjustmentFactor": "AdjFactor",
        }
    else:
        mapping = {"Date": "Date", "Code": "Code"}
        for target, aliases in GENERIC_ALIASES.items():
            found = next((a for a in aliases if a in raw.columns), None)
            if found:
                mapping[found] = target
    out = raw.select(*(pl.col(s).alias(t) for s, t in mapping.items()), "_line")
    missing = [c for c in ("Vo", "Va", "AdjFactor", "S33", "S17") if c not in out.columns]
    return out.with_columns(pl.lit(None, pl.String).alias(c) for c in missing)


# -- validation --------------------------------------------------------------------------------
def _number(name: str) -> pl.Expr:
    return pl.col(name).str.strip_chars().cast(pl.Float64, strict=False)


def _code(expr: pl.Expr) -> pl.Expr:
    """4-character codes get a trailing 0; 5-character codes stay; anything else is null."""
    text = expr.str.strip_chars().str.replace(r"\.0$", "")
    return (
        pl.when(text.str.len_chars() == 4)
        .then(text + "0")
        .when(text.str.len_chars() == 5)
        .then(text)
        .otherwise(None)
    )


def validate(frame: pl.DataFrame, calendar: TradingCalendar) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(typed valid rows, bad rows ``line, reason``) of a standardised frame."""
    typed = frame.with_columns(
        pl.col("Date").str.strip_chars().str.to_date("%Y-%m-%d", strict=False).alias("_date"),
        _code(pl.col("Code")).alias("_code"),
        *(_number(c).alias(f"_{c}") for c in (*PRICE_COLS, "Vo", "Va", "AdjFactor")),
    )

    def bad_number(c: str) -> pl.Expr:
        return pl.col(c).is_not_null() & pl.col(f"_{c}").is_null()

    o, h, lo, c = (pl.col(f"_{x}") for x in PRICE_COLS)
    trading = pl.Series(calendar.days(date.min, date.max), dtype=pl.Date)
    checks = [
        (pl.col("_date").is_null(), "unparseable date"),
        (pl.col("_code").is_null(), "code is not 4 or 5 characters"),
        (
            pl.any_horizontal(*(bad_number(x) for x in (*PRICE_COLS, "Vo", "Va", "AdjFactor"))),
            "unparseable number",
        ),
        (pl.any_horizontal(*(x < 0 for x in (o, h, lo, c))), "negative price"),
        (pl.col("_Vo") < 0, "negative volume"),
        (h < lo, "High < Low"),
        ((o > h) | (o < lo) | (c > h) | (c < lo), "Open or Close outside [Low, High]"),
        (pl.col("_AdjFactor") <= 0, "AdjustmentFactor <= 0"),
        (
            pl.col("_date").is_not_null() & ~pl.col("_date").is_in(trading.implode()),
            "not an XTKS trading day",
        ),
    ]
    reason = pl.concat_str(
        *(pl.when(cond.fill_null(False)).then(pl.lit(text)) for cond, text in checks),
        separator="; ",
        ignore_nulls=True,
    ).fill_null("")
    typed = typed.with_columns(reason.alias("_reason"))
    dup = typed.filter(pl.col("_reason") == "").filter(pl.struct("_code", "_date").is_duplicated())
    dup_lines = dup.group_by("_code", "_date").agg(pl.col("_line").sort().alias("_lines"))
    dup = dup.join(dup_lines, on=["_code", "_date"]).select(
        "_line",
        pl.concat_str(
            pl.lit("duplicate (Code, Date) key, lines "),
            pl.col("_lines").cast(pl.List(pl.String)).list.join(", "),
        ).alias("_dup"),
    )
    typed = typed.join(dup, on="_line", how="left").with_columns(
        pl.when(pl.col("_dup").is_not_null())
        .then(pl.col("_dup"))
        .otherwise(pl.col("_reason"))
        .alias("_reason")
    )
    bad = typed.filter(pl.col("_reason") != "").select(
        pl.col("_line").alias("line"), pl.col("_reason").alias("reason")
    )
    good = typed.filter(pl.col("_reason") == "")
    return good, bad.sort("line")


# -- conversion --------------------------------------------------------------------------------
def _kaggle_factor_to_ex_date(good: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Move each Kaggle factor to the stock's next row; (frame, dropped last-row factors)."""
    good = good.sort("_code", "_date")
    factor = pl.col("_AdjFactor").fill_null(1.0)
    moved = good.with_columns(factor.shift(1).over("_code").fill_null(1.0).alias("_AdjFactor"))
    dropped = good.filter(
        (pl.col("_date") == pl.col("_date").max().over("_code")) & (factor != 1.0)
    ).select(
        pl.col("_line").alias("line"),
        pl.lit(
            "AdjustmentFactor on the stock's last row: its ex-date is after the file ends"
        ).alias("reason"),
    )
    return moved, dropped


def factor_alignment(good: pl.DataFrame) -> tuple[int, int]:
    """(factors whose price jump is on the next row, factors with a measurable jump).

    For a row with factor f ≠ 1 and closes C_prev, C, C_next of the stock's neighbouring rows,
    the jump is on the next row when |ln(C_next / C) − ln f| < |ln(C / C_prev) − ln f|: the
    Kaggle convention (factor on the day before the ex-date). J-Quants data gives the opposite.
    """
    c = pl.col("_C")
    f = pl.col("_AdjFactor")
    frame = good.sort("_code", "_date").with_columns(
        (c.shift(-1).over("_code") / c).log().alias("_next"),
        (c / c.shift(1).over("_code")).log().alias("_same"),
    )
    jumps = frame.filter((f != 1.0) & pl.col("_next").is_not_null() & pl.col("_same").is_not_null())
    lf = f.log()
    nxt = jumps.filter((pl.col("_next") - lf).abs() < (pl.col("_same") - lf).abs()).height
    return nxt, jumps.height


def to_bars(good: pl.DataFrame) -> pl.DataFrame:
    """Typed ``equities_bars_daily`` rows (declared schema) from validated rows."""
    f = pl.col("_AdjFactor").fill_null(1.0)
    # ∏_{u>t} AdjFactor_u over the stock's later rows: reverse cumulative product, exclusive.
    later = (f.reverse().cum_prod().reverse() / f).over("_code")
    frame = good.sort("_code", "_date").with_columns(later.alias("_later"))
    price = {x: pl.col(f"_{x}") for x in PRICE_COLS}
    vo = pl.col("_Vo")
    va = pl.coalesce(pl.col("_Va"), price["C"] * vo)
    no_trade = pl.all_horizontal(*(p.is_null() for p in price.values()))
    columns = {
        "Date": pl.col("_date"),
        "Code": pl.col("_code"),
        **{x: price[x] for x in PRICE_COLS},
        "UL": pl.lit(None, pl.Boolean),
        "LL": pl.lit(None, pl.Boolean),
        "Vo": pl.when(no_trade).then(None).otherwise(vo),
        "Va": pl.when(no_trade).then(None).otherwise(va),
        "AdjFactor": f,
        **{f"Adj{x}": price[x] * pl.col("_later") for x in PRICE_COLS},
        "AdjVo": pl.when(no_trade).then(None).otherwise(vo / pl.col("_later")),
    }
    schema = RawStore.schema("equities_bars_daily")
    bars = frame.select(expr.cast(schema[name]).alias(name) for name, expr in columns.items())
    rest = [pl.lit(None, dtype).alias(n) for n, dtype in schema.items() if n not in columns]
    return bars.with_columns(rest).select(list(schema)).sort("Date", "Code")


def _sector4(expr: pl.Expr) -> pl.Expr:
    text = expr.cast(pl.String).str.strip_chars().str.replace(r"\.0$", "")
    return pl.when(text.str.contains(r"^\d+$")).then(text.str.zfill(4)).otherwise(None)


def _sector17(expr: pl.Expr) -> pl.Expr:
    text = expr.cast(pl.String).str.strip_chars().str.replace(r"\.0$", "")
    return pl.when(text.str.contains(r"^\d+$")).then(text).otherwise(None)


def master_from_list(list_path: Path, bars: pl.DataFrame, asof: str) -> pl.DataFrame:
    """``equities_master`` snapshots from Kaggle's ``stock_list.csv`` (see module doc)."""
    raw, _ = read_table(list_path)
    need = {"SecuritiesCode", "EffectiveDate", "Name", "33SectorCode", "17SectorCode"}
    missing = sorted(need - set(raw.columns))
    if missing:
        raise PriceImportError(f"{list_path}: missing columns {missing} (Kaggle stock_list.csv)")
    listed = raw.with_columns(
        _code(pl.col("SecuritiesCode")).alias("Code"),
        pl.col("EffectiveDate").str.strip_chars().str.to_date("%Y%m%d", strict=False).alias("_eff"),
    ).filter(pl.col("Code").is_not_null())
    segment = pl.col("NewMarketSegment") if "NewMarketSegment" in raw.columns else pl.lit(None)
    size = pl.col("NewIndexSeriesSize") if "NewIndexSeriesSize" in raw.columns else pl.lit(None)
    mkt = segment.cast(pl.String).replace_strict(MARKET_CODES, default=None)
    first = bars.group_by("Code").agg(pl.col("Date").min().alias("_first"))
    listed = listed.join(first, on="Code", how="inner")
    when = pl.col("_first") if asof == "first" else pl.col("_eff")
    schema = RawStore.schema("equities_master")
    columns = {
        "Date": when,
        "Code": pl.col("Code"),
        "CoName": pl.col("Name"),
        "S17": _sector17(pl.col("17SectorCode")),
        "S17Nm": pl.col("17SectorName") if "17SectorName" in raw.columns else pl.lit(None),
        "S33": _sector4(pl.col("33SectorCode")),
        "S33Nm": pl.col("33SectorName") if "33SectorName" in raw.columns else pl.lit(None),
        "ScaleCat": pl.when(size.cast(pl.String).str.strip_chars() != "-").then(size),
        "Mkt": mkt,
        "MktNm": mkt.replace_strict(MARKET_NAMES, default=None),
    }
    out = listed.select(expr.cast(schema[n]).alias(n) for n, expr in columns.items())
    rest = [pl.lit(None, t).alias(n) for n, t in schema.items() if n not in columns]
    out = out.with_columns(rest).select(list(schema)).filter(pl.col("Date").is_not_null())
    return out.unique(subset=["Date", "Code"], keep="last").sort("Date", "Code")


def master_from_columns(good: pl.DataFrame) -> pl.DataFrame:
    """One ``equities_master`` snapshot per row from generic ``S33``/``S17`` columns."""
    schema = RawStore.schema("equities_master")
    columns = {
        "Date": pl.col("_date"),
        "Code": pl.col("_code"),
        "S17": _sector17(pl.col("S17")),
        "S33": _sector4(pl.col("S33")),
    }
    out = good.select(expr.cast(schema[n]).alias(n) for n, expr in columns.items())
    rest = [pl.lit(None, t).alias(n) for n, t in schema.items() if n not in columns]
    return out.with_columns(rest).select(list(schema)).sort("Date", "Code")


def calendar_frame(calendar: TradingCalendar, start: date, end: date) -> pl.DataFrame:
    """``markets_calendar`` rows for every day start..end: HolDiv "1" on sessions, else "0"."""
    days = pl.date_range(start, end, eager=True).alias("Date")
    trading = pl.Series(calendar.days(start, end), dtype=pl.Date)
    return days.to_frame().with_columns(
        pl.when(pl.col("Date").is_in(trading.implode()))
        .then(pl.lit("1"))
        .otherwise(pl.lit("0"))
        .alias("HolDiv")
    )


# -- writing -----------------------------------------------------------------------------------
def _write_monthly(store: RawStore, dataset: str, frame: pl.DataFrame, source: str, fmt: str):
    months = frame.with_columns(pl.col("Date").dt.strftime("%Y-%m").alias("_m"))
    units = [
        UnitWrite(
            f"import:{source}:{m}",
            part.drop("_m"),
            {"month": str(m), "file": source, "format": fmt},
            part["Date"].min(),
            part["Date"].max(),
        )
        for (m,), part in months.group_by("_m", maintain_order=True)
    ]
    store.write_units(dataset, units, source=f"import:{source}")


def write_report_csv(report: ImportReport, path: Path) -> Path:
    """The excluded rows as CSV (file, line, reason), written atomically."""
    with atomic_path(path) as tmp:
        report.bad_rows.write_csv(tmp)
    return path


def import_prices(
    path: Path,
    store: RawStore,
    *,
    list_path: Path | None = None,
    fmt: str = "auto",
    list_asof: str = "first",
) -> ImportReport:
    """Validate, convert and store a price file (module doc); returns the report."""
    path = Path(path)
    if fmt not in FORMATS:
        raise PriceImportError(f"--format must be one of {FORMATS}, got {fmt!r}")
    if list_asof not in LIST_ASOF:
        raise PriceImportError(f"--list-asof must be one of {LIST_ASOF}, got {list_asof!r}")
    raw, _ = read_table(path)
    fmt = detect_format(raw.columns, path) if fmt == "auto" else fmt
    if fmt == "kaggle" and not set(raw.columns) >= KAGGLE_COLUMNS:
        raise PriceImportError(
            f"{path}: --format kaggle needs the columns {sorted(KAGGLE_COLUMNS)}; "
            f"found {raw.columns}"
        )
    frame = _standardise(raw, fmt)
    dates = frame["Date"].str.strip_chars().str.to_date("%Y-%m-%d", strict=False).drop_nulls()
    if dates.is_empty():
        raise PriceImportError(f"{path}: no row has a parseable Date (expected YYYY-MM-DD)")
    first, last = dates.min(), dates.max()
    calendar = TradingCalendar.from_xtks(first, last + timedelta(days=CALENDAR_LEAD_DAYS))
    good, bad = validate(frame, calendar)
    notes = []
    nxt, measured = factor_alignment(good)
    if measured:
        notes.append(
            f"{nxt} of {measured} AdjustmentFactor rows have their price jump on the next row "
            f"(Kaggle convention; J-Quants data has it on the same row)"
        )
        expected_next = fmt == "kaggle"
        if (nxt * 2 > measured) != expected_next:
            log.warning(
                "%s: the AdjustmentFactor rows do not follow the %s convention (%d of %d jumps "
                "on the next row); check --format",
                path.name,
                fmt,
                nxt,
                measured,
            )
    if fmt == "kaggle":
        good, dropped = _kaggle_factor_to_ex_date(good)
        if dropped.height:
            bad = pl.concat([bad, dropped]).sort("line")
            notes.append(f"{dropped.height} AdjustmentFactor(s) on a last row dropped")
    if good.is_empty():
        raise PriceImportError(f"{path}: no valid row ({bad.height} bad rows)")
    bars = to_bars(good)
    datasets = {"equities_bars_daily": bars}
    if list_path is not None:
        datasets["equities_master"] = master_from_list(Path(list_path), bars, list_asof)
        if list_asof == "first":
            notes.append(
                "stock list dated at each stock's first price date (sector label look-ahead)"
            )
    elif good["S33"].drop_nulls().len():
        datasets["equities_master"] = master_from_columns(good)
    cal_end = last + timedelta(days=CALENDAR_LEAD_DAYS)
    datasets["markets_calendar"] = calendar_frame(calendar, first, cal_end)
    for dataset, table in datasets.items():
        _write_monthly(store, dataset, table, path.name, fmt)
    bad_rows = bad.select(pl.lit(path.name).alias("file"), "line", "reason")
    for row in bad_rows.head(20).iter_rows(named=True):
        log.warning("%s line %d excluded: %s", row["file"], row["line"], row["reason"])
    return ImportReport(
        file=path.name,
        fmt=fmt,
        rows_read=raw.height,
        rows_written=bars.height,
        codes=bars["Code"].n_unique(),
        first_date=bars["Date"].min(),
        last_date=bars["Date"].max(),
        bad_rows=bad_rows,
        datasets={k: v.height for k, v in datasets.items()},
        notes=notes,
    )
