"""Dividend notices (``fins_dividend``) for the cash dividends in ``state.dividend``.

Every ex-date ``x`` with a dividend ``D`` per share gives a record date ``x + 1`` trading day
(T+2 settlement), an ``IFCode`` 2 (year-end) when the record month is the fiscal year-end month
else 1 (interim), and the board's decision (``FRCode`` 1, ``DivRate = D``) published 30 trading
days after ``x`` (as with results decided at the earnings release after the record date).
Forecast notices (``FRCode`` 2) are not rendered: they would precede ex-dates after the market's
end, which the state does not know; dividend forecasts appear in ``fins_summary`` (``FDiv*``).
``PayDate`` is 70 calendar days after the record date for year-end and 60 for interim dividends.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gogooku.synth.side._common import conform, day_series, ext_days
from gogooku.synth.state import MarketState

RESULT_LAG = 30


def render_dividends(state: MarketState) -> dict[str, pl.DataFrame]:
    """``fins_dividend`` for ``state``."""
    tt, ii = np.nonzero(state.dividend > 0)
    ext = ext_days(state)
    fye = state.latents.fiscal_year_end_month[ii]
    base = pl.DataFrame(
        {
            "Code": state.universe["Code"].gather(ii),
            "ExDate": day_series(state.days, tt, "ExDate"),
            "RecDate": day_series(ext, tt + 1, "RecDate"),
            "rate": state.dividend[tt, ii],
            "fye": fye,
            "t": tt,
        }
    ).with_columns(
        pl.when(pl.col("RecDate").dt.month() == pl.col("fye"))
        .then(pl.lit("2"))
        .otherwise(pl.lit("1"))
        .alias("IFCode"),
        pl.col("RecDate").dt.strftime("%Y-%m").alias("IFTerm"),
    )
    base = base.with_columns(
        pl.col("RecDate")
        .dt.offset_by(pl.when(pl.col("IFCode") == "2").then(pl.lit("70d")).otherwise(pl.lit("60d")))
        .alias("PayDate")
    )
    notices = base.with_columns(
        day_series(ext, base["t"].to_numpy() + RESULT_LAG, "PubDate"),
        pl.lit("1").alias("FRCode"),
    ).with_columns(
        (
            pl.col("PubDate").dt.strftime("%Y%m%d")
            + pl.col("Code")
            + pl.col("IFCode")
            + pl.col("FRCode")
        ).alias("RefNo")
    )
    frame = notices.select(
        "PubDate",
        pl.lit("15:00").alias("PubTime"),
        "Code",
        "RefNo",
        pl.lit("1").alias("StatCode"),
        pl.col("PubDate").alias("BoardDate"),
        "IFCode",
        "FRCode",
        "IFTerm",
        pl.col("rate").round(2).alias("DivRate"),
        "RecDate",
        "ExDate",
        pl.col("RecDate").alias("ActRecDate"),
        "PayDate",
        pl.col("RefNo").alias("CARefNo"),
        pl.lit("0").alias("CommSpecCode"),
    )
    return {"fins_dividend": conform(frame.sort("PubDate", "Code", "RefNo"), "fins_dividend")}
