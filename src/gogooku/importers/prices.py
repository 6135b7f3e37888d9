"""Bring-your-own prices: a daily price table into the raw store in the J-Quants V2 layout.

``import_prices(file, store, ...)`` reads CSV or Parquet (``importers.table``), checks every
value (``importers.checks``), converts the rows and writes ``equities_bars_daily`` (+
``equities_master`` from a stock list or sector columns, + ``markets_calendar`` of the market)
as one import (``importers.commit``: refused on keys stored by another source unless
``replace``). Any problem refuses the whole file (``ImportProblems``) unless ``drop_bad``, which
writes the valid rows and reports the rest.

Formats:

- ``kaggle``: the "JPX Tokyo Stock Exchange Prediction" ``stock_prices.csv`` (RowId, Date,
  SecuritiesCode, Open, High, Low, Close, Volume, AdjustmentFactor, ExpectedDividend,
  SupervisionFlag, Target) and optionally its ``stock_list.csv`` (``--list``).
- ``generic``: ``Date`` (``YYYY-MM-DD`` or ``YYYYMMDD``), ``Code`` (or ``Symbol``/``Ticker``) and ``Open/High/Low/Close/Volume`` (or ``O/H/L/C/Vo``), optional
  ``TurnoverValue``/``Va``, ``AdjustmentFactor``/``AdjFactor`` (J-Quants convention) and
  ``S33``/``S17`` sector codes.

Tokyo (``XTKS``, the default for JPX codes and the Kaggle layout): 4-character codes become
J-Quants' 5-character codes with a trailing 0 (1301 -> 13010). Another market keeps the codes as
given (trimmed). A missing trading value is estimated as ``Va = C · Vo``; limit flags are null.
``Adj*`` are J-Quants-style back-adjusted values (``AdjX_t = X_t · ∏_{u>t} AdjFactor_u``,
``AdjVo_t = Vo_t / ∏_{u>t} AdjFactor_u``); the builder adjusts point in time itself.

AdjustmentFactor: J-Quants puts a split's factor (0.5 for 1:2) on the ex-date. Kaggle puts it on
the stock's last row *before* the ex-date, so the Kaggle importer moves each factor to the
stock's next row; a factor on a stock's last row (ex-date after the file ends) is dropped (noted).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from gogooku.importers import checks
from gogooku.importers.checks import PRICE_COLUMNS, Check
from gogooku.importers.commit import ImportProblems, ImportRecord, commit_import
from gogooku.importers.market_calendar import (
    CALENDAR_LEAD_DAYS,
    calendar_rows,
    check_home_market,
    exchange_sessions,
    record_market,
)
from gogooku.importers.master import LIST_ASOF, master_from_columns, master_from_list
from gogooku.importers.registry import check_import_name
from gogooku.importers.table import (
    LINE,
    PriceImportError,
    pick_columns,
    read_table,
    require_columns,
)
from gogooku.market import DATA_CALENDAR, TOKYO, Market, check_market_name, detect_jpx
from gogooku.store.raw import RawStore

log = logging.getLogger(__name__)

FORMATS = ("auto", "kaggle", "generic")
KAGGLE_ALIASES = {
    "Date": ("Date",),
    "Code": ("SecuritiesCode",),
    "O": ("Open",),
    "H": ("High",),
    "L": ("Low",),
    "C": ("Close",),
    "Vo": ("Volume",),
    "AdjFactor": ("AdjustmentFactor",),
}
GENERIC_ALIASES = {
    "Date": ("Date",),
    "Code": ("Code", "Symbol", "Ticker"),
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
GENERIC_REQUIRED = ("Date", "Code", *PRICE_COLUMNS)
NUMBERS = (*PRICE_COLUMNS, "Vo", "Va", "AdjFactor")
ALL_TARGETS = tuple(GENERIC_ALIASES)


@dataclass
class ImportReport:
    """What an import did: rows read/written, the problems of dropped rows, datasets written."""

    name: str
    file: str
    fmt: str
    market: str
    rows_read: int
    rows_written: int
    codes: int
    first_date: dt.date | None
    last_date: dt.date | None
    problems: pl.DataFrame
    record: ImportRecord
    datasets: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def detect_format(columns: list[str], path: Path) -> str:
    """``kaggle`` when the Kaggle columns are all there, else ``generic`` (its columns checked)."""
    if all(a[0] in columns for a in KAGGLE_ALIASES.values()):
        return "kaggle"
    require_columns(path, columns, {t: GENERIC_ALIASES[t] for t in GENERIC_REQUIRED})
    return "generic"


def _standardise(raw: pl.DataFrame, fmt: str, path: Path) -> tuple[pl.DataFrame, dict[str, str]]:
    """Columns renamed to the targets of ``GENERIC_ALIASES`` (absent ones null) plus ``_line``."""
    if fmt == "kaggle":
        require_columns(path, raw.columns, KAGGLE_ALIASES)
        frame, names = pick_columns(raw, KAGGLE_ALIASES)
        absent = [pl.lit(None, pl.String).alias(t) for t in ALL_TARGETS if t not in frame.columns]
        return frame.with_columns(absent).select(*ALL_TARGETS, LINE), names
    require_columns(path, raw.columns, {t: GENERIC_ALIASES[t] for t in GENERIC_REQUIRED})
    return pick_columns(raw, GENERIC_ALIASES)


def choose_market(market: str | None, fmt: str, codes: pl.Series) -> Market:
    """``--market`` checked, else XTKS for the Kaggle layout or JPX-looking codes, else ``data``."""
    if market:
        return check_market_name(market)
    jpx = fmt == "kaggle" or detect_jpx(codes.drop_nulls().unique().to_list())
    return Market(TOKYO if jpx else DATA_CALENDAR)


def _checks(market: Market, sessions: list[dt.date] | None, today: dt.date) -> list[Check]:
    code = pl.col("_Code")
    if market.jpx:
        code_check = Check("Code", code.is_null(), "code is not 4 or 5 characters")
    else:
        code_check = Check("Code", code.is_null() | (code == ""), "missing code")
    found = [
        *checks.date_checks(today),
        code_check,
        *checks.number_checks(NUMBERS),
        *checks.price_checks(),
        *checks.volume_checks(),
    ]
    if sessions is not None:
        day = pl.col("_Date")
        plausible = day.is_between(checks.OLDEST_DATE, today)
        off = plausible & ~day.is_in(pl.Series(sessions, dtype=pl.Date).implode())
        found.append(Check("Date", off, f"not a {market.name} trading day"))
    return found


def _sessions(market: Market, frame: pl.DataFrame, today: dt.date) -> list[dt.date] | None:
    """The exchange's sessions over the file's plausible dates (None for ``data``)."""
    dates = frame["_Date"].filter(frame["_Date"].is_between(checks.OLDEST_DATE, today))
    if market.calendar_from_data or dates.is_empty():
        return None if market.calendar_from_data else []
    end = dates.max() + dt.timedelta(days=CALENDAR_LEAD_DAYS)
    return exchange_sessions(market, dates.min(), end)


def validate(
    frame: pl.DataFrame, market: Market, file: str, names: dict[str, str], today: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame, list[dt.date] | None]:
    """(typed rows without problems, problem report, the exchange's sessions)."""
    code = checks.jpx_code(pl.col("Code")) if market.jpx else pl.col("Code").str.strip_chars()
    typed = checks.parse(frame, NUMBERS).with_columns(code.alias("_Code"))
    sessions = _sessions(market, typed, today)
    problems = pl.concat(
        [
            checks.find_problems(typed, _checks(market, sessions, today), file, names),
            checks.duplicates(typed, ["_Code", "_Date"], file, names),
        ]
    ).sort("row", maintain_order=True)
    good = typed.filter(~pl.col(LINE).is_in(problems["row"].implode()))
    return good, problems, sessions


def _kaggle_factor_to_ex_date(good: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Move each Kaggle factor to the stock's next row; (frame, last-row factors dropped)."""
    good = good.sort("_Code", "_Date")
    factor = pl.col("_AdjFactor").fill_null(1.0)
    moved = good.with_columns(factor.shift(1).over("_Code").fill_null(1.0).alias("_AdjFactor"))
    last_row = pl.col("_Date") == pl.col("_Date").max().over("_Code")
    return moved, good.filter(last_row & (factor != 1.0)).height


def factor_alignment(good: pl.DataFrame) -> tuple[int, int]:
    """(factors whose price jump is on the next row, factors with a measurable jump).

    For a row with factor f ≠ 1 and closes C_prev, C, C_next of the stock's neighbouring rows,
    the jump is on the next row when |ln(C_next / C) − ln f| < |ln(C / C_prev) − ln f|: the
    Kaggle convention (factor on the day before the ex-date). J-Quants data gives the opposite.
    """
    c = pl.col("_C")
    f = pl.col("_AdjFactor")
    frame = good.sort("_Code", "_Date").with_columns(
        (c.shift(-1).over("_Code") / c).log().alias("_next"),
        (c / c.shift(1).over("_Code")).log().alias("_same"),
    )
    jumps = frame.filter((f != 1.0) & pl.col("_next").is_not_null() & pl.col("_same").is_not_null())
    lf = f.log()
    nxt = jumps.filter((pl.col("_next") - lf).abs() < (pl.col("_same") - lf).abs()).height
    return nxt, jumps.height


def to_bars(good: pl.DataFrame) -> pl.DataFrame:
    """Typed ``equities_bars_daily`` rows (declared schema) from validated rows."""
    f = pl.col("_AdjFactor").fill_null(1.0)
    # ∏_{u>t} AdjFactor_u over the stock's later rows: reverse cumulative product, exclusive.
    later = (f.reverse().cum_prod().reverse() / f).over("_Code")
    frame = good.sort("_Code", "_Date").with_columns(later.alias("_later"))
    price = {x: pl.col(f"_{x}") for x in PRICE_COLUMNS}
    vo = pl.col("_Vo")
    va = pl.coalesce(pl.col("_Va"), price["C"] * vo)
    no_trade = pl.all_horizontal(*(p.is_null() for p in price.values()))
    columns = {
        "Date": pl.col("_Date"),
        "Code": pl.col("_Code"),
        **price,
        "UL": pl.lit(None, pl.Boolean),
        "LL": pl.lit(None, pl.Boolean),
        "Vo": pl.when(no_trade).then(None).otherwise(vo),
        "Va": pl.when(no_trade).then(None).otherwise(va),
        "AdjFactor": f,
        **{f"Adj{x}": price[x] * pl.col("_later") for x in PRICE_COLUMNS},
        "AdjVo": pl.when(no_trade).then(None).otherwise(vo / pl.col("_later")),
    }
    schema = RawStore.schema("equities_bars_daily")
    bars = frame.select(expr.cast(schema[name]).alias(name) for name, expr in columns.items())
    rest = [pl.lit(None, dtype).alias(n) for n, dtype in schema.items() if n not in columns]
    return bars.with_columns(rest).select(list(schema)).sort("Date", "Code")


def _factor_notes(good: pl.DataFrame, fmt: str, path: Path) -> list[str]:
    nxt, measured = factor_alignment(good)
    if not measured:
        return []
    if (nxt * 2 > measured) != (fmt == "kaggle"):
        log.warning(
            "%s: the AdjustmentFactor rows do not follow the %s convention (%d of %d jumps on "
            "the next row); check --format",
            path.name,
            fmt,
            nxt,
            measured,
        )
    return [
        f"{nxt} of {measured} AdjustmentFactor rows have their price jump on the next row "
        "(Kaggle convention; J-Quants data has it on the same row)"
    ]


def import_prices(
    path: Path,
    store: RawStore,
    *,
    list_path: Path | None = None,
    fmt: str = "auto",
    list_asof: str = "first",
    market: str | None = None,
    name: str | None = None,
    replace: bool = False,
    drop_bad: bool = False,
    today: dt.date | None = None,
) -> ImportReport:
    """Check, convert and store a price file as the import ``name`` (default: the file name).

    Raises ``ImportProblems`` (nothing written) when a row has a problem and not ``drop_bad``.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise PriceImportError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if list_asof not in LIST_ASOF:
        raise PriceImportError(
            f"--list-asof must be one of {', '.join(LIST_ASOF)}, got {list_asof!r}"
        )
    name = check_import_name(name or path.name)
    today = today or dt.date.today()
    raw = read_table(path)
    fmt = detect_format(raw.columns, path) if fmt == "auto" else fmt
    frame, names = _standardise(raw, fmt, path)
    chosen = choose_market(market, fmt, frame["Code"])
    check_home_market(store, chosen, name)
    good, problems, sessions = validate(frame, chosen, path.name, names, today)
    if problems.height and not drop_bad:
        raise ImportProblems(problems, " (--drop-bad writes the valid rows and reports these)")
    if good.is_empty():
        raise PriceImportError(f"{path}: no valid row ({problems['row'].n_unique()} bad rows)")
    notes = _factor_notes(good, fmt, path)
    if fmt == "kaggle":
        good, dropped = _kaggle_factor_to_ex_date(good)
        if dropped:
            notes.append(f"{dropped} AdjustmentFactor(s) on a stock's last row dropped")
    bars = to_bars(good)
    datasets = {"equities_bars_daily": bars}
    files = [path.name]
    if list_path is not None:
        datasets["equities_master"] = master_from_list(Path(list_path), bars, list_asof)
        files.append(Path(list_path).name)
        if list_asof == "first":
            notes.append(
                "stock list dated at each stock's first price date (sector label look-ahead)"
            )
    elif good["S33"].drop_nulls().len():
        datasets["equities_master"] = master_from_columns(good)
    datasets["markets_calendar"] = calendar_rows(chosen, bars["Date"], sessions or [])
    meta = {"files": files, "market": chosen.name, "problems": problems.height}
    record = commit_import(store, name, datasets, replace=replace, fmt=fmt, meta=meta)
    record_market(store, chosen)
    return ImportReport(
        name=name,
        file=path.name,
        fmt=fmt,
        market=chosen.name,
        rows_read=raw.height,
        rows_written=bars.height,
        codes=bars["Code"].n_unique(),
        first_date=bars["Date"].min(),
        last_date=bars["Date"].max(),
        problems=problems,
        record=record,
        datasets={k: v.height for k, v in datasets.items()},
        notes=notes,
    )
