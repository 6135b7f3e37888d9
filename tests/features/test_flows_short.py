"""Investor flows and short selling blocks: hand-computed values, availability, key boundaries."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from gogooku.features import flows, short_selling

from .conftest import at, flat_base, raw, side_context


def _section(section, pub, start, frgn, ind, trst, invtr, tot):
    """A section-week: each group given as (Bal, Tot)."""
    row = {"Section": section, "PubDate": pub, "StDate": start, "EnDate": start + timedelta(4)}
    for prefix, (bal, total) in (("Frgn", frgn), ("Ind", ind), ("TrstBnk", trst), ("InvTr", invtr)):
        row[f"{prefix}Bal"], row[f"{prefix}Tot"] = bal, total
    row["TotTot"] = tot
    return row


@pytest.fixture
def flows_out(calendar, days):
    week = date(2024, 1, 1)
    rows = [
        _section("TSEPrime", date(2024, 1, 11), week, (10, 100), (-5, 50), (2, 20), (1, 10), 400),
        _section("TSEStandard", date(2024, 1, 11), week, (-3, 30), (6, 60), (0, 5), (-1, 4), 120),
        _section("TokyoNagoya", date(2024, 1, 11), week, (30, 200), (0, 100), (0, 10), (0, 8), 900),
        # a republication of the Prime week: the first publication stays the record
        _section("TSEPrime", date(2024, 1, 12), week, (90, 100), (0, 50), (0, 20), (0, 10), 400),
    ]
    base = flat_base(
        days, {"1111": {"Mkt": "0111"}, "2222": {"Mkt": "0112"}, "3333": {"Mkt": "0105"}}
    )
    tables = {"equities_investor_types": raw("equities_investor_types", rows)}
    return flows.BLOCK.compute(side_context(base, calendar, tables)).collect()


def test_flows_by_section_of_the_stock(flows_out):
    assert at(flows_out, "1111", date(2024, 1, 11))["flow_foreign_net_ratio"] is None
    prime = at(flows_out, "1111", date(2024, 1, 12))
    assert prime["flow_foreign_net_ratio"] == pytest.approx(0.1)
    assert prime["flow_individual_net_ratio"] == pytest.approx(-0.1)
    assert prime["flow_trust_bank_net_ratio"] == pytest.approx(0.1)
    assert prime["flow_investment_trust_net_ratio"] == pytest.approx(0.1)
    assert prime["flow_foreign_share"] == pytest.approx(0.25)
    assert prime["flow_individual_share"] == pytest.approx(0.125)
    assert prime["flow_days_since"] == 0
    assert prime["flow_mkt_foreign_net_ratio"] == pytest.approx(0.15)
    assert at(flows_out, "1111", date(2024, 1, 16))["flow_foreign_net_ratio"] == pytest.approx(0.1)
    assert at(flows_out, "1111", date(2024, 1, 16))["flow_days_since"] == 2
    standard = at(flows_out, "2222", date(2024, 1, 12))
    assert standard["flow_foreign_net_ratio"] == pytest.approx(-0.1)
    assert standard["flow_individual_net_ratio"] == pytest.approx(0.1)
    pro = at(flows_out, "3333", date(2024, 1, 12))
    assert pro["flow_foreign_net_ratio"] is None  # TOKYO PRO MARKET has no section
    assert pro["flow_mkt_foreign_net_ratio"] == pytest.approx(0.15)


def test_section_follows_the_market_segment_as_of_the_date(calendar):
    from gogooku.calendar import TradingCalendar

    cal = TradingCalendar.from_xtks(date(2022, 3, 1), date(2022, 5, 31))
    days = cal.days(date(2022, 3, 1), date(2022, 5, 31))
    base = flat_base(days, {"1111": {}}).with_columns(
        Mkt=pl.when(pl.col("Date") < date(2022, 4, 4))
        .then(pl.lit("0101"))
        .otherwise(pl.lit("0111"))
    )
    rows = [
        _section(
            "TSE1st", date(2022, 3, 10), date(2022, 2, 28), (1, 10), (0, 1), (0, 1), (0, 1), 50
        ),
        _section(
            "TSEPrime", date(2022, 4, 14), date(2022, 4, 4), (2, 10), (0, 1), (0, 1), (0, 1), 50
        ),
    ]
    out = flows.BLOCK.compute(
        side_context(base, cal, {"equities_investor_types": raw("equities_investor_types", rows)})
    ).collect()
    assert at(out, "1111", date(2022, 4, 1))["flow_foreign_net_ratio"] == pytest.approx(0.1)
    assert at(out, "1111", date(2022, 4, 4))["flow_foreign_net_ratio"] is None  # no Prime yet
    assert at(out, "1111", date(2022, 4, 15))["flow_foreign_net_ratio"] == pytest.approx(0.2)


def test_smart_money_index_is_z52_of_the_combination(calendar):
    from gogooku.calendar import TradingCalendar

    cal = TradingCalendar.from_xtks(date(2022, 1, 1), date(2023, 6, 30))
    rng = np.random.default_rng(3)
    weeks = [date(2022, 1, 3) + timedelta(weeks=k) for k in range(60)]
    f, i, t = (rng.uniform(-50, 50, len(weeks)) for _ in range(3))
    rows = [
        _section("TSEPrime", w + timedelta(10), w, (f[k], 100), (i[k], 100), (t[k], 100), (0, 1), 9)
        for k, w in enumerate(weeks)
    ]
    base = flat_base(cal.days(date(2022, 1, 3), date(2023, 6, 30)), {"1111": {"Mkt": "0111"}})
    out = flows.BLOCK.compute(
        side_context(base, cal, {"equities_investor_types": raw("equities_investor_types", rows)})
    ).collect()
    smart = (f + t - i) / 100
    for k in (55, 59):
        row = at(out, "1111", cal.next_bd(weeks[k] + timedelta(10)))
        window = smart[k - 51 : k + 1]
        idx = (smart[k] - window.mean()) / window.std(ddof=1)
        assert row["flow_smart_idx"] == pytest.approx(idx, rel=1e-4)
        prev = [
            (smart[j] - smart[j - 51 : j + 1].mean()) / smart[j - 51 : j + 1].std(ddof=1)
            for j in range(k - 3, k + 1)
        ]
        assert row["flow_smart_mom4"] == pytest.approx(idx - np.mean(prev), rel=1e-4, abs=1e-6)
        frgn = f / 100
        z = (frgn[k] - frgn[k - 51 : k + 1].mean()) / frgn[k - 51 : k + 1].std(ddof=1)
        assert row["flow_foreign_net_z52"] == pytest.approx(z, rel=1e-4)


@pytest.fixture
def short_out(calendar, days):
    d = date(2024, 1, 10)
    ratio = raw(
        "markets_short_ratio",
        [
            {
                "Date": d,
                "S33": "0050",
                "SellExShortVa": 60.0,
                "ShrtWithResVa": 12.0,
                "ShrtNoResVa": 28.0,
            },
            {
                "Date": d,
                "S33": "1050",
                "SellExShortVa": 80.0,
                "ShrtWithResVa": 5.0,
                "ShrtNoResVa": 15.0,
            },
        ],
    )
    base = flat_base(days, {"1111": {"S33": "0050"}, "2222": {"S33": "1050"}, "3333": {}})
    block = short_selling.RATIO_BLOCK
    return block.compute(side_context(base, calendar, {"markets_short_ratio": ratio})).collect()


def test_sector_and_market_short_shares(short_out):
    assert at(short_out, "1111", date(2024, 1, 10))["sector_short_share"] is None
    a = at(short_out, "1111", date(2024, 1, 11))
    assert a["sector_short_share"] == pytest.approx(0.4)
    assert a["sector_short_restrict_share"] == pytest.approx(0.3)
    assert a["ss_mkt_short_share"] == pytest.approx(60 / 200)
    assert a["ss_mkt_restrict_share"] == pytest.approx(17 / 60)
    assert a["ss_rel_short_share"] == pytest.approx(0.1)
    b = at(short_out, "2222", date(2024, 1, 11))
    assert b["sector_short_share"] == pytest.approx(0.2)
    assert b["ss_rel_short_share"] == pytest.approx(-0.1)
    none = at(short_out, "3333", date(2024, 1, 11))
    assert none["sector_short_share"] is None  # no sector code: no sector value
    assert none["ss_mkt_short_share"] == pytest.approx(0.3)


def test_sector_short_change_and_z_over_the_sector_records(calendar, days):
    rng = np.random.default_rng(5)
    shares = rng.uniform(0.3, 0.5, len(days))
    rows = [
        {
            "Date": d,
            "S33": "0050",
            "SellExShortVa": 1 - s,
            "ShrtWithResVa": s / 2,
            "ShrtNoResVa": s / 2,
        }
        for d, s in zip(days, shares, strict=True)
    ]
    base = flat_base(days, {"1111": {"S33": "0050"}})
    out = short_selling.RATIO_BLOCK.compute(
        side_context(base, calendar, {"markets_short_ratio": raw("markets_short_ratio", rows)})
    ).collect()
    k = 80  # row k + 1 sees the record of day k
    row = out.row(k + 1, named=True)
    assert row["sector_short_share_chg_5d"] == pytest.approx(shares[k] - shares[k - 5], rel=1e-4)
    window = shares[k - 59 : k + 1]
    z = (shares[k] - window.mean()) / window.std(ddof=1)
    assert row["sector_short_share_z60"] == pytest.approx(z, rel=1e-4)
    assert row["ss_mkt_short_share_z60"] == pytest.approx(z, rel=1e-4)  # one sector = market
    assert out.row(59, named=True)["sector_short_share_z60"] is None


def _report(code, seller, calc, disc, ratio):
    return {
        "Code": code,
        "SSName": seller,
        "CalcDate": calc,
        "DiscDate": disc,
        "ShrtPosToSO": ratio,
    }


@pytest.fixture
def positions_out(calendar, days):
    d = date
    reports = raw(
        "markets_short_sale_report",
        [
            _report("1111", "X", d(2024, 1, 9), d(2024, 1, 11), 0.006),
            _report("1111", "Y", d(2024, 1, 10), d(2024, 1, 12), 0.010),
            _report("1111", "X", d(2024, 1, 15), d(2024, 1, 17), 0.004),  # X falls below 0.5 %
            _report("1111", "Y", d(2024, 1, 5), d(2024, 1, 16), 0.020),  # late, older CalcDate
            _report("2222", "X", d(2024, 1, 9), d(2024, 1, 11), 0.007),
        ],
    )
    base = flat_base(days, {"1111": {}, "2222": {}, "3333": {}})
    block = short_selling.POSITION_BLOCK
    return block.compute(
        side_context(base, calendar, {"markets_short_sale_report": reports})
    ).collect()


def test_short_positions_latest_per_reporter(positions_out):
    assert at(positions_out, "1111", date(2024, 1, 11))["ssp_ratio_sum"] is None
    one = at(positions_out, "1111", date(2024, 1, 12))
    assert (one["ssp_ratio_sum"], one["ssp_reporters"]) == (pytest.approx(0.006), 1)
    assert one["ssp_concentration"] == pytest.approx(1.0)
    two = at(positions_out, "1111", date(2024, 1, 15))
    assert two["ssp_ratio_sum"] == pytest.approx(0.016)
    assert two["ssp_reporters"] == 2
    assert two["ssp_max_ratio"] == pytest.approx(0.010)
    assert two["ssp_concentration"] == pytest.approx(0.625)
    assert at(positions_out, "1111", date(2024, 1, 16))["ssp_days_since"] == 1
    late = at(positions_out, "1111", date(2024, 1, 17))  # Y's late 01-05 report changes nothing
    assert late["ssp_ratio_sum"] == pytest.approx(0.016)
    assert late["ssp_days_since"] == 0
    closed = at(positions_out, "1111", date(2024, 1, 18))
    assert closed["ssp_ratio_sum"] == pytest.approx(0.010)
    assert closed["ssp_reporters"] == 1


def test_short_positions_boundaries(positions_out):
    assert at(positions_out, "2222", date(2024, 1, 12))["ssp_ratio_sum"] == pytest.approx(0.007)
    assert at(positions_out, "2222", date(2024, 1, 18))["ssp_ratio_sum"] == pytest.approx(0.007)
    assert positions_out.filter(pl.col("Code") == "3333")["ssp_ratio_sum"].null_count() == (
        positions_out.filter(pl.col("Code") == "3333").height
    )
    rows = positions_out.filter(pl.col("Code") == "1111")
    chg = rows["ssp_ratio_sum_chg_20d"]
    i = rows["Date"].to_list().index(date(2024, 2, 16))  # 20 rows after 01-18
    assert rows["Date"][i - 20] == date(2024, 1, 18)
    assert chg[i] == pytest.approx(0.0)
    j = rows["Date"].to_list().index(date(2024, 2, 13))  # 20 rows after 01-15
    assert chg[j] == pytest.approx(0.010 - 0.016)
