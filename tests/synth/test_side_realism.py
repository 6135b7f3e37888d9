"""Realism of the rendered side datasets, checked against hand-computed relations."""

from __future__ import annotations

import itertools
from datetime import date

import numpy as np
import polars as pl

from gogooku.synth.latents import week_end_flags
from gogooku.synth.side.indices import sector_index_codes
from gogooku.synth.universe import HALT_DAY


def _day_index(side_market) -> dict[date, int]:
    return {d: i for i, d in enumerate(side_market.state.days)}


def test_margin_interest_switches_to_daily_records_on_2026_09_25(switch_market):
    """Weekly week-end records without PubDate/amounts before the switch; from application date
    2026-09-25 a record every trading day, published the next trading day, amounts = shares x
    the last close."""
    m = switch_market.tables["markets_margin_interest"]
    days = switch_market.state.days
    switch = days.index(date(2026, 9, 25))
    weekly = m.filter(pl.col("Date") < days[switch])
    week_end = dict(zip(days, week_end_flags(days, min_days=3), strict=True))
    assert weekly.height > 0 and all(week_end[d] for d in weekly["Date"].unique())
    assert weekly["PubDate"].null_count() == weekly.height
    assert weekly["LongVal"].null_count() == weekly.height
    assert weekly["Date"].max() == date(2026, 9, 18)
    daily = m.filter(pl.col("Date") >= days[switch])
    assert daily["Date"].unique().sort().to_list() == days[switch:]
    next_day = dict(itertools.pairwise(days))
    inner = daily.filter(pl.col("Date") < days[-1])
    assert inner["PubDate"].to_list() == [next_day[d] for d in inner["Date"]]
    assert daily.filter(pl.col("Date") == date(2026, 9, 25))["PubDate"].unique().to_list() == [
        date(2026, 9, 28)
    ]
    bars = switch_market.tables["equities_bars_daily"].select("Code", "Date", "C")
    priced = daily.join(bars, on=["Code", "Date"]).filter(pl.col("C").is_not_null())
    assert priced.height > 0
    assert np.allclose(priced["LongVal"], (priced["LongVol"] * priced["C"]).round(0))
    assert np.allclose(priced["ShrtStdVal"], (priced["ShrtStdVol"] * priced["C"]).round(0))


def test_margin_longs_usually_exceed_shorts(side_market):
    m = side_market.tables["markets_margin_interest"]
    share = (m["LongVol"] > m["ShrtVol"]).mean()
    assert 0.85 < share < 1.0
    assert (m["LongVol"] == m["LongNegVol"] + m["LongStdVol"]).all()
    assert (m["ShrtVol"] == m["ShrtNegVol"] + m["ShrtStdVol"]).all()
    margin_only = m.filter(pl.col("IssType") == "1")
    assert margin_only.height > 0 and (margin_only["ShrtStdVol"] == 0).all()


def test_weekly_margin_records_only_on_week_end_trading_days(side_market):
    days = side_market.state.days
    idx = _day_index(side_market)
    dates = side_market.tables["markets_margin_interest"]["Date"].unique().to_list()
    for d in dates:
        t = idx[d]
        next_day = days[t + 1] if t + 1 < len(days) else None
        assert next_day is None or next_day.isocalendar()[:2] != d.isocalendar()[:2], d
    # 2020-12-28 .. 2021-01-01 has 2 trading days: no record; the Friday before has one.
    assert date(2020, 12, 28) not in dates and date(2020, 12, 25) in dates
    flags = week_end_flags(days, min_days=3)
    assert sorted(dates) == [d for d, f in zip(days, flags, strict=True) if f]


def test_margin_alert_publication_and_revisions(side_market):
    a = side_market.tables["markets_margin_alert"]
    days = side_market.state.days
    idx = _day_index(side_market)
    originals = a.sort("PubDate").group_by("Code", "AppDate", maintain_order=True).first()
    for app, pub in originals.select("AppDate", "PubDate").head(50).iter_rows():
        assert pub == days[idx[app] + 1]
    revised = a.filter(pl.struct("Code", "AppDate").is_duplicated())
    assert revised.height > 0
    row = a.filter(pl.col("ShrtOut") > 0).row(0, named=True)
    assert row["SLRatio"] == round(row["ShrtOut"] / row["LongOut"] * 100, 1)
    reasons = a["PubReason"].struct.unnest()
    assert reasons["DailyPublication"].any() and reasons["PrecautionByJSF"].any()


def test_investor_types_accounting_and_flow(side_market):
    it = side_market.tables["equities_investor_types"]
    assert (it["FrgnBal"] == it["FrgnBuy"] - it["FrgnSell"]).all()
    assert (it["TotTot"] == it["PropTot"] + it["BrkTot"]).all()
    cats = ["Ind", "Frgn", "SecCo", "InvTr", "BusCo", "OthCo", "InsCo", "Bank", "TrstBnk", "OthFin"]
    assert (it["BrkBuy"] == it.select(pl.sum_horizontal(f"{c}Buy" for c in cats)).to_series()).all()
    # the market ends before the 2022-04-04 segment reform: only pre-reform sections
    old_sections = {"TSE1st", "TSE2nd", "TSEMothers", "TSEJASDAQ", "TokyoNagoya"}
    assert {"TSE1st", "TokyoNagoya"} <= set(it["Section"]) <= old_sections
    days = side_market.state.days
    idx = _day_index(side_market)
    tn = it.filter(pl.col("Section") == "TokyoNagoya")
    for en, pub in tn.select("EnDate", "PubDate").head(20).iter_rows():
        assert pub == days[idx[en] + 4]
    flow = side_market.state.latents.flow_z[[idx[d] for d in tn["EnDate"]]]
    observed = (tn["FrgnBal"] / tn["FrgnTot"]).to_numpy()
    assert np.corrcoef(flow, observed)[0, 1] > 0.8


def test_sector_short_ratios_are_plausible_and_absent_on_the_halt_day(side_market):
    sr = side_market.tables["markets_short_ratio"]
    short = sr["ShrtWithResVa"] + sr["ShrtNoResVa"]
    ratio = short / (sr["SellExShortVa"] + short)
    assert ratio.min() > 0.19 and ratio.max() < 0.61
    assert HALT_DAY not in set(sr["Date"])


def test_short_sale_reports(side_market):
    r = side_market.tables["markets_short_sale_report"]
    days = side_market.state.days
    idx = _day_index(side_market)
    below = r.filter(pl.col("ShrtPosToSO") < 0.005)
    assert below.height > 0 and below["Notes"].is_not_null().all()
    assert r.filter(pl.col("ShrtPosToSO") >= 0.005)["Notes"].is_null().all()
    for calc, disc in r.select("CalcDate", "DiscDate").head(50).iter_rows():
        assert disc == days[idx[calc] + 2]
    chained = r.drop_nulls("PrevRptDate")
    assert (chained["PrevRptDate"] < chained["CalcDate"]).all()
    assert (r["ShrtPosUnits"] * 100 == r["ShrtPosShares"]).all()


def test_option_iv_plausible_and_higher_in_high_vol_regime(side_market):
    o = side_market.tables["options_225"]
    assert o["IV"].min() >= 5 and o["IV"].max() <= 150
    regime = pl.DataFrame(
        {"Date": side_market.state.days, "high": side_market.state.high_vol_regime},
        schema={"Date": pl.Date, "high": pl.Boolean},
    )
    base = o.group_by("Date").agg(pl.col("BaseVol").min()).join(regime, on="Date")
    high = base.filter(pl.col("high"))["BaseVol"].mean()
    calm = base.filter(~pl.col("high"))["BaseVol"].mean()
    assert high > calm * 1.2
    assert set(o["PCDiv"]) == {"1", "2"}
    assert (o["SQD"] > o["LTD"]).all() and (o["LTD"] >= o["Date"]).all()


def test_option_theoretical_prices_satisfy_put_call_parity(side_market):
    o = side_market.tables["options_225"].filter(pl.col("Date") == pl.col("Date").min())
    pair = o.filter(pl.col("PCDiv") == "2").join(
        o.filter(pl.col("PCDiv") == "1"), on=["CM", "Strike"], suffix="_put"
    )
    tau = (pair["SQD"] - pair["Date"]).dt.total_days().clip(1, None) / 365.0
    rate = pair["IR"] / 100.0
    parity = pair["UnderPx"] - pair["Strike"] * np.exp(-rate * tau)
    # Theo rounds to 4 decimals; IVs differ per series (skew), so compare only equal-IV pairs
    same_iv = (pair["IV"] - pair["IV_put"]).abs() < 1.0
    diff = (pair["Theo"] - pair["Theo_put"] - parity).filter(same_iv)
    assert diff.len() > 0
    assert diff.abs().max() < 0.1 * pair["UnderPx"].max()


def test_statement_sales_are_monotone_within_a_fiscal_year(side_market):
    s = side_market.tables["fins_summary"]
    ordered = s.sort("Code", "CurFYSt", "CurPerEn")
    steps = ordered.with_columns(
        (pl.col("Sales") - pl.col("Sales").shift(1).over("Code", "CurFYSt")).alias("step")
    ).drop_nulls("step")
    assert steps.height > 0 and (steps["step"] > 0).all()
    assert s["DiscTime"].str.contains(r"^\d{2}:\d{2}:\d{2}$").all()
    assert set(s["CurPerType"]) == {"1Q", "2Q", "3Q", "FY"}
    assert s["DocType"].str.contains(r"^(FY|1Q|2Q|3Q)FinancialStatements_").all()
    ifrs = s.filter(pl.col("DocType").str.ends_with("_IFRS"))
    assert ifrs.height > 0 and ifrs["OdP"].is_null().all()
    fy = s.filter(pl.col("CurPerType") == "FY")
    assert fy["NxFSales"].is_not_null().all() and fy["FSales"].is_null().all()


def test_earnings_schedules_precede_disclosures(side_market):
    ed = side_market.tables["fins_earnings_date"]
    summary = side_market.tables["fins_summary"]
    latest = ed.sort("PubDate").group_by("Code", "FQName", "FYE").agg(pl.all().last())
    assert (ed["SchDate"] >= ed["PubDate"]).all()
    joined = summary.join(
        ed.sort("PubDate").group_by("Code", "SchDate").agg(pl.col("PubDate").first()),
        left_on=["Code", "DiscDate"],
        right_on=["Code", "SchDate"],
        how="left",
    )
    assert joined["PubDate"].is_not_null().all()
    assert (
        joined.filter(pl.col("DiscDate") > date(2020, 3, 1))["PubDate"]
        < joined.filter(pl.col("DiscDate") > date(2020, 3, 1))["DiscDate"]
    ).all()
    moved = ed.filter(pl.struct("Code", "FQName", "FYE").is_duplicated())
    assert moved.height > 0 and latest.height > 0
    cal = side_market.tables["equities_earnings_calendar"]
    assert set(cal["FY"]) <= {"3月31日", "9月30日"}


def test_dividend_notices_follow_the_ex_dates(side_market):
    dv = side_market.tables["fins_dividend"]
    state = side_market.state
    tt, ii = np.nonzero(state.dividend > 0)
    expected = pl.DataFrame(
        {
            "Code": state.universe["Code"].gather(ii),
            "ExDate": pl.Series([state.days[t] for t in tt], dtype=pl.Date),
            "DivRate": np.round(state.dividend[tt, ii], 2),
        }
    ).sort("Code", "ExDate")
    assert dv.select("Code", "ExDate", "DivRate").sort("Code", "ExDate").equals(expected)
    idx = _day_index(side_market)
    for ex, rec in dv.select("ExDate", "RecDate").head(30).iter_rows():
        assert rec == state.days[idx[ex] + 1] or idx[ex] + 1 == len(state.days)


def test_sector_indices_follow_cap_weighted_member_returns(side_market):
    ib = side_market.tables["indices_bars_daily"]
    codes = sector_index_codes()
    assert len(codes) == 33 and codes["0050"] == "0040" and codes["9050"] == "0060"
    state = side_market.state
    s33 = state.universe["S33"].to_numpy()
    sector = s33[0]
    bars = ib.filter(pl.col("Code") == codes[sector]).sort("Date")
    idx = _day_index(side_market)
    t = idx[bars["Date"][10]]
    members = s33 == sector
    so = state.universe["shares_outstanding"].to_numpy() * np.cumprod(1 / state.adj_factor, 0)
    weight = (state.close[t - 1] * so[t - 1])[members]
    ret = state.ret[t][members]
    ok = np.isfinite(ret) & np.isfinite(weight)
    expected = float((weight[ok] * ret[ok]).sum() / weight[ok].sum())
    assert abs(bars["C"][10] / bars["C"][9] - 1 - expected) < 1e-4
    halt = ib.filter(pl.col("Date") == HALT_DAY)
    assert halt.height > 0 and (halt["O"] == halt["C"]).all()
    topix = ib.filter(pl.col("Code") == "0000").drop("Code")
    assert topix.equals(side_market.tables["indices_topix"])


def test_breakdown_sides_sum_to_the_traded_value(side_market):
    bd = side_market.tables["markets_breakdown"]
    bars = side_market.tables["equities_bars_daily"].select("Date", "Code", "Va")
    sells = pl.sum_horizontal(
        f"{s}Va" for s in ("LongSell", "ShrtNoMrgn", "MrgnSellNew", "MrgnSellClose")
    )
    buys = pl.sum_horizontal(f"{s}Va" for s in ("LongBuy", "MrgnBuyNew", "MrgnBuyClose"))
    joined = bd.with_columns(sells.alias("sells"), buys.alias("buys")).join(
        bars, on=["Date", "Code"]
    )
    assert joined.height == bd.height
    assert ((joined["sells"] - joined["Va"]).abs() / joined["Va"]).max() < 1e-3
    assert ((joined["buys"] - joined["Va"]).abs() / joined["Va"]).max() < 1e-3
    assert HALT_DAY not in set(bd["Date"])


def test_futures_contracts_and_carry(side_market):
    fut = side_market.tables["futures"]
    central = fut.group_by("Date", "ProdCat").agg(pl.col("CCMFlag").sum())
    assert (central["CCMFlag"] == 1).all()
    assert set(fut["ProdCat"]) == {"TOPIXF", "NK225F"}
    topix = side_market.tables["indices_topix"].select("Date", pl.col("C").alias("spot"))
    front = fut.filter(pl.col("ProdCat") == "TOPIXF").join(topix, on="Date")
    # cost of carry at 0.1 % a year over <= 9 months is below 0.1 %, plus half a tick of rounding
    assert ((front["C"] - front["spot"]).abs() <= front["spot"] * 0.001 + 0.25).all()
    assert (fut["LTD"] >= fut["Date"]).all()
