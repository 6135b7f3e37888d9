"""Index options block: a hand-made option chain, constant-maturity IV, skew, ratios, VRP, shock."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from gogooku.features import ops, options

from .conftest import at, flat_base, raw, side_context

TRADE = date(2024, 1, 10)
UNDER = 30000.0
STRIKES = (28500.0, 29750.0, 30000.0, 30250.0, 31500.0)


def _contract(day, sqd, strike, pc, iv, oi=100.0, vo=10.0, under=UNDER):
    return {
        "Date": day,
        "Code": f"{sqd:%y%m}{pc}{int(strike)}",
        "SQD": sqd,
        "LTD": sqd - timedelta(1),
        "Strike": strike,
        "PCDiv": pc,
        "IV": iv,
        "UnderPx": under,
        "OI": oi,
        "Vo": vo,
    }


def _chain(day, expiries, under=UNDER):
    """Contracts of ``expiries`` = {SQD: (atm_put, atm_call, otm_put, otm_call)}."""
    rows = []
    for sqd, (atm_p, atm_c, otm_p, otm_c) in expiries.items():
        for k in STRIKES:
            put = atm_p if k == 30000.0 else (otm_p if k == 28500.0 else 30.0)
            call = atm_c if k == 30000.0 else (otm_c if k == 31500.0 else 15.0)
            rows.append(_contract(day, sqd, k, "1", put, oi=300.0, vo=40.0, under=under))
            rows.append(_contract(day, sqd, k, "2", call, oi=100.0, vo=20.0, under=under))
    return rows


EXPIRIES = {
    date(2024, 1, 12): (99.0, 99.0, 99.0, 99.0),  # 2 days: excluded from the surface
    date(2024, 1, 26): (20.0, 22.0, 27.0, 19.0),  # 16 days
    date(2024, 2, 23): (24.0, 24.0, 30.0, 20.0),  # 44 days
    date(2024, 3, 22): (26.0, 26.0, 31.0, 21.0),  # 72 days
}


@pytest.fixture
def options_out(calendar, days):
    bars = raw("options_225", _chain(TRADE, EXPIRIES))
    topix = list(2000.0 * np.exp(np.cumsum(np.where(np.arange(len(days)) % 2, 0.01, -0.005))))
    base = flat_base(days, {"1111": {}, "2222": {}}, topix=topix)
    return options.BLOCK.compute(
        side_context(base, calendar, {"options_225": bars})
    ).collect(), base


def test_option_surface_by_hand(options_out):
    out, _ = options_out
    assert at(out, "1111", TRADE)["opt_iv_atm_near"] is None
    row = at(out, "1111", date(2024, 1, 11))  # usable the trading day after the trade date
    assert row["opt_iv_atm_near"] == pytest.approx(21.0)
    w16, w44, w72 = 21.0**2 * 16, 24.0**2 * 44, 26.0**2 * 72
    iv30 = math.sqrt((w16 + (w44 - w16) * 14 / 28) / 30)
    iv60 = math.sqrt((w44 + (w72 - w44) * 16 / 28) / 60)
    assert row["opt_iv_30d"] == pytest.approx(iv30, rel=1e-6)
    assert row["opt_iv_60d"] == pytest.approx(iv60, rel=1e-6)
    assert row["opt_term_slope_30_60"] == pytest.approx(iv60 - iv30, rel=1e-5)
    assert row["opt_skew_5pct"] == pytest.approx(27.0 - 19.0)
    assert row["opt_pc_oi_ratio"] == pytest.approx(3.0)
    assert row["opt_pc_vol_ratio"] == pytest.approx(2.0)
    assert row["opt_oi_log"] == pytest.approx(math.log(4 * 5 * 400.0), rel=1e-6)
    assert row["opt_near_days_to_sq"] == 15
    assert at(out, "2222", date(2024, 1, 11))["opt_iv_30d"] == pytest.approx(iv30, rel=1e-6)
    later = at(out, "1111", date(2024, 1, 16))
    assert later["opt_iv_30d"] == pytest.approx(iv30, rel=1e-6)
    assert later["opt_near_days_to_sq"] == 10


def test_variance_risk_premium_uses_topix_up_to_the_row(options_out):
    out, base = options_out
    topix = base.filter(pl.col("Code") == "1111")
    i = topix["Date"].to_list().index(date(2024, 1, 11))
    closes = topix["topix_C"].to_numpy()[i - 20 : i + 1]
    rv = np.std(np.diff(np.log(closes)), ddof=1) * ops.SQRT_ANNUALISATION
    w16, w44 = 21.0**2 * 16, 24.0**2 * 44
    iv30 = math.sqrt((w16 + (w44 - w16) * 14 / 28) / 30)
    row = at(out, "1111", date(2024, 1, 11))
    assert row["opt_vrp"] == pytest.approx((iv30 / 100) ** 2 - rv**2, rel=1e-4)


def test_flat_extrapolation_before_the_nearest_usable_expiry(calendar, days):
    bars = raw("options_225", _chain(TRADE, {date(2024, 2, 23): (24.0, 24.0, 30.0, 20.0)}))
    base = flat_base(days, {"1111": {}})
    out = options.BLOCK.compute(side_context(base, calendar, {"options_225": bars})).collect()
    row = at(out, "1111", date(2024, 1, 11))
    assert row["opt_iv_30d"] == pytest.approx(24.0)
    assert row["opt_iv_60d"] is None  # nothing beyond 60 days
    assert row["opt_iv_atm_near"] == pytest.approx(24.0)


def test_iv_shock_is_z_of_daily_change_over_60_trade_dates(calendar, days):
    rng = np.random.default_rng(9)
    trade_days = days[:90]
    atm = 20.0 + np.cumsum(rng.normal(0, 0.5, len(trade_days)))
    rows = []
    for d, level in zip(trade_days, atm, strict=True):
        # one expiry exactly 30 days out: IV_30 is its ATM IV
        rows += _chain(d, {d + timedelta(30): (level, level, level + 5, level - 5)})
    bars = raw("options_225", rows)
    base = flat_base(days, {"1111": {}})
    out = options.BLOCK.compute(side_context(base, calendar, {"options_225": bars})).collect()
    d_iv = np.diff(atm)  # d_iv[j] is the change on trade day j + 1
    k = 75
    window = d_iv[k - 60 : k]
    want = (d_iv[k - 1] - window.mean()) / window.std(ddof=1)
    row = at(out, "1111", calendar.next_bd(trade_days[k]))
    assert row["opt_iv_30d"] == pytest.approx(atm[k], rel=1e-5)
    assert row["opt_iv_shock"] == pytest.approx(want, rel=1e-3)
    assert at(out, "1111", calendar.next_bd(trade_days[59]))["opt_iv_shock"] is None
    assert at(out, "1111", calendar.next_bd(trade_days[60]))["opt_iv_shock"] is not None
