"""Property tests: the vectorised point-in-time aggregations equal a row-by-row brute force."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gogooku.features import daily_margin, short_selling

from .conftest import SIDE_START, flat_base, raw, side_context

N_DAYS = 40
RATIOS = (0.003, 0.0049, 0.005, 0.0061, 0.012, 0.03)

report_st = st.tuples(
    st.sampled_from(("1111", "2222")),
    st.sampled_from(("X", "Y", "Z")),
    st.integers(0, N_DAYS - 8),  # calc day index
    st.integers(0, 6),  # disclosure lag in trading days
    st.sampled_from(RATIOS),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# One report per (code, reporter, calculation day, disclosure day): two reports with the same
# keys and different ratios have no defined order, in the real data or here.
@given(reports=st.lists(report_st, min_size=1, max_size=25, unique_by=lambda r: r[:4]))
def test_short_positions_equal_brute_force(calendar, reports):
    days = calendar.days(SIDE_START, calendar.offset(SIDE_START, N_DAYS - 1))
    rows = [
        {
            "Code": code,
            "SSName": who,
            "CalcDate": days[c],
            "DiscDate": days[min(c + lag, N_DAYS - 1)],
            "ShrtPosToSO": ratio,
        }
        for code, who, c, lag, ratio in reports
    ]
    base = flat_base(days, {"1111": {}, "2222": {}})
    tables = {"markets_short_sale_report": raw("markets_short_sale_report", rows)}
    out = short_selling.POSITION_BLOCK.compute(side_context(base, calendar, tables)).collect()
    for row in out.iter_rows(named=True):
        usable = [
            r
            for r in rows
            if r["Code"] == row["Code"] and calendar.next_bd(r["DiscDate"]) <= row["Date"]
        ]
        if not usable:
            assert row["ssp_ratio_sum"] is None
            continue
        latest = {}
        for r in usable:
            key = (r["CalcDate"], calendar.next_bd(r["DiscDate"]), r["DiscDate"])
            if r["SSName"] not in latest or key >= latest[r["SSName"]][0]:
                latest[r["SSName"]] = (key, r["ShrtPosToSO"])
        open_ = [ratio for _, ratio in latest.values() if ratio >= 0.005]
        assert row["ssp_ratio_sum"] == pytest.approx(sum(open_), abs=1e-7)
        assert row["ssp_reporters"] == len(open_)
        assert row["ssp_max_ratio"] == pytest.approx(max(open_, default=0.0))


alert_st = st.tuples(
    st.integers(0, N_DAYS - 10),  # application day index
    st.integers(1, 6),  # publication lag in trading days
    st.integers(1, 10_000),  # long balance
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(alerts=st.lists(alert_st, min_size=1, max_size=20, unique_by=lambda a: (a[0], a[1])))
def test_daily_margin_pick_equals_brute_force(calendar, alerts):
    """On each row: the newest usable application date; for it, the latest usable publication;
    a publication for an older application date that became usable after a newer one is dropped."""
    days = calendar.days(SIDE_START, calendar.offset(SIDE_START, N_DAYS - 1))
    rows = [
        {
            "Code": "1111",
            "AppDate": days[a],
            "PubDate": days[a + lag],
            "LongOut": float(long_),
            "ShrtOut": 0.0,
            "PubReason": {
                "Restricted": False,
                "DailyPublication": True,
                "Monitoring": False,
                "RestrictedByJSF": False,
                "PrecautionByJSF": False,
                "UnclearOrSecOnAlert": False,
            },
        }
        for a, lag, long_ in alerts
    ]
    base = flat_base(days, {"1111": {}}, volume=1.0)
    tables = {"markets_margin_alert": raw("markets_margin_alert", rows)}
    out = daily_margin.BLOCK.compute(side_context(base, calendar, tables)).collect()
    avail = [calendar.next_bd(r["PubDate"]) for r in rows]
    for row in out.iter_rows(named=True):
        if row["dmi_long_to_adv20"] is None:
            assert row["Date"] < days[19] or all(a > row["Date"] for a in avail)
            continue
        t = row["Date"]
        # publications that survive: no newer application date became usable on or before them
        kept = [
            (r, a)
            for r, a in zip(rows, avail, strict=True)
            if a <= t
            and not any(
                a2 <= a and r2["AppDate"] > r["AppDate"] for r2, a2 in zip(rows, avail, strict=True)
            )
        ]
        best = max(kept, key=lambda ra: (ra[1], ra[0]["AppDate"], ra[0]["PubDate"]))[0]
        assert row["dmi_long_to_adv20"] == best["LongOut"]
