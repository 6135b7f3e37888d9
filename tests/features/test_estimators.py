"""Estimator formulas checked against hand-computed values and straightforward reference code."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest

from gogooku.calendar import TradingCalendar
from gogooku.features import liquidity, market, ops, returns, technicals, volatility

SQRT245 = math.sqrt(245.0)


@pytest.fixture(scope="module")
def calendar() -> TradingCalendar:
    return TradingCalendar.from_xtks(date(2022, 1, 1), date(2023, 12, 31))


@pytest.fixture(scope="module")
def one_stock(calendar, make_base) -> pl.DataFrame:
    days = calendar.days(date(2022, 1, 4), date(2022, 12, 30))
    return make_base(["72030"], days, seed=5)


def run(module, base, calendar, make_context) -> pl.DataFrame:
    return module.BLOCK.compute(make_context(base, calendar)).collect()


def arrays(base: pl.DataFrame) -> dict[str, np.ndarray]:
    cols = ["AdjO", "AdjH", "AdjL", "AdjC", "AdjVo", "Va", "topix_C"]
    return {c: base[c].to_numpy() for c in cols}


def constant_candles(calendar, rebuild_base, n: int, a: float) -> pl.DataFrame:
    """Every day O = C = 100 and H, L = 100·e^{±a}: ln(H/L) = 2a, o = c = 0."""
    days = calendar.days(date(2022, 1, 4), date(2022, 12, 30))[:n]
    frame = pl.DataFrame(
        {
            "Code": ["13010"] * n,
            "Date": days,
            "O": [100.0] * n,
            "H": [100.0 * math.exp(a)] * n,
            "L": [100.0 * math.exp(-a)] * n,
            "C": [100.0] * n,
            "Vo": [1000.0] * n,
            "Va": [1e5] * n,
            "UL": [False] * n,
            "LL": [False] * n,
            "S33": ["3650"] * n,
            "S17": ["9"] * n,
            "Mkt": ["0111"] * n,
            "ScaleCat": ["TOPIX Small 1"] * n,
            "topix_C": [2000.0] * n,
            "topix_O": [2000.0] * n,
            "topix_H": [2000.0] * n,
            "topix_L": [2000.0] * n,
        }
    )
    return rebuild_base(frame)


def test_range_estimators_on_constant_candles_match_hand_values(
    calendar, rebuild_base, make_context
):
    a = 0.01
    base = constant_candles(calendar, rebuild_base, 30, a)
    out = run(volatility, base, calendar, make_context).row(-1, named=True)
    # Parkinson: sqrt((2a)^2 / (4 ln 2)) * sqrt(245) = 0.02 / 1.665109 * 15.652476
    assert out["pk_vol_20d"] == pytest.approx(0.02 / math.sqrt(4 * math.log(2)) * SQRT245, 1e-5)
    assert out["pk_vol_20d"] == pytest.approx(0.188006, 1e-4)
    # Rogers–Satchell: ln(H/C)ln(H/O) + ln(L/C)ln(L/O) = a·a + (−a)(−a) = 2a²
    assert out["rs_vol_20d"] == pytest.approx(math.sqrt(2 * a * a) * SQRT245, 1e-5)
    # Yang–Zhang: var(o) = var(c) = 0, so σ² = (1 − k)·2a², k(10) = 0.34 / (1.34 + 11/9)
    k10 = 0.34 / (1.34 + 11 / 9)
    assert k10 == pytest.approx(0.132697, 1e-5)
    assert out["yz_vol_10d"] == pytest.approx(math.sqrt((1 - k10) * 2 * a * a) * SQRT245, 1e-5)
    assert out["yz_vol_10d"] == pytest.approx(0.206152, 1e-4)
    # Garman–Klass: ½(2a)² − (2 ln 2 − 1)·0 = 2a²
    assert out["gk_vol_20d"] == pytest.approx(math.sqrt(2 * a * a) * SQRT245, 1e-5)
    # close-to-close: flat closes
    assert out["rv_20d"] == 0.0
    assert out["range_hl"] == pytest.approx(math.exp(a) - math.exp(-a), 1e-5)
    span = math.exp(a) - math.exp(-a)
    assert out["close_loc"] == pytest.approx((1 - math.exp(-a)) / span, 1e-5)
    assert out["upper_shadow"] == pytest.approx((math.exp(a) - 1) / span, 1e-5)
    assert out["candle_body"] == 0.0


def test_yang_zhang_k_is_the_textbook_weight():
    assert volatility.yang_zhang_k(20) == pytest.approx(0.34 / (1.34 + 21 / 19))
    assert volatility.yang_zhang_k(60) == pytest.approx(0.34 / (1.34 + 61 / 59))


def _window(x: np.ndarray, i: int, w: int) -> np.ndarray:
    return x[i - w + 1 : i + 1]


def test_volatility_estimators_match_reference_code(one_stock, calendar, make_context):
    p = arrays(one_stock)
    o_, h_, l_, c_ = p["AdjO"], p["AdjH"], p["AdjL"], p["AdjC"]
    out = run(volatility, one_stock, calendar, make_context)
    r = np.r_[np.nan, np.log(c_[1:] / c_[:-1])]
    ov = np.r_[np.nan, np.log(o_[1:] / c_[:-1])]
    oc = np.log(c_ / o_)
    rs = np.log(h_ / c_) * np.log(h_ / o_) + np.log(l_ / c_) * np.log(l_ / o_)
    pk = np.log(h_ / l_) ** 2
    for i in (60, 100, len(c_) - 1):
        for w in (5, 20, 60):
            want = np.std(_window(r, i, w), ddof=1) * SQRT245
            assert out["rv_" + f"{w}d"][i] == pytest.approx(want, rel=1e-5)
        for w in (10, 20, 60):
            pk_want = math.sqrt(_window(pk, i, w).mean() / (4 * math.log(2))) * SQRT245
            rs_want = math.sqrt(_window(rs, i, w).mean()) * SQRT245
            k = 0.34 / (1.34 + (w + 1) / (w - 1))
            yz_var = (
                np.var(_window(ov, i, w), ddof=1)
                + k * np.var(_window(oc, i, w), ddof=1)
                + (1 - k) * _window(rs, i, w).mean()
            )
            assert out[f"pk_vol_{w}d"][i] == pytest.approx(pk_want, rel=1e-5)
            assert out[f"rs_vol_{w}d"][i] == pytest.approx(rs_want, rel=1e-5)
            assert out[f"yz_vol_{w}d"][i] == pytest.approx(math.sqrt(yz_var) * SQRT245, rel=1e-5)
        down = np.minimum(_window(r, i, 20), 0.0)
        assert out["downside_vol_20d"][i] == pytest.approx(
            math.sqrt((down**2).mean()) * SQRT245, rel=1e-5
        )


def test_returns_on_a_tiny_frame_with_a_no_trade_day(calendar, rebuild_base, make_context):
    days = calendar.days(date(2022, 3, 1), date(2022, 3, 31))[:6]
    closes = [100.0, 110.0, 99.0, None, 108.9, 119.79]
    opens = [100.0, 105.0, 100.0, None, 99.0, 110.0]
    frame = pl.DataFrame(
        {
            "Code": ["13010"] * 6,
            "Date": days,
            "O": opens,
            "H": [None if c is None else max(c, o) + 1 for c, o in zip(closes, opens, strict=True)],
            "L": [None if c is None else min(c, o) - 1 for c, o in zip(closes, opens, strict=True)],
            "C": closes,
            "Vo": [None if c is None else 100.0 for c in closes],
            "Va": [None if c is None else 1e4 for c in closes],
            "UL": [False] * 6,
            "LL": [False] * 6,
            "S33": ["3650"] * 6,
            "S17": ["9"] * 6,
            "Mkt": ["0111"] * 6,
            "ScaleCat": ["-"] * 6,
            "topix_C": [2000.0] * 6,
            "topix_O": [2000.0] * 6,
            "topix_H": [2000.0] * 6,
            "topix_L": [2000.0] * 6,
        },
        schema_overrides={"O": pl.Float64, "C": pl.Float64},
    )
    out = run(returns, rebuild_base(frame), calendar, make_context)
    r1 = out["ret_prev_1d"].to_list()
    assert r1[0] is None and r1[3] is None
    assert r1[1] == pytest.approx(0.10, abs=1e-6)
    assert r1[2] == pytest.approx(-0.10, abs=1e-6)
    # The day after the no-trade day runs from the last traded close (99 → 108.9).
    assert r1[4] == pytest.approx(0.10, abs=1e-6)
    assert r1[5] == pytest.approx(0.10, abs=1e-6)
    r5 = out["ret_prev_5d"].to_list()
    assert r5[:5] == [None] * 5
    assert r5[5] == pytest.approx(119.79 / 100.0 - 1.0, abs=1e-6)
    assert out["log_ret_1d"][2] == pytest.approx(math.log(0.9), abs=1e-6)
    assert out["ret_overnight"][1] == pytest.approx(105 / 100 - 1, abs=1e-6)
    assert out["ret_overnight"][4] == pytest.approx(99 / 99 - 1, abs=1e-6)
    assert out["ret_intraday"][1] == pytest.approx(110 / 105 - 1, abs=1e-6)
    assert out["up_streak"].to_list() == [None, 1, 0, None, 1, 2]
    assert out["down_streak"].to_list() == [None, 0, 1, None, 0, 0]
    assert out.row(3, named=True)["ret_intraday"] is None


def test_amihud_and_liquidity_match_reference_code(one_stock, calendar, make_context):
    p = arrays(one_stock)
    c_, va = p["AdjC"], p["Va"]
    out = run(liquidity, one_stock, calendar, make_context)
    absr = np.r_[np.nan, np.abs(c_[1:] / c_[:-1] - 1.0)]
    for i in (60, 150, len(c_) - 1):
        for w in (20, 60):
            want = np.mean(_window(absr, i, w) / _window(va, i, w)) * 1e9
            assert out[f"amihud_{w}d"][i] == pytest.approx(want, rel=1e-5)
            assert out[f"adv_log_{w}d"][i] == pytest.approx(
                math.log(_window(va, i, w).mean()), rel=1e-6
            )
        assert out["turnover_ratio_20d"][i] == pytest.approx(
            va[i] / _window(va, i, 20).mean(), rel=1e-5
        )


def test_corwin_schultz_spread_matches_hand_formula(one_stock, calendar, make_context):
    p = arrays(one_stock)
    h_, l_ = p["AdjH"], p["AdjL"]
    out = run(liquidity, one_stock, calendar, make_context)
    den = 3 - 2 * math.sqrt(2)
    spreads = []
    for t in range(1, len(h_)):
        beta = math.log(h_[t] / l_[t]) ** 2 + math.log(h_[t - 1] / l_[t - 1]) ** 2
        gamma = math.log(max(h_[t], h_[t - 1]) / min(l_[t], l_[t - 1])) ** 2
        alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / den - math.sqrt(gamma / den)
        spreads.append(max(2 * (math.exp(alpha) - 1) / (1 + math.exp(alpha)), 0.0))
    i = len(h_) - 1
    assert out["cs_spread_20d"][i] == pytest.approx(np.mean(spreads[-20:]), rel=1e-5)


def test_beta_alpha_correlation_match_ols(one_stock, calendar, make_context):
    p = arrays(one_stock)
    r = p["AdjC"][1:] / p["AdjC"][:-1] - 1.0
    m = p["topix_C"][1:] / p["topix_C"][:-1] - 1.0
    out = run(market, one_stock, calendar, make_context)
    for i in (80, 200, len(r)):
        rw, mw = r[i - 60 : i], m[i - 60 : i]
        slope, intercept = np.polyfit(mw, rw, 1)
        assert out["beta_60d"][i] == pytest.approx(slope, rel=1e-4)
        assert out["alpha_60d"][i] == pytest.approx(intercept, rel=1e-3, abs=1e-7)
        assert out["corr_60d"][i] == pytest.approx(np.corrcoef(mw, rw)[0, 1], rel=1e-4)
        resid = rw - (intercept + slope * mw)
        assert out["idio_vol_60d"][i] == pytest.approx(np.std(resid) * SQRT245, rel=1e-4)
        assert out["resid_ret_1d"][i] == pytest.approx(resid[-1], rel=1e-3, abs=1e-7)
        b20 = np.polyfit(m[i - 20 : i], r[i - 20 : i], 1)[0]
        assert out["beta_20d"][i] == pytest.approx(b20, rel=1e-4)


def test_beta_recovers_a_planted_exposure(calendar, rebuild_base, make_context):
    rng = np.random.default_rng(0)
    days = calendar.days(date(2022, 1, 4), date(2022, 6, 30))
    n = len(days)
    m = rng.normal(0, 0.01, n)
    topix = 2000 * np.cumprod(1 + m)
    stock = 500 * np.cumprod(1 + 1.5 * m + 0.0002)
    frame = pl.DataFrame(
        {
            "Code": ["13010"] * n,
            "Date": days,
            "O": stock,
            "H": stock * 1.01,
            "L": stock * 0.99,
            "C": stock,
            "Vo": np.full(n, 1000.0),
            "Va": stock * 1000.0,
            "UL": [False] * n,
            "LL": [False] * n,
            "S33": ["3650"] * n,
            "S17": ["9"] * n,
            "Mkt": ["0111"] * n,
            "ScaleCat": ["-"] * n,
            "topix_C": topix,
            "topix_O": topix,
            "topix_H": topix,
            "topix_L": topix,
        }
    )
    last = run(market, rebuild_base(frame), calendar, make_context).row(-1, named=True)
    assert last["beta_60d"] == pytest.approx(1.5, rel=1e-4)
    assert last["alpha_60d"] == pytest.approx(0.0002, rel=1e-3)
    assert last["corr_60d"] == pytest.approx(1.0, abs=1e-5)


def truncated_ema(x: np.ndarray, alpha: float) -> np.ndarray:
    w = math.ceil(math.log(0.005) / math.log(1 - alpha))
    weights = (1 - alpha) ** np.arange(w)
    out = np.full(len(x), np.nan)
    for t in range(len(x)):
        if t - w + 1 < 0:
            continue
        window = x[t - w + 1 : t + 1][::-1]
        if np.isnan(window).any():
            continue
        out[t] = (weights * window).sum() / weights.sum()
    return out


def test_truncated_ema_window_and_values():
    assert ops.ema_window(1 / 14) == 72  # (13/14)^72 = 0.00481 ≤ 0.5 % < (13/14)^71
    assert (13 / 14) ** 72 <= 0.005 < (13 / 14) ** 71
    x = np.sin(np.arange(120) / 7.0) + 2.0
    got = (
        pl.DataFrame({"Code": ["a"] * 120, "x": x})
        .select(ops.ema(pl.col("x"), 2 / 11))["x"]
        .to_numpy()
    )
    want = truncated_ema(x, 2 / 11)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_rsi_atr_macd_bollinger_match_reference_code(one_stock, calendar, make_context):
    p = arrays(one_stock)
    h_, l_, c_ = p["AdjH"], p["AdjL"], p["AdjC"]
    out = run(technicals, one_stock, calendar, make_context)
    delta = np.r_[np.nan, np.diff(c_)]
    gain = truncated_ema(np.where(np.isnan(delta), np.nan, np.maximum(delta, 0)), 1 / 14)
    loss = truncated_ema(np.where(np.isnan(delta), np.nan, np.maximum(-delta, 0)), 1 / 14)
    rsi = 100 * gain / (gain + loss)
    prev = np.r_[np.nan, c_[:-1]]
    tr = np.maximum.reduce([h_ - l_, np.abs(h_ - prev), np.abs(l_ - prev)])
    natr = truncated_ema(tr, 1 / 14) / c_
    macd = truncated_ema(c_, 2 / 13) / truncated_ema(c_, 2 / 27) - 1
    signal = truncated_ema(macd, 0.2)
    for i in (150, 200, len(c_) - 1):
        assert out["rsi_14"][i] == pytest.approx(rsi[i], rel=1e-5)
        assert out["natr_14"][i] == pytest.approx(natr[i], rel=1e-5)
        assert out["macd"][i] == pytest.approx(macd[i], rel=1e-4)
        assert out["macd_hist"][i] == pytest.approx(macd[i] - signal[i], rel=1e-3, abs=1e-7)
        mid, sd = _window(c_, i, 20).mean(), _window(c_, i, 20).std(ddof=0)
        assert out["bb_pct_b"][i] == pytest.approx((c_[i] - mid + 2 * sd) / (4 * sd), rel=1e-5)
        assert out["bb_width"][i] == pytest.approx(4 * sd / mid, rel=1e-5)
        lo, hi = _window(l_, i, 20).min(), _window(h_, i, 20).max()
        assert out["donchian_pos_20"][i] == pytest.approx((c_[i] - lo) / (hi - lo), rel=1e-5)
    assert np.isnan(rsi[:72]).all()
    assert out["rsi_14"][:72].null_count() == 72


def test_rsi_is_100_on_a_rising_series_and_adx_high_in_a_trend(
    calendar, rebuild_base, make_context
):
    days = calendar.days(date(2022, 1, 4), date(2022, 12, 30))[:200]
    n = len(days)
    close = 100 * 1.01 ** np.arange(n)
    frame = pl.DataFrame(
        {
            "Code": ["13010"] * n,
            "Date": days,
            "O": close / 1.005,
            "H": close * 1.002,
            "L": close / 1.006,
            "C": close,
            "Vo": np.full(n, 1000.0),
            "Va": close * 1000,
            "UL": [False] * n,
            "LL": [False] * n,
            "S33": ["3650"] * n,
            "S17": ["9"] * n,
            "Mkt": ["0111"] * n,
            "ScaleCat": ["-"] * n,
            "topix_C": close,
            "topix_O": close,
            "topix_H": close,
            "topix_L": close,
        }
    )
    last = run(technicals, rebuild_base(frame), calendar, make_context).row(-1, named=True)
    assert last["rsi_14"] == pytest.approx(100.0)
    assert last["di_minus_14"] == pytest.approx(0.0)
    assert last["adx_14"] == pytest.approx(100.0)
    assert last["donchian_pos_20"] == pytest.approx(
        (1.0 - 1 / 1.006 * 1.01**-19) / (1.002 - 1 / 1.006 * 1.01**-19), rel=1e-5
    )


def test_adx_stays_defined_through_a_flat_stretch(calendar, rebuild_base, make_context):
    """A stretch without any price movement gives ±DI = DX = 0, not nulls that blank ADX."""
    days = calendar.days(date(2022, 1, 4), date(2022, 12, 30))[:240]
    n = len(days)
    rng = np.random.default_rng(1)
    close = 100 * np.cumprod(1 + rng.normal(0, 0.01, n))
    flat = (np.arange(n) >= 100) & (np.arange(n) < 200)
    close[flat] = close[99]
    high = np.where(flat, close, close * 1.01)
    low = np.where(flat, close, close * 0.99)
    frame = pl.DataFrame(
        {
            "Code": ["13010"] * n,
            "Date": days,
            "O": close,
            "H": high,
            "L": low,
            "C": close,
            "Vo": np.full(n, 1000.0),
            "Va": close * 1000,
            "UL": [False] * n,
            "LL": [False] * n,
            "S33": ["3650"] * n,
            "S17": ["9"] * n,
            "Mkt": ["0111"] * n,
            "ScaleCat": ["-"] * n,
            "topix_C": close,
            "topix_O": close,
            "topix_H": close,
            "topix_L": close,
        }
    )
    out = run(technicals, rebuild_base(frame), calendar, make_context)
    assert out["adx_14"][143:].null_count() == 0
    assert out["di_plus_14"][199] == 0.0 and out["di_minus_14"][199] == 0.0
    assert out["adx_14"][199] < out["adx_14"][180] < out["adx_14"][172]
    assert out["adx_14"][239] > 0.0


def test_hand_values_on_an_alternating_series(calendar, rebuild_base, make_context):
    """Closes 100, 101, 100, 101, … with H = C + 1, L = C − 1 and Va = 1e9 every day."""
    n = 120
    days = calendar.days(date(2022, 1, 4), date(2022, 12, 30))[:n]
    close = np.where(np.arange(n) % 2 == 0, 100.0, 101.0)
    frame = pl.DataFrame(
        {
            "Code": ["13010"] * n,
            "Date": days,
            "O": close,
            "H": close + 1,
            "L": close - 1,
            "C": close,
            "Vo": np.full(n, 1e7),
            "Va": np.full(n, 1e9),
            "UL": [False] * n,
            "LL": [False] * n,
            "S33": ["3650"] * n,
            "S17": ["9"] * n,
            "Mkt": ["0111"] * n,
            "ScaleCat": ["-"] * n,
            "topix_C": np.full(n, 2000.0),
            "topix_O": np.full(n, 2000.0),
            "topix_H": np.full(n, 2000.0),
            "topix_L": np.full(n, 2000.0),
        }
    )
    base = rebuild_base(frame)
    last = n - 1  # an up day (100 → 101)
    liq = run(liquidity, base, calendar, make_context)
    # |r| alternates 1 % and 1/101; Va = 1e9 → Amihud = mean|r| / 1e9 · 1e9
    assert liq["amihud_20d"][last] == pytest.approx((0.01 + 1 / 101) / 2, rel=1e-5)
    vol = run(volatility, base, calendar, make_context)
    a = math.log(1.01)  # log returns alternate ±a: 20-row sample variance 20a²/19
    assert vol["rv_20d"][last] == pytest.approx(math.sqrt(20 * a * a / 19) * SQRT245, rel=1e-5)
    tech = run(technicals, base, calendar, make_context)
    # True range is 2 every day (102 − 100 up, 101 − 99 down): natr = 2 / C
    assert tech["natr_14"][last] == pytest.approx(2 / 101, rel=1e-5)
    # Gains 1 on up days, losses 1 on down days: with q = 13/14 the truncated Wilder averages
    # give RSI = 100/(1 + q) on an up day and 100·q/(1 + q) on a down day.
    q = 13 / 14
    assert tech["rsi_14"][last] == pytest.approx(100 / (1 + q), rel=1e-5)
    assert tech["rsi_14"][last - 1] == pytest.approx(100 * q / (1 + q), rel=1e-5)
    assert tech["rsi_14"][last] == pytest.approx(51.851852, rel=1e-6)
