"""Daily valuation indicators (``equities_valuation``) derived from the market's own statements.

For stock ``i`` on trading day ``t`` with close ``C`` (the last close on a no-trade day, the
base price) and the latest ``fins_summary`` statement disclosed on a trading day strictly
before ``t`` (a disclosure enters from the next business day, whatever its time):

- ``EPS`` = the last fiscal-year (``FY``) statement's ``EPS``, ``FwdEPS`` = the latest
  statement's ``FEPS``, ``BPS`` = the latest statement's ``BPS`` — each restated to today's
  share count (``x m_disc / m_t``, ``m`` the split multiplier), as the API adjusts for splits;
- ``PER = C / EPS``, ``FwdPER = C / FwdEPS``, ``PBR = C / BPS`` (null where the divisor is
  null or zero), ``ROE = EPS / BPS``, ``FwdROE = FwdEPS / BPS``;
- ``MktCap = C x shares outstanding / 1e6`` (million JPY; the simulator has no treasury stock).

The trailing EPS is the last full year's rather than a rolling four-quarter sum: the simulator's
quarterly EPS is year-to-date, and the FY figure keeps PER coherent with the statements.
Rows exist for every listed stock on every trading day; indicators are null before the stock's
first statement.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gogooku.synth.side._common import conform, share_multiplier, shares_outstanding
from gogooku.synth.state import MarketState


def _daily_grid(state: MarketState) -> pl.DataFrame:
    t, i = np.nonzero(state.listed)
    close = pl.Series("C", state.close[t, i], nan_to_null=True)
    return (
        pl.DataFrame(
            {
                "Date": pl.Series(state.days, dtype=pl.Date).gather(t),
                "Code": state.universe["Code"].gather(i),
                "C": close,
                "mult": share_multiplier(state)[t, i],
                "shares": shares_outstanding(state)[t, i],
            }
        )
        .sort("Code", "Date")
        .with_columns(pl.col("C").forward_fill().over("Code"))
    )


def _statement_state(statements: pl.DataFrame, grid: pl.DataFrame) -> pl.DataFrame:
    """Per (Code, effective Date): per-original-share EPS (last FY), FwdEPS and BPS."""
    c = pl.col
    days = grid.select("Date").unique().sort("Date")
    effective = (
        statements.select("Code", "DiscDate", "CurPerType", "EPS", "FEPS", "BPS")
        .sort("DiscDate")
        .join_asof(
            days.with_columns(c("Date").alias("eff")),
            left_on="DiscDate",
            right_on="Date",
            strategy="forward",
            allow_exact_matches=False,
        )
        .drop("Date")
        .drop_nulls("eff")
        .join(grid.select("Code", c("Date").alias("eff"), "mult"), on=["Code", "eff"], how="inner")
        # The statement's per-share figures use the share count of its disclosure day; the
        # multiplier does not change between DiscDate and the next trading day.
        .with_columns(
            pl.when(c("CurPerType") == "FY").then(c("EPS") * c("mult")).alias("eps0"),
            (c("FEPS") * c("mult")).alias("feps0"),
            (c("BPS") * c("mult")).alias("bps0"),
        )
        .sort("Code", "eff", "DiscDate")
        .with_columns(c("eps0").forward_fill().over("Code"))
        .unique(subset=["Code", "eff"], keep="last", maintain_order=True)
    )
    return effective.select("Code", "eff", "eps0", "feps0", "bps0")


def render_valuation(state: MarketState, statements: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """``equities_valuation`` from the close prices and ``statements`` (``fins_summary``)."""
    c = pl.col
    grid = _daily_grid(state)
    known = _statement_state(statements, grid).sort("eff")
    frame = grid.sort("Date").join_asof(
        known,
        left_on="Date",
        right_on="eff",
        by="Code",
        strategy="backward",
        check_sortedness=False,
    )

    def per_share(col: str) -> pl.Expr:
        return c(col) / c("mult")

    def over(num: pl.Expr, den: pl.Expr) -> pl.Expr:
        return pl.when(den != 0).then(num / den)

    eps, feps, bps = per_share("eps0"), per_share("feps0"), per_share("bps0")
    out = frame.select(
        "Date",
        "Code",
        eps.alias("EPS"),
        feps.alias("FwdEPS"),
        bps.alias("BPS"),
        over(eps, bps).alias("ROE"),
        over(feps, bps).alias("FwdROE"),
        over(c("C"), eps).alias("PER"),
        over(c("C"), feps).alias("FwdPER"),
        over(c("C"), bps).alias("PBR"),
        (c("C") * c("shares") / 1e6).alias("MktCap"),
    ).sort("Date", "Code")
    return {"equities_valuation": conform(out, "equities_valuation")}
