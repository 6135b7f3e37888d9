"""The base price frame every feature block reads.

One row per (Code, trading day) while the stock is listed, sorted by (Code, Date):

``Code, Date, O, H, L, C, Vo, Va, AdjO, AdjH, AdjL, AdjC, AdjVo, AdjFactor, UL, LL, S33, S17,
Mkt, ScaleCat, no_trade, is_halt_20201001, topix_O, topix_H, topix_L, topix_C``

Universe (no survivorship): the (Code, Date) pairs of the daily bars on trading days, plus the
pairs of the master snapshot of each trading day (a listed stock without a bar row gets a
no-trade row). A stock without any master snapshot (prices imported alone) is listed from its
first to its last bar row: a trading day in between without a bar gets a no-trade row, so that
every shift over a stock's rows is a shift in sessions (a 5-day label spans 5 sessions). A delisted stock keeps its rows up to its last listed day. Dates after the last
date with any bar in the store are not included (a next-day master snapshot alone adds no row).
Master attributes (S33, S17, Mkt, ScaleCat) are joined as of each date (latest snapshot valid on
or before the row date, never a later one).

Point-in-time adjustment (replaces the vendor's back-adjusted ``Adj*`` fields, which J-Quants
re-bases after every later split and which therefore embed future information):

    F_t   = ∏_{u ≤ t} AdjFactor_u      over all of the stock's stored rows up to t (null → 1)
    AdjX_t = X_t / F_t                  for X ∈ {O, H, L, C}
    AdjVo_t = Vo_t · F_t

A 1:2 split has AdjFactor 0.5 on its ex-date, so F halves there and AdjC stays continuous. The
product starts at the stock's first stored row, so a row's adjusted values depend only on rows on
or before it. ``no_trade`` is true when O, H, L and C are all null (e.g. 2020-10-01, the TSE halt,
flagged by ``is_halt_20201001``; always false on a store holding another market than Tokyo,
``gogooku.market.load_market``). ``topix_*`` is the TOPIX bar of the same date (null when the
store has none).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from gogooku.calendar import HALT_DAY, TradingCalendar
from gogooku.dataset.asof import asof_join
from gogooku.errors import GogookuError
from gogooku.features.availability import with_available_from
from gogooku.market import Market, load_market

PRICE_COLS = ("O", "H", "L", "C")
BAR_COLS = ("O", "H", "L", "C", "Vo", "Va")
MASTER_COLS = ("S33", "S17", "Mkt", "ScaleCat")
TOPIX_COLS = ("topix_O", "topix_H", "topix_L", "topix_C")
BASE_COLUMNS = (
    "Code",
    "Date",
    *BAR_COLS,
    "AdjO",
    "AdjH",
    "AdjL",
    "AdjC",
    "AdjVo",
    "AdjFactor",
    "UL",
    "LL",
    *MASTER_COLS,
    "no_trade",
    "is_halt_20201001",
    *TOPIX_COLS,
)
BASE_SOURCES = ("equities_bars_daily", "equities_master", "indices_topix", "markets_calendar")


class BaseFrameError(GogookuError, ValueError):
    """The raw data cannot form a base frame (missing table or column)."""


def _require(frame: pl.LazyFrame, dataset: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.collect_schema().names()]
    if missing:
        raise BaseFrameError(f"raw dataset {dataset}: missing columns {missing}")


def _attach_master(frame: pl.DataFrame, master: pl.LazyFrame, calendar) -> pl.DataFrame:
    """Master attributes as of each row: the latest snapshot valid on or before the row's date.

    J-Quants master data is one snapshot per day, so most rows have a snapshot of their own date
    (an equi-join, cheap); only rows without one go through the as-of join.
    """
    same_day = (
        master.unique(subset=["Code", "Date"], keep="last", maintain_order=True)
        .select("Code", "Date", *MASTER_COLS, pl.lit(True).alias("_snap"))
        .collect()
    )
    # ``same_day`` is unique per (Code, Date): the left join of the keys gives the frame's rows in
    # order, so its columns are attached without the join copying every column of the frame.
    found = frame.select("Code", "Date").join(
        same_day, on=["Code", "Date"], how="left", maintain_order="left"
    )
    joined = frame.hstack(found.select(*MASTER_COLS, "_snap").get_columns())
    del found
    missing = joined["_snap"].is_null()
    if not missing.any():
        return joined.drop("_snap")
    rest = asof_join(
        joined.filter(missing).drop(*MASTER_COLS, "_snap"),
        with_available_from(master, "equities_master", calendar),
        source_name="equities_master",
        by="Code",
        columns=list(MASTER_COLS),
        order_by=("Date",),
    ).collect()
    return pl.concat([joined.filter(~missing).drop("_snap"), rest]).sort("Code", "Date")


def _holes_without_master(
    bars: pl.DataFrame, master: pl.LazyFrame, days: pl.Series
) -> pl.DataFrame:
    """``Code, Date`` of the trading days between a stock's first and last bar row that have no
    bar, for the stocks without any master snapshot (prices imported alone): such a stock is
    listed from its first to its last bar, so a missing day is a day without a trade."""
    with_master = master.select("Code").unique().collect()["Code"].implode()
    spans = (
        bars.filter(~pl.col("Code").is_in(with_master))
        .group_by("Code")
        .agg(first=pl.col("Date").min(), last=pl.col("Date").max())
    )
    if spans.height == 0:
        return pl.DataFrame(schema={"Code": pl.String, "Date": pl.Date})
    grid = (
        spans.lazy()
        .join(days.explode().alias("Date").to_frame().lazy(), how="cross")
        .filter(pl.col("Date").is_between(pl.col("first"), pl.col("last")))
        .select("Code", "Date")
    )
    return grid.join(bars.lazy().select("Code", "Date"), on=["Code", "Date"], how="anti").collect()


def sorted_by_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` sorted by (Code, Date); returned as is (no copy) when it already is."""
    code, day = pl.col("Code"), pl.col("Date")
    ordered = (code > code.shift(1)) | ((code == code.shift(1)) & (day > day.shift(1)))
    if frame.height < 2 or frame.select(ordered.slice(1).all()).item():
        return frame
    return frame.sort("Code", "Date")


def build_base(
    store, calendar: TradingCalendar, start: date, end: date, market: Market | None = None
) -> pl.DataFrame:
    """The base frame for trading days ``start..end`` (see the module docstring); ``market``
    defaults to the one recorded next to the store's files (Tokyo for a store without a folder,
    such as an in-memory test store)."""
    bars_all = store.scan("equities_bars_daily")
    _require(bars_all, "equities_bars_daily", ("Code", "Date", *BAR_COLS, "AdjFactor", "UL", "LL"))
    days = calendar.frame().filter(pl.col("Date").is_between(start, end))["Date"].implode()

    # Cumulative split factor over each stock's full stored history up to `end`.
    bars = (
        bars_all.select("Code", "Date", *BAR_COLS, "AdjFactor", "UL", "LL")
        .filter(pl.col("Date") <= end)
        .sort("Code", "Date")
        .with_columns(F=pl.col("AdjFactor").fill_null(1.0).cum_prod().over("Code"))
        .filter(pl.col("Date").is_in(days))
        .collect()
    )
    if bars.height == 0:
        raise BaseFrameError(f"raw dataset equities_bars_daily: no rows between {start} and {end}")
    dup = bars.filter(
        (pl.col("Code") == pl.col("Code").shift(1)) & (pl.col("Date") == pl.col("Date").shift(1))
    )
    if dup.height:
        raise BaseFrameError(
            f"raw dataset equities_bars_daily: {dup.height} duplicate (Code, Date) rows, first "
            f"{dup['Code'][0]} {dup['Date'][0]}"
        )
    last_bar_day = bars["Date"].max()

    master = store.scan("equities_master")
    _require(master, "equities_master", ("Code", "Date", *MASTER_COLS))
    master = master.select("Date", "Code", *MASTER_COLS).filter(pl.col("Date") <= last_bar_day)
    master_only = (
        master.select("Code", "Date")
        .filter(pl.col("Date").is_in(days))
        .unique()
        .join(bars.lazy().select("Code", "Date"), on=["Code", "Date"], how="anti")
        .collect()
    )
    holes = _holes_without_master(bars, master, days)
    added = [f for f in (master_only, holes) if f.height]
    frame = pl.concat([bars, *added], how="diagonal").sort("Code", "Date") if added else bars
    frame = _attach_master(frame, master, calendar)

    topix = store.scan("indices_topix")
    _require(topix, "indices_topix", ("Date", *PRICE_COLS))
    topix = (
        topix.select("Date", *[pl.col(c).alias(f"topix_{c}") for c in PRICE_COLS])
        .filter(pl.col("Date").is_between(start, end))
        .unique(subset="Date", keep="last")
        .collect()
    )
    # One TOPIX row per date: the keys' left join keeps the frame's rows (see _attach_master).
    on_date = frame.select("Date").join(topix, on="Date", how="left", maintain_order="left")
    frame = frame.hstack(on_date.drop("Date").get_columns())
    del on_date

    f = pl.col("F")
    if market is None:
        market = load_market(store.root) if hasattr(store, "root") else Market()
    frame = frame.with_columns(
        *[(pl.col(c) / f).alias(f"Adj{c}") for c in PRICE_COLS],
        AdjVo=pl.col("Vo") * f,
        no_trade=pl.all_horizontal(pl.col(c).is_null() for c in PRICE_COLS),
        is_halt_20201001=(pl.col("Date") == HALT_DAY) & pl.lit(market.jpx),
        UL=pl.col("UL").cast(pl.Boolean),
        LL=pl.col("LL").cast(pl.Boolean),
    )
    # Sorted already (the bars are, and the joins keep the left order): checking is cheaper than
    # a sort, which would copy the whole frame.
    return sorted_by_keys(frame.select(BASE_COLUMNS))
