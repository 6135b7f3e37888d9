"""Price simulation: volatility regime, corporate-action schedules and the daily bar recursion.

Latent total return of a listed stock on day ``t`` (before limits, ticks and missing trades)::

    r*[t, i] = β_i (m̄ + σ_m[t] ε_m) + σ_sec g[t] ε_sec[s(i)] + σ_grp g[t] ε_grp[grp(i)]
               + mu[t-2, i] + σ_i g[t] ε_i + κ_i[t]

with Student-t shocks scaled to unit variance (market and sector ν = 5, stock ν = 4; in market
version 2 ``σ_i`` is scaled by ``sqrt(h[t, i])``, the GJR-GARCH multiplier of ``garch_next``),
``σ_m[t] = market_vol[t] / sqrt(245)`` and ``g[t] = sqrt(market_vol[t] / BASE_VOL)`` (idiosyncratic
volatility rises with the market's). ``mu[t-2]`` is the expected return known two days earlier
(the label convention buys at the close of t+1). ``κ_i[t]`` is the crash before a delisting
(``universe._crashes``: most delisted stocks fall 50–90 % over their last 10–30 sessions; it is
not in ``mu``, so the oracle does not foresee it). Market volatility follows
``log v[t] = log BASE_VOL + φ (log v[t-1] - log BASE_VOL) + ξ η[t]`` times ``HIGH_VOL_MULT`` in the
high-volatility regime, a two-state Markov chain (``signals.REGIME``).

The unadjusted latent price moves as ``P[t] = P[t-1] · f[t] · (1 + r*[t] − y[t])`` where ``f`` is
the split factor on the ex-date (AdjFactor) and ``y`` the dividend yield on the ex-dividend date
(cash dividend ``y · P[t-1] · f[t]``). The observed close is ``P`` rounded to the TSE tick and
clipped to the daily price limit around the previous close; a capped move carries over to later
days because the latent price is not reset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np

from gogooku.synth.config import SynthConfig, rng_for, rng_static
from gogooku.synth.signals import REGIME, SignalState
from gogooku.synth.universe import HALT_DAY, SECTORS_33, StockParams

TRADING_DAYS_PER_YEAR = 245
BASE_VOL = 0.15  # annualised market volatility of the normal regime
HIGH_VOL_MULT = 1.9
VOL_PHI = 0.97
VOL_XI = 0.06
MARKET_DRIFT = 0.0003  # daily expected market return
SECTOR_VOL = 0.006  # daily, at BASE_VOL
GROUP_VOL = 0.006  # daily peer-group (hidden graph) factor, at BASE_VOL
SPLIT_RATE = 0.02  # splits per stock per year
DIVIDEND_PAYERS = 0.75
# GJR-GARCH(1,1) of idiosyncratic variance (market version 2): persistence α + γ/2 + β = 0.98
GARCH_ALPHA = 0.08
GARCH_GAMMA = 0.08
GARCH_BETA = 0.86
GARCH_OMEGA = 1.0 - GARCH_ALPHA - GARCH_GAMMA / 2.0 - GARCH_BETA
GARCH_CAP = 8.0

# TSE daily price limits: (upper bound of the base-price band, limit width), yen
LIMIT_BANDS = np.array(
    [100, 200, 500, 700, 1000, 1500, 2000, 3000, 5000, 7000, 10000, 15000, 20000, 30000,
     50000, 70000, 100000, 150000, 200000, 300000, 500000, 700000, 1000000, np.inf]
)  # fmt: skip
LIMIT_WIDTHS = np.array(
    [30, 50, 80, 100, 150, 300, 400, 500, 700, 1000, 1500, 3000, 4000, 5000,
     7000, 10000, 15000, 30000, 40000, 50000, 70000, 100000, 150000, 300000]
)  # fmt: skip
# TSE tick sizes (standard table): (upper bound of the price band, tick), yen
TICK_BANDS = np.array([3000, 5000, 30000, 50000, 300000, 500000, 3000000, np.inf])
TICK_SIZES = np.array([1, 5, 10, 50, 100, 500, 1000, 5000])
SPLIT_CHOICES = np.array([0.5, 1 / 3, 0.2, 0.25, 2.0, 10.0])
SPLIT_WEIGHTS = np.array([0.55, 0.12, 0.12, 0.11, 0.05, 0.05])
FY_END_MONTHS = np.array([3, 12, 9, 6])
FY_END_WEIGHTS = np.array([0.72, 0.14, 0.07, 0.07])


def garch_next(h: np.ndarray, eps: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Next GARCH(1,1) variance multiplier with leverage (GJR) of the listed stocks (version 2).

    ``h[t+1] = ω + (α + γ·1{ε[t] < 0}) ε[t]² + β h[t]``, capped at ``GARCH_CAP``, with
    ``ω = 1 − α − γ/2 − β`` so that ``E[h] = 1`` (the unconditional idiosyncratic volatility is
    unchanged); ``ε`` is the stock's unit-variance shock of the day.
    """
    weight = np.where(eps < 0.0, GARCH_ALPHA + GARCH_GAMMA, GARCH_ALPHA)
    nxt = GARCH_OMEGA + weight * eps**2 + GARCH_BETA * h
    return np.where(on, np.minimum(nxt, GARCH_CAP), h)


def limit_width(base: np.ndarray) -> np.ndarray:
    """Daily price-limit width for a base price (previous close): ``base < 100 → 30`` yen, …"""
    return LIMIT_WIDTHS[np.searchsorted(LIMIT_BANDS, base, side="right")]


def round_tick(price: np.ndarray) -> np.ndarray:
    """Round to the TSE tick of the price band (1 yen up to 3,000, 5 up to 5,000, …)."""
    tick = TICK_SIZES[np.searchsorted(TICK_BANDS, price, side="left")]
    return np.maximum(np.round(price / tick) * tick, 1.0)


@dataclass
class VolPath:
    """Market volatility path: annualised ``market_vol`` and the regime flag, both (T,)."""

    market_vol: np.ndarray
    high: np.ndarray

    @property
    def scale(self) -> np.ndarray:
        """``g[t] = sqrt(market_vol / BASE_VOL)``: multiplier of sector, group and stock vol."""
        return np.sqrt(self.market_vol / BASE_VOL)


def simulate_vol(config: SynthConfig, days: list[date]) -> VolPath:
    """Regime chain and log-volatility AR(1), run forward from ``start`` in the normal regime."""
    vol = np.empty(len(days))
    high = np.zeros(len(days), dtype=bool)
    log_dev, regime = 0.0, False
    for t, day in enumerate(days):
        rng = rng_for(config.seed, "market_vol", day)
        u, eta = rng.random(), rng.standard_normal()
        regime = (u >= REGIME.p_down) if regime else (u < REGIME.p_up)
        log_dev = VOL_PHI * log_dev + VOL_XI * eta
        high[t] = regime
        vol[t] = BASE_VOL * np.exp(log_dev) * (HIGH_VOL_MULT if regime else 1.0)
    return VolPath(vol, high)


def expected_dispersion(params: StockParams, vol: VolPath, listed: np.ndarray) -> np.ndarray:
    """``D[t]``: model cross-sectional std of daily returns over the stocks listed on ``t``.

    ``D² = g²·(mean σ_i² + σ_sec² + σ_grp²) + var(β)·σ_m²`` (the shocks' contribution).
    """
    count = np.maximum(listed.sum(axis=1), 1)
    idio2 = (listed * params.idio_vol[None, :] ** 2).sum(axis=1) / count
    beta_mean = (listed * params.beta[None, :]).sum(axis=1) / count
    beta_var = (listed * (params.beta[None, :] - beta_mean[:, None]) ** 2).sum(axis=1) / count
    sigma_m = vol.market_vol / np.sqrt(TRADING_DAYS_PER_YEAR)
    g2 = vol.scale**2
    return np.sqrt(g2 * (idio2 + SECTOR_VOL**2 + GROUP_VOL**2) + beta_var * sigma_m**2)


@dataclass
class Schedule:
    """Corporate actions on horizon session indices (static, prefix-stable)."""

    split_factor: np.ndarray  # (H, N) AdjFactor, 1.0 except on split ex-dates
    div_yield: np.ndarray  # (H, N) dividend yield on ex-dividend dates, 0 elsewhere


def corporate_actions(
    config: SynthConfig, params: StockParams, horizon_days: list[date], n_rows: int
) -> Schedule:
    """Splits (Poisson, ``SPLIT_RATE`` a year) and semi-annual dividends of 75 % of stocks.

    A stock's fiscal year ends in March (72 %), December, September or June; the ex-dividend date
    is the session before the last session of the fiscal year-end month and of the month six
    months later; the half-year yield is ``U(0.5 %, 1.5 %)``. Splits avoid 2020-10-01 and the
    stock's listing day. Events are drawn over the whole horizon (so the draws do not depend on
    ``end``); the returned arrays hold the first ``n_rows`` horizon sessions.
    """
    rng = rng_static(config, "corporate_actions")
    n_days, n = len(horizon_days), len(params.beta)
    n_rows = min(n_rows, n_days)
    split = np.ones((n_rows, n))
    n_splits = rng.poisson(SPLIT_RATE * n_days / TRADING_DAYS_PER_YEAR, size=n)
    for i in np.flatnonzero(n_splits):
        when = rng.integers(params.list_idx[i] + 1, n_days, size=n_splits[i])
        factor = rng.choice(SPLIT_CHOICES, size=n_splits[i], p=SPLIT_WEIGHTS)
        split[when[when < n_rows], i] = factor[when < n_rows]
    yearly = rng.uniform(0.01, 0.03, size=n) * (rng.random(n) < DIVIDEND_PAYERS)
    fy_end = rng.choice(FY_END_MONTHS, size=n, p=FY_END_WEIGHTS)
    months = np.array([d.year * 12 + d.month - 1 for d in horizon_days])
    last_of_month = np.flatnonzero(np.append(months[1:] != months[:-1], False))
    ex_idx = last_of_month - 1
    ex_month = (months[last_of_month] % 12) + 1
    div = np.zeros((n_rows, n))
    for m in FY_END_MONTHS:
        payers = np.flatnonzero((fy_end == m) & (yearly > 0))
        rows = ex_idx[((ex_month == m) | (ex_month == (m + 5) % 12 + 1)) & (ex_idx < n_rows)]
        div[np.ix_(rows, payers)] = yearly[payers] / 2.0
    if HALT_DAY in horizon_days[: n_rows - 1]:
        halt = horizon_days.index(HALT_DAY)
        split[halt + 1] = np.where(split[halt] != 1.0, split[halt], split[halt + 1])
        split[halt] = 1.0
    split[div > 0] = 1.0  # a split never shares its ex-date with a dividend
    return Schedule(split, div)


@dataclass
class DailyBars:
    """Observed (T, N) arrays; NaN where the stock is not listed or has no trade."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    value: np.ndarray
    upper_hit: np.ndarray  # bool
    lower_hit: np.ndarray  # bool
    ret: np.ndarray  # total return close-to-close (incl. dividend), adjusted for splits
    dividend: np.ndarray  # cash dividend per share on ex-dates
    adj_factor: np.ndarray
    shares: np.ndarray  # shares outstanding (changes with splits)


MuFn = Callable[[int, SignalState, np.ndarray], np.ndarray]


def simulate_bars(
    config: SynthConfig,
    days: list[date],
    params: StockParams,
    listed: np.ndarray,
    vol: VolPath,
    schedule: Schedule,
    signals: SignalState,
    mu_fn: MuFn,
    garch: bool = False,
) -> DailyBars:
    """Run the daily recursion; ``mu_fn(t, signals, close)`` gives ``mu[t]`` after day ``t`` is
    folded in (``close``: each stock's last close at ``t`` in the share basis of ``t``, NaN
    before its first trade or when not listed).

    Per-day draws come from ``rng_for(seed, "prices", day)`` in a fixed order and fixed sizes
    (universe size, 33 sectors, number of peer groups), so they do not depend on ``end``.
    ``garch`` (market version 2) scales each stock's idiosyncratic volatility by ``sqrt(h[t, i])``,
    the GARCH variance multiplier of ``nonlinear.garch_next`` driven by the stock's own shocks.
    """
    n_days, n = listed.shape
    n_groups = int(params.group.max()) + 1
    shape = (n_days, n)
    out = {k: np.full(shape, np.nan) for k in ("open", "high", "low", "close", "volume", "value")}
    ret = np.full(shape, np.nan)
    ul = np.zeros(shape, dtype=bool)
    ll = np.zeros(shape, dtype=bool)
    dividend = np.zeros(shape)
    mu = np.zeros((3, n))  # ring buffer: mu[t % 3] is mu[t]
    shares_path = np.zeros(shape)
    adj = np.where(listed, schedule.split_factor[:n_days], 1.0)
    latent = params.initial_price.copy()
    last_close = np.full(n, np.nan)
    pending_div = np.zeros(n)
    shares = params.shares.copy()
    sigma_m = vol.market_vol / np.sqrt(TRADING_DAYS_PER_YEAR)
    g = vol.scale
    h = np.ones(n)  # GARCH variance multiplier (version 2)
    idio_vol = params.idio_vol
    for t, day in enumerate(days):
        rng = rng_for(config.seed, "prices", day)
        eps_m = _student(rng, 5, 1)[0]
        eps_sec = _student(rng, 5, len(SECTORS_33))
        eps_grp = rng.standard_normal(n_groups)
        eps_i = _student(rng, 4, n)
        u_trade = rng.random(n)
        gap_noise = rng.standard_normal(n)
        range_noise = np.abs(rng.standard_normal((2, n)))
        vol_noise = rng.standard_normal(n)

        on = listed[t]
        first = on & (params.list_idx == t)
        f = adj[t]
        shares = shares / f
        latent = latent * f
        last_close = last_close * f
        pending_div = pending_div * f
        if garch:
            idio_vol = params.idio_vol * np.sqrt(h)
        if day == HALT_DAY:
            shares_path[t] = shares
            signals.update(t, ret[t], on)
            mu[t % 3] = mu_fn(t, signals, last_close)
            continue
        r = (
            params.beta * (MARKET_DRIFT + sigma_m[t] * eps_m)
            + g[t] * SECTOR_VOL * eps_sec[params.sector]
            + g[t] * GROUP_VOL * eps_grp[params.group]
            + mu[(t - 2) % 3]
            + g[t] * idio_vol * eps_i
        )
        if garch:
            h = garch_next(h, eps_i, on)
        crashing = (params.crash_idx >= 0) & (params.crash_idx <= t) & (t < params.delist_idx)
        r = np.maximum(r + np.where(crashing, params.crash_return, 0.0), -0.9)
        y = schedule.div_yield[t]
        cash = np.where(on & ~first, y * latent, 0.0)
        latent = np.where(on & ~first, latent * (1.0 + r - y), latent)
        pending_div += cash
        dividend[t] = np.where(on, cash, 0.0)
        trade = on & (u_trade >= params.no_trade_prob)
        base = np.where(np.isfinite(last_close), last_close, round_tick(latent))
        width = limit_width(base)
        up, down = base + width, np.maximum(base - width, 1.0)
        raw_close = round_tick(latent)
        close = np.clip(raw_close, down, up)
        move = close / base - 1.0
        open_ = np.clip(
            round_tick(base * (1.0 + 0.35 * move + 0.3 * g[t] * idio_vol * gap_noise)),
            down,
            up,
        )
        spread = 0.4 * g[t] * idio_vol
        high = np.clip(
            round_tick(np.maximum(open_, close) * (1.0 + spread * range_noise[0])), down, up
        )
        low = np.clip(
            round_tick(np.minimum(open_, close) * (1.0 - spread * range_noise[1])), down, up
        )
        high = np.maximum(high, np.maximum(open_, close))
        low = np.minimum(low, np.minimum(open_, close))
        vwap = np.clip((open_ + high + low + 2.0 * close) / 5.0, low, high)
        traded_value = (
            params.turnover
            * latent
            * shares
            * g[t]
            * np.exp(0.45 * vol_noise)
            * (1.0 + 0.8 * np.abs(eps_i))
        )
        volume = np.maximum(np.round(traded_value / vwap / 100.0), 1.0) * 100.0
        has_ret = trade & np.isfinite(last_close)
        ret[t] = np.where(has_ret, (close + pending_div) / last_close - 1.0, np.nan)
        ul[t] = trade & (raw_close >= up) & (close == up) & np.isfinite(last_close)
        ll[t] = trade & (raw_close <= down) & (close == down) & np.isfinite(last_close)
        for key, value in (
            ("open", open_), ("high", high), ("low", low), ("close", close),
            ("volume", volume), ("value", volume * vwap),
        ):  # fmt: skip
            out[key][t] = np.where(trade, value, np.nan)
        last_close = np.where(trade, close, last_close)
        pending_div = np.where(trade, 0.0, pending_div)
        last_close = np.where(on, last_close, np.nan)
        shares_path[t] = shares
        signals.update(t, ret[t], on)
        mu[t % 3] = mu_fn(t, signals, last_close)
    return DailyBars(
        **out, upper_hit=ul, lower_hit=ll, ret=ret, dividend=dividend, adj_factor=adj,
        shares=shares_path,
    )  # fmt: skip


def _student(rng: np.random.Generator, df: int, size: int) -> np.ndarray:
    """Student-t draws scaled to unit variance: ``t_ν · sqrt((ν − 2) / ν)``."""
    return rng.standard_t(df, size) * np.sqrt((df - 2) / df)
