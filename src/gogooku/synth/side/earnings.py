"""Earnings schedules: ``fins_earnings_date`` (with change history) and
``equities_earnings_calendar`` (the next-day schedule of March/September fiscal-year companies).

Each statement event of ``Latents.disclosures`` was announced ``lead`` trading days before its
disclosure (``PubDate``, ``SchDate`` = the disclosure date, possibly after the market's last day).
For 6 % of events the first announced date was ``shift`` trading days earlier (but after the
announcement); the change to the real date was published ``max((first - announcement) // 2, 1)``
trading days after the announcement (a second row with the later ``PubDate``). Rows published
after the last day are left out.
"""

from __future__ import annotations

import calendar

import polars as pl

from gogooku.synth.side._common import conform, day_series, ext_days
from gogooku.synth.state import MarketState

FQ_NAMES = {1: "1Q", 2: "2Q", 3: "3Q", 4: "FY"}
FQ_JA = {1: "第１四半期", 2: "第２四半期", 3: "第３四半期", 4: "通期"}


FYE_TEXT = {m: f"{m:02d}{calendar.monthrange(2021, m)[1]:02d}" for m in range(1, 13)}


def render_earnings_date(state: MarketState) -> pl.DataFrame:
    """Scheduled announcement dates keyed by their publication date."""
    ev = state.latents.disclosures
    n_days = len(state.days)
    ext = ext_days(state)
    names = state.universe.select("Code", "CoName", "CoNameEn").with_row_index("code_idx")
    base = ev.select(
        "code_idx",
        "fq",
        "fye_month",
        pl.col("announce_idx").alias("pub_idx"),
        pl.when(pl.col("moved"))
        .then(pl.col("moved_idx"))
        .otherwise(pl.col("day_idx"))
        .alias("sch_idx"),
    )
    changes = ev.filter(pl.col("moved")).select(
        "code_idx",
        "fq",
        "fye_month",
        (
            pl.col("announce_idx")
            + pl.max_horizontal((pl.col("moved_idx") - pl.col("announce_idx")) // 2, pl.lit(1))
        ).alias("pub_idx"),
        pl.col("day_idx").alias("sch_idx"),
    )
    rows = pl.concat([base, changes]).filter(pl.col("pub_idx") < n_days)
    frame = rows.with_columns(
        day_series(state.days, rows["pub_idx"].to_numpy(), "PubDate"),
        day_series(ext, rows["sch_idx"].to_numpy(), "SchDate"),
        pl.col("fq").replace_strict(FQ_NAMES, return_dtype=pl.String).alias("FQName"),
        pl.col("fye_month").replace_strict(FYE_TEXT, return_dtype=pl.String).alias("FYE"),
    ).join(names.cast({"code_idx": pl.Int64}), on="code_idx", how="left")
    return conform(
        frame.drop("code_idx", "fq", "fye_month", "pub_idx", "sch_idx").sort(
            "PubDate", "Code", "SchDate"
        ),
        "fins_earnings_date",
    )


def render_earnings_calendar(state: MarketState) -> pl.DataFrame:
    """One row per scheduled announcement (``Date``) of a March or September FY-end company."""
    ev = state.latents.disclosures.filter(
        pl.col("fye_month").is_in([3, 9]) & (pl.col("day_idx") < len(state.days))
    )
    uni = state.universe.select("Code", "CoName", "S33Nm", "MktNm").with_row_index("code_idx")
    frame = (
        ev.with_columns(day_series(state.days, ev["day_idx"].to_numpy(), "Date"))
        .join(uni.cast({"code_idx": pl.Int64}), on="code_idx", how="left")
        .select(
            "Date",
            "Code",
            "CoName",
            pl.when(pl.col("fye_month") == 3)
            .then(pl.lit("3月31日"))
            .otherwise(pl.lit("9月30日"))
            .alias("FY"),
            pl.col("S33Nm").alias("SectorNm"),
            pl.col("fq").replace_strict(FQ_JA, return_dtype=pl.String).alias("FQ"),
            pl.col("MktNm").alias("Section"),
        )
    )
    return conform(frame.sort("Date", "Code"), "equities_earnings_calendar")


def render_earnings(state: MarketState) -> dict[str, pl.DataFrame]:
    """``fins_earnings_date`` and ``equities_earnings_calendar`` for ``state``."""
    return {
        "fins_earnings_date": render_earnings_date(state),
        "equities_earnings_calendar": render_earnings_calendar(state),
    }
