"""Weekly and daily margin blocks: hand-computed values, publication schedule, no cross-code bleed."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gogooku.calendar import TradingCalendar
from gogooku.features import daily_margin, margin
from gogooku.features.availability import usable_by

from .conftest import at, flat_base, raw, side_context


def _weekly(code, day, long_, short, **extra):
    return {"Code": code, "Date": day, "LongVol": long_, "ShrtVol": short, **extra}


@pytest.fixture
def weekly_out(calendar, days):
    records = raw(
        "markets_margin_interest",
        [
            _weekly(
                "1111",
                date(2024, 1, 5),
                1000.0,
                200.0,
                LongStdVol=800.0,
                LongNegVol=200.0,
                ShrtStdVol=50.0,
                ShrtNegVol=150.0,
                IssType="2",
            ),
            _weekly("1111", date(2024, 1, 12), 1200.0, 300.0, IssType="2"),
            _weekly("2222", date(2024, 1, 12), 500.0, 500.0, IssType="1"),
        ],
    )
    base = flat_base(days, {"1111": {}, "2222": {}})
    ctx = side_context(base, calendar, {"markets_margin_interest": records})
    return margin.BLOCK.compute(ctx).collect()


def test_weekly_record_is_usable_the_day_after_publication(weekly_out):
    # Friday 2024-01-05: Monday 01-08 is a holiday, so published Wednesday 01-10, usable Thursday.
    assert at(weekly_out, "1111", date(2024, 1, 10))["margin_credit_ratio"] is None
    first = at(weekly_out, "1111", date(2024, 1, 11))
    assert first["margin_credit_ratio"] == pytest.approx(5.0)
    assert first["margin_days_since"] == 0
    # Friday 2024-01-12: published Tuesday 01-16, usable Wednesday 01-17.
    assert at(weekly_out, "1111", date(2024, 1, 16))["margin_credit_ratio"] == pytest.approx(5.0)
    assert at(weekly_out, "1111", date(2024, 1, 16))["margin_days_since"] == 3
    assert at(weekly_out, "1111", date(2024, 1, 17))["margin_credit_ratio"] == pytest.approx(4.0)


def test_weekly_values_by_hand(weekly_out):
    first = at(weekly_out, "1111", date(2024, 1, 11))
    assert first["margin_imbalance"] == pytest.approx(800 / 1200)
    assert first["margin_long_to_adv20"] == pytest.approx(10.0)  # 1000 shares / 100 a day
    assert first["margin_short_to_adv20"] == pytest.approx(2.0)
    assert first["margin_net_to_adv20"] == pytest.approx(8.0)
    assert first["margin_gross_to_adv20"] == pytest.approx(12.0)
    assert first["margin_std_share_long"] == pytest.approx(0.8)
    assert first["margin_neg_share_long"] == pytest.approx(0.2)
    assert first["margin_std_share_short"] == pytest.approx(0.25)
    assert first["margin_neg_share_short"] == pytest.approx(0.75)
    assert first["margin_long_pct_wow"] is None
    assert first["margin_loan_issue"] is True
    second = at(weekly_out, "1111", date(2024, 1, 17))
    assert second["margin_long_pct_wow"] == pytest.approx(0.2)
    assert second["margin_short_pct_wow"] == pytest.approx(0.5)
    assert second["margin_d_long_wow_to_adv20"] == pytest.approx(2.0)
    assert second["margin_d_short_wow_to_adv20"] == pytest.approx(1.0)
    assert second["margin_d_net_wow_to_adv20"] == pytest.approx(1.0)
    assert second["margin_d_imbalance_wow"] == pytest.approx(900 / 1500 - 800 / 1200, abs=1e-6)


def test_weekly_no_cross_code_bleed(weekly_out):
    assert at(weekly_out, "2222", date(2024, 1, 11))["margin_credit_ratio"] is None
    other = at(weekly_out, "2222", date(2024, 1, 17))
    assert other["margin_credit_ratio"] == pytest.approx(1.0)
    assert other["margin_long_pct_wow"] is None  # 2222's first record: no previous week
    assert other["margin_loan_issue"] is False


def test_adv_scaling_needs_20_traded_rows(calendar, days):
    records = raw("markets_margin_interest", [_weekly("1111", date(2023, 11, 2), 10.0, 5.0)])
    base = flat_base(days, {"1111": {}})
    out = margin.BLOCK.compute(side_context(base, calendar, {"markets_margin_interest": records}))
    out = out.collect()
    assert out["margin_long_to_adv20"][18] is None
    assert out["margin_long_to_adv20"][19] == pytest.approx(0.1)


def test_z52_and_mom4_over_the_stock_records(calendar):
    fridays = [date(2022, 1, 7) + timedelta(weeks=k) for k in range(60)]
    rng = np.random.default_rng(4)
    longs = rng.uniform(1000, 2000, len(fridays))
    records = raw(
        "markets_margin_interest",
        [_weekly("1111", d, float(v), 100.0) for d, v in zip(fridays, longs, strict=True)],
    )
    from gogooku.calendar import TradingCalendar

    cal = TradingCalendar.from_xtks(date(2022, 1, 1), date(2023, 6, 30))
    base = flat_base(cal.days(date(2022, 1, 3), date(2023, 6, 30)), {"1111": {}})
    out = margin.BLOCK.compute(
        side_context(base, cal, {"markets_margin_interest": records})
    ).collect()
    # The row on which record k (k >= 51) is first usable carries z over records k-51..k.
    for k in (50, 51, 59):
        usable = cal.next_bd(cal.next_bd(cal.on_or_after(fridays[k] + timedelta(days=3))))
        row = at(out, "1111", usable)
        if k < 51:
            assert row["margin_long_z52"] is None
            continue
        window = longs[k - 51 : k + 1]
        want = (longs[k] - window.mean()) / window.std(ddof=1)
        assert row["margin_long_z52"] == pytest.approx(want, rel=1e-5)
        gross = longs[k - 3 : k + 1] + 100.0
        assert row["margin_gross_mom4"] == pytest.approx(gross[-1] / gross.mean() - 1, rel=1e-4)


def _alert(code, app, pub, long_, short, **extra):
    reasons = {
        "Restricted": False,
        "DailyPublication": True,
        "Monitoring": False,
        "RestrictedByJSF": False,
        "PrecautionByJSF": extra.pop("jsf", False),
        "UnclearOrSecOnAlert": False,
    }
    return {
        "Code": code,
        "AppDate": app,
        "PubDate": pub,
        "PubReason": reasons,
        "LongOut": long_,
        "ShrtOut": short,
        "TSEMrgnRegCls": "002",
        **extra,
    }


@pytest.fixture
def daily_out(calendar, days):
    d = date
    records = raw(
        "markets_margin_alert",
        [
            _alert(
                "1111",
                d(2024, 1, 9),
                d(2024, 1, 10),
                1000.0,
                100.0,
                LongOutChg=100.0,
                ShrtOutChg=-50.0,
                LongOutRatio=1.5,
                ShrtOutRatio=0.2,
                SLRatio=10.0,
            ),
            # revision of 01-09 published with the next application date's record
            _alert("1111", d(2024, 1, 9), d(2024, 1, 11), 1100.0, 100.0),
            _alert(
                "1111",
                d(2024, 1, 10),
                d(2024, 1, 11),
                1200.0,
                300.0,
                LongOutChg=200.0,
                ShrtOutChg=0.0,
                jsf=True,
            ),
            # a late revision of 01-09 after 01-10 was usable: superseded, never shown
            _alert("1111", d(2024, 1, 9), d(2024, 1, 15), 9999.0, 1.0),
            _alert("2222", d(2024, 1, 11), d(2024, 1, 12), 400.0, 400.0),
        ],
    )
    base = flat_base(days, {"1111": {}, "2222": {}})
    return daily_margin.BLOCK.compute(
        side_context(base, calendar, {"markets_margin_alert": records})
    ).collect()


def test_daily_margin_availability_and_values(daily_out):
    assert at(daily_out, "1111", date(2024, 1, 10))["dmi_long_ratio"] is None
    row = at(daily_out, "1111", date(2024, 1, 11))
    assert row["dmi_long_ratio"] == pytest.approx(1.5)
    assert row["dmi_short_ratio"] == pytest.approx(0.2)
    assert row["dmi_sl_ratio"] == pytest.approx(10.0)
    assert row["dmi_imbalance"] == pytest.approx(900 / 1100)
    assert row["dmi_long_chg_pct"] == pytest.approx(100 / 900)
    assert row["dmi_short_chg_pct"] == pytest.approx(-50 / 150)
    assert row["dmi_long_to_adv20"] == pytest.approx(10.0)
    assert row["dmi_d_net_to_adv20"] == pytest.approx(1.5)
    assert row["dmi_reason_daily_publication"] is True
    assert row["dmi_reason_precaution_by_jsf"] is False
    assert row["dmi_reason_count"] == 1
    assert row["dmi_tse_reg_class"] == 2
    assert row["dmi_days_since_pub"] == 0
    assert row["dmi_days_since_app"] == 2


def test_daily_margin_newest_application_date_wins_and_late_revisions_are_ignored(daily_out):
    # On 01-12 the revision of 01-09 and the record of 01-10 both become usable: 01-10 wins.
    for day in (date(2024, 1, 12), date(2024, 1, 16), date(2024, 1, 31)):
        row = at(daily_out, "1111", day)
        assert row["dmi_long_to_adv20"] == pytest.approx(12.0), day
        assert row["dmi_reason_precaution_by_jsf"] is True
        assert row["dmi_reason_count"] == 2
    assert at(daily_out, "1111", date(2024, 1, 16))["dmi_days_since_pub"] == 2


def test_daily_margin_no_cross_code_bleed(daily_out):
    assert at(daily_out, "2222", date(2024, 1, 12))["dmi_imbalance"] is None
    assert at(daily_out, "2222", date(2024, 1, 15))["dmi_imbalance"] == pytest.approx(0.0)


def test_daily_margin_z60_over_the_daily_filled_series(calendar, days):
    rng = np.random.default_rng(7)
    apps = days[:-1]
    ratios = rng.uniform(1.0, 3.0, len(apps))
    records = raw(
        "markets_margin_alert",
        [
            _alert("1111", a, p, 10.0, 5.0, LongOutRatio=float(r))
            for a, p, r in zip(apps, days[1:], ratios, strict=True)
        ],
    )
    base = flat_base(days, {"1111": {}})
    out = daily_margin.BLOCK.compute(
        side_context(base, calendar, {"markets_margin_alert": records})
    ).collect()
    series = out["dmi_long_ratio"].to_numpy()
    z = out["dmi_long_ratio_z60"]
    first = int(np.argmax(~np.isnan(series.astype(float))))
    assert z[first + 58] is None
    i = first + 70
    window = series[i - 59 : i + 1].astype(float)
    assert z[i] == pytest.approx((series[i] - window.mean()) / window.std(ddof=1), rel=1e-4)
    assert out.filter(pl.col("dmi_long_ratio").is_not_null()).height > 80


@pytest.fixture(scope="module")
def switch_out(switch_market):
    """The margin block on the synthetic market across the 2026-09-28 daily switch."""
    calendar = TradingCalendar.from_xtks(date(2026, 5, 1), date(2027, 1, 29))
    table = switch_market.tables["markets_margin_interest"]
    codes = table["Code"].unique().sort().to_list()
    base = flat_base(calendar.days(date(2026, 6, 1), date(2026, 12, 30)), {c: {} for c in codes})
    ctx = side_context(base, calendar, {"markets_margin_interest": table})
    return margin.BLOCK.compute(ctx).collect(), table


def test_margin_features_continuous_across_the_daily_switch(switch_out):
    """Levels follow the latest usable record (weekly, then daily: usable the day after PubDate);
    week-over-week statistics stay weekly (Friday to Friday) across 2026-09-28."""
    out, table = switch_out
    code = table["Code"][0]
    own = table.filter(pl.col("Code") == code)
    rec = dict(zip(own["Date"], own.iter_rows(named=True), strict=True))

    def ratio(day):
        return rec[day]["LongVol"] / rec[day]["ShrtVol"]

    def long_wow(day, prev):
        return rec[day]["LongVol"] / rec[prev]["LongVol"] - 1.0

    # 09-18 (weekly, Fri; Mon-Wed holidays) is usable Mon 09-28; daily 09-25 from Tue 09-29.
    expected = {
        date(2026, 9, 25): (ratio(date(2026, 9, 11)), long_wow(date(2026, 9, 11), date(2026, 9, 4))),
        date(2026, 9, 28): (ratio(date(2026, 9, 18)), long_wow(date(2026, 9, 18), date(2026, 9, 11))),
        date(2026, 9, 29): (ratio(date(2026, 9, 25)), long_wow(date(2026, 9, 25), date(2026, 9, 18))),
        date(2026, 10, 1): (ratio(date(2026, 9, 29)), long_wow(date(2026, 9, 25), date(2026, 9, 18))),
        date(2026, 10, 5): (ratio(date(2026, 10, 1)), long_wow(date(2026, 9, 25), date(2026, 9, 18))),
        date(2026, 10, 6): (ratio(date(2026, 10, 2)), long_wow(date(2026, 10, 2), date(2026, 9, 25))),
    }  # fmt: skip
    for day, (credit, wow) in expected.items():
        row = at(out, code, day)
        assert row["margin_credit_ratio"] == pytest.approx(credit), day
        assert row["margin_long_pct_wow"] == pytest.approx(wow), day
    assert at(out, code, date(2026, 10, 1))["margin_days_since"] == 0
    window = out.filter(pl.col("Date").is_between(date(2026, 9, 1), date(2026, 12, 30)))
    for name in ("margin_credit_ratio", "margin_long_pct_wow", "margin_gross_mom4"):
        assert window[name].null_count() == 0, name
    assert window["margin_days_since"].max() <= 4


def test_margin_rows_up_to_a_cut_ignore_records_published_later(switch_market, switch_out):
    """Point in time across the switch: the block on the store as it stood at 19:00 on D (records
    not yet usable cut) equals the full build on every row dated <= D."""
    full, table = switch_out
    calendar = TradingCalendar.from_xtks(date(2026, 5, 1), date(2027, 1, 29))
    codes = table["Code"].unique().sort().to_list()
    base = flat_base(calendar.days(date(2026, 6, 1), date(2026, 12, 30)), {c: {} for c in codes})
    for day in calendar.days(date(2026, 9, 24), date(2026, 10, 7)):
        cut = usable_by(table, "markets_margin_interest", calendar, day).collect()
        ctx = side_context(base, calendar, {"markets_margin_interest": cut})
        early = margin.BLOCK.compute(ctx).collect().filter(pl.col("Date") <= day)
        assert_frame_equal(early, full.filter(pl.col("Date") <= day))
