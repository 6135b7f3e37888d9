"""``equities_valuation`` of the synthetic market agrees with its own closes and statements."""

from __future__ import annotations

import polars as pl
import pytest

from gogooku.calendar import TradingCalendar


@pytest.fixture(scope="module")
def valuation(side_market) -> pl.DataFrame:
    bars = side_market.tables["equities_bars_daily"].select("Date", "Code", "C", "AdjFactor")
    return side_market.tables["equities_valuation"].join(bars, on=["Date", "Code"], how="left")


def test_multiples_are_the_close_over_the_per_share_figures(valuation):
    traded = valuation.filter(pl.col("C").is_not_null() & pl.col("EPS").is_not_null())
    assert traded.height > 1000
    assert (traded["PER"] * traded["EPS"] - traded["C"]).abs().max() < 1e-6 * traded["C"].max()
    assert (traded["PBR"] * traded["BPS"] - traded["C"]).abs().max() < 1e-6 * traded["C"].max()
    roe = traded.filter(pl.col("BPS") != 0)
    assert (roe["ROE"] - roe["EPS"] / roe["BPS"]).abs().max() < 1e-9


def test_a_statement_enters_from_the_next_trading_day(side_market, valuation):
    splitters = valuation.filter(pl.col("AdjFactor") != 1.0)["Code"].unique()
    days = side_market.tables["equities_bars_daily"]["Date"].unique().sort()
    cal = TradingCalendar.from_xtks(days.min(), days.max())
    statements = (
        side_market.tables["fins_summary"]
        .filter(
            ~pl.col("Code").is_in(splitters.implode()) & pl.col("DiscDate").is_in(days.implode())
        )
        .sort("DiscDate")
        .unique(subset=["Code", "DiscDate"], keep="last", maintain_order=True)
        .with_columns(pl.col("BPS").shift(1).over("Code").alias("prev_BPS"))
        .with_columns(cal.next_bd_expr(pl.col("DiscDate")).alias("next"))
        .filter(pl.col("next") <= days.max())
    )
    at = statements.join(
        valuation, left_on=["Code", "DiscDate"], right_on=["Code", "Date"], suffix="_v"
    )
    after = statements.join(
        valuation, left_on=["Code", "next"], right_on=["Code", "Date"], suffix="_v"
    )
    assert after.height == statements.height > 100
    assert (after["BPS_v"] - after["BPS"]).abs().max() < 1e-9
    # On the disclosure day itself the previous statement's BPS is still in force.
    assert at.height == statements.height
    assert at["BPS_v"].is_null().equals(at["prev_BPS"].is_null())
    assert (at["BPS_v"] - at["prev_BPS"]).abs().max() < 1e-9
