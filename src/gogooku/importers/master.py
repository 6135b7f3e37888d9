"""``equities_master`` rows of a price import: from Kaggle's ``stock_list.csv`` or from the
sector columns (``S33``/``S17``) of a generic price file.

Kaggle's ``stock_list.csv`` is one snapshot (``EffectiveDate``, mostly 2021-12-30). With
``asof="first"`` it is dated at each stock's first price date, so sector features exist for the
whole history: the late-2021 classification is used for earlier dates (a documented look-ahead
of the sector label only). ``asof="effective"`` dates it at ``EffectiveDate`` (strictly point in
time: no sector before it). Sectors: ``33SectorCode`` zero-padded to 4 characters (50 -> 0050);
``NewMarketSegment`` Prime / Standard / Growth Market -> ``Mkt`` 0111 / 0112 / 0113;
``NewIndexSeriesSize`` -> ``ScaleCat`` ("-" -> null).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gogooku.importers.checks import jpx_code
from gogooku.importers.table import PriceImportError, read_table
from gogooku.store.raw import RawStore

LIST_ASOF = ("first", "effective")
LIST_COLUMNS = ("SecuritiesCode", "EffectiveDate", "Name", "33SectorCode", "17SectorCode")
MARKET_CODES = {"Prime Market": "0111", "Standard Market": "0112", "Growth Market": "0113"}
MARKET_NAMES = {"0111": "Prime", "0112": "Standard", "0113": "Growth"}


def _sector4(expr: pl.Expr) -> pl.Expr:
    text = expr.cast(pl.String).str.strip_chars().str.replace(r"\.0$", "")
    return pl.when(text.str.contains(r"^\d+$")).then(text.str.zfill(4)).otherwise(None)


def _sector17(expr: pl.Expr) -> pl.Expr:
    text = expr.cast(pl.String).str.strip_chars().str.replace(r"\.0$", "")
    return pl.when(text.str.contains(r"^\d+$")).then(text).otherwise(None)


def _typed_master(frame: pl.DataFrame, columns: dict[str, pl.Expr]) -> pl.DataFrame:
    schema = RawStore.schema("equities_master")
    out = frame.select(expr.cast(schema[n]).alias(n) for n, expr in columns.items())
    rest = [pl.lit(None, t).alias(n) for n, t in schema.items() if n not in columns]
    return out.with_columns(rest).select(list(schema))


def master_from_list(list_path: Path, bars: pl.DataFrame, asof: str) -> pl.DataFrame:
    """``equities_master`` snapshots from Kaggle's ``stock_list.csv`` (module doc)."""
    raw = read_table(list_path)
    missing = [c for c in LIST_COLUMNS if c not in raw.columns]
    if missing:
        raise PriceImportError(
            f"{list_path}: missing column(s) {', '.join(missing)} (Kaggle stock_list.csv)"
        )
    listed = raw.with_columns(
        jpx_code(pl.col("SecuritiesCode")).alias("Code"),
        pl.col("EffectiveDate").str.strip_chars().str.to_date("%Y%m%d", strict=False).alias("_eff"),
    ).filter(pl.col("Code").is_not_null())
    segment = pl.col("NewMarketSegment") if "NewMarketSegment" in raw.columns else pl.lit(None)
    size = pl.col("NewIndexSeriesSize") if "NewIndexSeriesSize" in raw.columns else pl.lit(None)
    mkt = segment.cast(pl.String).replace_strict(MARKET_CODES, default=None)
    first = bars.group_by("Code").agg(pl.col("Date").min().alias("_first"))
    listed = listed.join(first, on="Code", how="inner")
    optional = {
        n: pl.col(n) if n in raw.columns else pl.lit(None) for n in ("17SectorName", "33SectorName")
    }
    out = _typed_master(
        listed,
        {
            "Date": pl.col("_first") if asof == "first" else pl.col("_eff"),
            "Code": pl.col("Code"),
            "CoName": pl.col("Name"),
            "S17": _sector17(pl.col("17SectorCode")),
            "S17Nm": optional["17SectorName"],
            "S33": _sector4(pl.col("33SectorCode")),
            "S33Nm": optional["33SectorName"],
            "ScaleCat": pl.when(size.cast(pl.String).str.strip_chars() != "-").then(size),
            "Mkt": mkt,
            "MktNm": mkt.replace_strict(MARKET_NAMES, default=None),
        },
    ).filter(pl.col("Date").is_not_null())
    return out.unique(subset=["Date", "Code"], keep="last").sort("Date", "Code")


def master_from_columns(good: pl.DataFrame) -> pl.DataFrame:
    """One ``equities_master`` snapshot per row from generic ``S33``/``S17`` columns."""
    columns = {
        "Date": pl.col("_Date"),
        "Code": pl.col("_Code"),
        "S17": _sector17(pl.col("S17")),
        "S33": _sector4(pl.col("S33")),
    }
    return _typed_master(good, columns).sort("Date", "Code")
