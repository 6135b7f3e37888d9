"""Nikkei 225 index options (``options_225``) with an implied-volatility surface tied to the
market's volatility and regime.

Underlying: ``UnderPx[t] = 14 x TOPIX close`` (the last close carried over days without one).
Series listed on day t: the 3 nearest contract months whose last trading day (``LTD``, the trading
day before ``SQD``, the second Friday of the month or the trading day before it) is >= t, plus the
next 2 quarterly months (Mar/Jun/Sep/Dec); strikes every 250 yen (monthly) or 500 yen (quarterly),
8 steps either side of the at-the-money strike; puts (``PCDiv`` 1) and calls (2).

Implied volatility in % for time to expiry ``tau`` years and moneyness ``m = ln(K/F) / sqrt(tau)``::

    atm(tau) = 100 * market_vol[t] * 1.1 + slope * (sqrt(tau / 0.25) - 1)
    IV = clip(atm(tau) - 10 m + 8 m^2 + 0.3 e, 5, 150)

with ``slope = +1.5`` vol points in calm markets and ``-4`` in the high-volatility regime
(an inverted term structure), so ATM IV is higher and the curve inverted in the high-vol regime.
``Theo`` is the Black-Scholes price (rate ``IR`` = 0.1 %), ``Settle`` is ``Theo`` on the tick
grid (1 yen up to 100, 5 yen above; minimum 1), ``BaseVol`` the ATM IV of the contract month.
Volume ``~ Poisson(3000 exp(-3 |m|) exp(-6 tau))``; O/H/L/C are 0.0 when nothing traded.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
from scipy.special import ndtr

from gogooku.synth.config import rng_for
from gogooku.synth.side._common import conform
from gogooku.synth.side._contracts import Sessions, contract_dates, sessions
from gogooku.synth.state import MarketState

NIKKEI_PER_TOPIX = 14.0
RATE = 0.001
STRIKES_EACH_SIDE = 8
CALM_SLOPE = 1.5
STRESS_SLOPE = -4.0


def _months_from(day: date, count: int) -> list[tuple[int, int]]:
    y, m = day.year, day.month
    out = []
    for _ in range(count):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _series_for_day(day: date, trading: Sessions) -> list[tuple[int, int, date, date, float]]:
    """(year, month, SQD, LTD, strike step) of the contract months listed on ``day``."""
    live = []
    for y, m in _months_from(day, 18):
        sqd, ltd = contract_dates(y, m, trading)
        if ltd >= day:
            live.append((y, m, sqd, ltd))
    monthly = live[:3]
    quarterly = [c for c in live[3:] if c[1] % 3 == 0][:2]
    return [(*c, 250.0) for c in monthly] + [(*c, 500.0) for c in quarterly]


def _bs_price(put: np.ndarray, s: float, k: np.ndarray, tau: np.ndarray, vol: np.ndarray):
    sd = vol * np.sqrt(tau)
    d1 = (np.log(s / k) + (RATE + 0.5 * vol**2) * tau) / sd
    d2 = d1 - sd
    disc = np.exp(-RATE * tau)
    call = s * ndtr(d1) - k * disc * ndtr(d2)
    return np.where(put, call - s + k * disc, call)


def _tick(price: np.ndarray) -> np.ndarray:
    return np.maximum(np.where(price <= 100, np.round(price), np.round(price / 5) * 5), 1.0)


def _underlying(state: MarketState) -> np.ndarray:
    close = state.topix.select("Date", "C").join(
        pl.DataFrame({"Date": state.days}, schema={"Date": pl.Date}), on="Date", how="right"
    )
    return (close["C"].forward_fill().backward_fill() * NIKKEI_PER_TOPIX).to_numpy()


def render_options(state: MarketState) -> dict[str, pl.DataFrame]:
    """``options_225`` for every trading day of ``state``."""
    trading = sessions(state.days[0])
    under = _underlying(state)
    frames = []
    for t, day in enumerate(state.days):
        frames.append(_day_frame(state, t, day, float(under[t]), trading))
    frame = pl.concat(frames) if frames else pl.DataFrame()
    return {"options_225": conform(frame, "options_225")}


def _day_frame(
    state: MarketState, t: int, day: date, spot: float, trading: Sessions
) -> pl.DataFrame:
    series = _series_for_day(day, trading)
    slope = STRESS_SLOPE if state.high_vol_regime[t] else CALM_SLOPE
    base = 100.0 * float(state.market_vol[t]) * 1.1
    rows_k, rows_put, rows_tau, rows_cm, rows_sqd, rows_ltd, rows_atm = [], [], [], [], [], [], []
    for y, m, sqd, ltd, step in series:
        tau = max((sqd - day).days, 1) / 365.0
        atm_k = round(spot / step) * step
        strikes = atm_k + step * np.arange(-STRIKES_EACH_SIDE, STRIKES_EACH_SIDE + 1)
        strikes = strikes[strikes > 0]
        atm_iv = base + slope * (np.sqrt(tau / 0.25) - 1.0)
        for put in (True, False):
            rows_k.append(strikes)
            rows_put.append(np.full(strikes.size, put))
            rows_tau.append(np.full(strikes.size, tau))
            rows_cm.extend([f"{y:04d}-{m:02d}"] * strikes.size)
            rows_sqd.extend([sqd] * strikes.size)
            rows_ltd.extend([ltd] * strikes.size)
            rows_atm.append(np.full(strikes.size, atm_iv))
    k = np.concatenate(rows_k)
    put = np.concatenate(rows_put)
    tau = np.concatenate(rows_tau)
    atm = np.concatenate(rows_atm)
    rng = rng_for(state.config.seed, "options_225", day)
    eps = rng.standard_normal((5, k.size))
    fwd = spot * np.exp(RATE * tau)
    m = np.log(k / fwd) / np.sqrt(tau)
    iv = np.clip(atm - 10.0 * m + 8.0 * m**2 + 0.3 * eps[0], 5.0, 150.0)
    theo = _bs_price(put, spot, k, tau, iv / 100.0)
    settle = _tick(theo)
    lam = 3000.0 * np.exp(-3.0 * np.abs(m)) * np.exp(-6.0 * tau)
    vo = rng.poisson(lam).astype(float)
    traded = vo > 0
    close = np.where(traded, _tick(theo * (1 + 0.03 * eps[1])), 0.0)
    open_ = np.where(traded, _tick(theo * (1 + 0.05 * eps[2])), 0.0)
    high = np.where(traded, np.maximum(open_, close) + _tick(theo * np.abs(0.04 * eps[3])), 0.0)
    low = np.where(traded, np.maximum(np.minimum(open_, close) - _tick(theo * 0.03), 1.0), 0.0)
    night_vo = np.floor(vo * 0.3)
    oi = np.round(lam * 8.0 * (1 + 0.2 * np.abs(eps[4])))
    cm = np.array(rows_cm)
    codes = [
        f"1{3 if p else 4}{c[3]}{c[5:7]}{int(strike) // 25:04d}"
        for p, c, strike in zip(put, cm, k, strict=True)
    ]
    night_traded = night_vo > 0
    return pl.DataFrame(
        {
            "Date": [day] * k.size,
            "Code": codes,
            "O": open_,
            "H": high,
            "L": low,
            "C": close,
            "EO": np.where(night_traded, open_, 0.0),
            "EH": np.where(night_traded, high, 0.0),
            "EL": np.where(night_traded, low, 0.0),
            "EC": np.where(night_traded, _tick((open_ + close) / 2.0), 0.0),
            "AO": np.where(traded, open_, 0.0),
            "AH": high,
            "AL": low,
            "AC": close,
            "Vo": vo,
            "OI": oi,
            "Va": vo * close * 1000.0,
            "CM": cm,
            "Strike": k,
            "VoOA": np.floor(vo * 0.1),
            "EmMrgnTrgDiv": ["002"] * k.size,
            "PCDiv": np.where(put, "1", "2"),
            "LTD": rows_ltd,
            "SQD": rows_sqd,
            "Settle": settle,
            "Theo": np.round(theo, 4),
            "BaseVol": np.round(atm, 4),
            "UnderPx": [round(spot, 2)] * k.size,
            "IV": np.round(iv, 4),
            "IR": [RATE * 100.0] * k.size,
        },
        schema_overrides={"Date": pl.Date, "LTD": pl.Date, "SQD": pl.Date},
    )
