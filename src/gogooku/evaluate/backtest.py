"""Vectorised backtest of a daily cross-sectional score.

Inputs: ``scores`` (``Date, Code, score``; the score dated d is known at the close of d), the
market (:func:`load_market`) and the benchmark's levels (``Date, C``: TOPIX closes, another
index's, or the universe levels of :mod:`gogooku.evaluate.benchmark`).

Timing. The signal dated d is traded at the close of the next market day t = next(d), the entry
price of the labels (target at d = AdjC[d+1+h] / AdjC[d+1] − 1). Score dates before the first
market day or on the last one are not traded. Decision dates are the sorted
score dates; without overlap every ``rebalance_days``-th decision date trades (the first, the
R+1-th, ...). With ``overlapping`` the capital is split into R sleeves of capital / R; decision
date j trades sleeve j mod R, so each sleeve rebalances every R decision dates, staggered, and a
sleeve holds cash until its first trade; sleeves trade independently (no netting). The daily series runs from the first trade day to the
earlier of the last market day and R market days after the last trade (the last holding period).

Book. ``long_only``: the top k = min(K, n) scores (n = stocks with a finite score; ties go to the
smaller Code) each get a target of NAV_s / k (in the market's currency). ``long_short``:
k = min(K, ⌊n / 2⌋) longs at +NAV_s / (2k) and the k lowest scores at −NAV_s / (2k): dollar neutral, gross exposure 1
(Alphalens' convention, so its return is about half the top-minus-bottom spread). NAV_s is the
sleeve's mark-to-market value at the trade-day close. Target shares are
⌊target / (C_t · lot)⌋ · lot in raw prices C; every held stock outside the target goes to 0.

Market rules on the trade day t, per stock: no trade when the stock is not listed or has no trade
(``no_trade`` or null C) — the position is carried; with ``price_limits`` (JPX), no buy
(Δshares > 0, which includes covering a short) when ``UL`` is set and no sell (Δshares < 0, which
includes opening a short) when ``LL`` is set. Lots are ``lot_size`` shares (100 on JPX, 1
elsewhere: ``gogooku.market.Market.lot_size``).
Sells come first; when the buys (plus their costs) exceed the cash left after sells, every buy is
scaled by the same factor and floored to whole lots, so a long-only book never borrows. The cash
residual earns nothing. Costs: ``cost_bps`` / 10⁴ of the traded value |Δshares| · C_t, per side.

Prices and splits. Positions are held as split-invariant units u = shares · F_t, where
F_t = ∏_{s ≤ t} AdjFactor_s over the market window (null → 1); the adjusted price is
A_t = C_t / F_t carried forward over days without a trade, the same point-in-time construction
as the panel's AdjC, so A_t / A_{t−1} = AdjC_t / AdjC_{t−1} (the market's ``AdjC`` column itself
is not read: lot sizing and valuation use one price source). Raw shares on day t are u / F_t: a
1:2 split (AdjFactor 0.5 on the ex-date) doubles the share count and leaves the value unchanged. A
position's value is u · A_t (mark-to-market at the close, last price on days without a trade). A
held stock that is no longer listed on day t (delisted) is sold at its last traded price A into
cash, paying ``cost_bps`` on |u · A| like any sale (a short is covered at that price): the crash
before a delisting is in the NAV, never dropped. That sale counts in the day's cost and turnover.

Daily columns, with V_{t−1} the NAV after the previous day's trades and costs:

- ``ret_gross`` = (cash_{t−1} + Σ u_{t−1} · A_t) / V_{t−1} − 1 (before day t's trades);
- ``cost`` = day-t costs / V_{t−1}; ``turnover`` = day-t traded value / V_{t−1}, so
  cost = cost_bps / 10⁴ · turnover and ``ret_net`` = ret_gross − cost;
- ``nav`` = V_t in the market's currency (V before the first trade = ``capital``); on the first
  trade day ret_gross = 0 and the benchmarks are 0 (nothing is invested before that close);
- ``benchmark`` = C_t / C_{t−1} − 1 of the benchmark levels (last level carried over missing
  days);
- ``benchmark_ew`` = mean over stocks listed on t−1 and t with a price by t−1 of
  A_t / A_{t−1} − 1 (the daily-rebalanced equal-weight universe);
- ``n_long`` / ``n_short`` = stocks with positive / negative shares after day t's trades.

``positions`` has one row per held (Date, Code) after the day's trades: raw ``shares`` (u / F_t),
``weight`` = u · A_t / V_t and the day's ``S33``. ``sector_contribution`` sums, per S33 of the
holding day, u_t · (A_{t+1} − A_t) / V_t over the days of the series: the sectors' contributions
add up to Σ ret_gross (simple sum of daily contributions, not compounded).

Stocks are ordered by score descending, ties by Code ascending; the longs are the first k of that
order and the shorts the last k.

Implementation: the market is scattered into dense (T, N) numpy arrays (dates by binary search,
codes through a sorted Enum, no joins); the Python loop runs over the series' days (a few
thousand), each step vectorised over all stocks and sleeves (O(N) top-k selection by
``np.partition``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import polars as pl

from gogooku.calendar import TradingCalendar
from gogooku.errors import GogookuError

MARKET_COLUMNS = ("Date", "Code", "C", "AdjC", "AdjFactor", "UL", "LL", "no_trade", "S33", "listed")
_REQUIRED = ("Date", "Code", "C", "AdjFactor", "UL", "LL", "no_trade", "S33")
_EPS_SHARES = 1e-9


class BacktestError(GogookuError, ValueError):
    """Invalid backtest configuration or inputs (names the parameter, column or date)."""


@dataclass(frozen=True)
class BacktestConfig:
    """Book and trading parameters (see the module docstring for each rule)."""

    top_k: int = 50
    strategy: Literal["long_only", "long_short"] = "long_only"
    rebalance_days: int = 5
    overlapping: bool = False
    cost_bps: float = 10.0
    capital: float = 1e8
    lot_size: int = 100
    price_limits: bool = True

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise BacktestError(f"BacktestConfig.top_k must be >= 1, got {self.top_k}")
        if self.strategy not in ("long_only", "long_short"):
            raise BacktestError(
                f"BacktestConfig.strategy must be 'long_only' or 'long_short', got {self.strategy!r}"
            )
        if self.rebalance_days < 1:
            raise BacktestError(
                f"BacktestConfig.rebalance_days must be >= 1, got {self.rebalance_days}"
            )
        if not np.isfinite(self.cost_bps) or self.cost_bps < 0:
            raise BacktestError(f"BacktestConfig.cost_bps must be >= 0, got {self.cost_bps}")
        if not np.isfinite(self.capital) or self.capital <= 0:
            raise BacktestError(f"BacktestConfig.capital must be > 0, got {self.capital}")
        if self.lot_size < 1:
            raise BacktestError(f"BacktestConfig.lot_size must be >= 1, got {self.lot_size}")


@dataclass
class BacktestResult:
    """Daily series, positions after each day's trades and sector contributions."""

    daily: pl.DataFrame
    positions: pl.DataFrame
    sector_contribution: pl.DataFrame


def load_market(store, calendar: TradingCalendar, start: date, end: date) -> pl.DataFrame:
    """Dense market grid for trading days ``start..end`` from the raw store.

    Rows: every trading day × every Code with a base-frame row in the window
    (:func:`gogooku.dataset.base.build_base`: bars plus master snapshots, point-in-time S33 and
    AdjC). ``listed`` is true where the base frame has the row; other rows (before listing,
    after delisting) have null prices, ``no_trade`` true and UL/LL false.
    """
    from gogooku.dataset.base import build_base

    base = build_base(store, calendar, start, end)
    days = calendar.frame().filter(pl.col("Date").is_between(start, end))
    codes = base.select(pl.col("Code").unique().sort())
    grid = days.join(codes, how="cross")
    cols = [c for c in MARKET_COLUMNS if c not in ("Date", "Code", "listed")]
    market = grid.join(
        base.select("Date", "Code", *cols).with_columns(listed=pl.lit(True)),
        on=["Date", "Code"],
        how="left",
    )
    return (
        market.with_columns(
            pl.col("listed").fill_null(False),
            pl.col("no_trade").fill_null(True),
            pl.col("UL").fill_null(False),
            pl.col("LL").fill_null(False),
        )
        .select(MARKET_COLUMNS)
        .sort("Date", "Code")
    )


@dataclass
class _Dense:
    dates: np.ndarray  # (T,) datetime64[D]
    codes: list[str]
    close: np.ndarray  # (T, N) raw C, NaN where no trade
    factor: np.ndarray  # (T, N) F_t, cumulative AdjFactor
    adj: np.ndarray  # (T, N) A_t carried forward, NaN before the first trade
    tradable: np.ndarray  # (T, N) listed, traded, C > 0
    listed: np.ndarray
    ul: np.ndarray
    ll: np.ndarray
    row_of: np.ndarray  # (T, N) row of the market frame, −1 where absent
    sector: pl.Series  # S33 of each market row


def _ffill(values: np.ndarray) -> np.ndarray:
    """Carry the last finite value of each column forward along axis 0."""
    valid = np.isfinite(values)
    idx = np.where(valid, np.arange(values.shape[0])[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = values[idx, np.arange(values.shape[1])[None, :]]
    seen = np.maximum.accumulate(valid, axis=0)
    return np.where(seen, out, np.nan)


def _check_columns(frame: pl.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise BacktestError(f"{name}: missing columns {missing} (has {frame.columns})")


def _densify(market: pl.DataFrame) -> _Dense:
    _check_columns(market, "market", _REQUIRED)
    if market.height == 0:
        raise BacktestError("market: no rows")
    dates = market["Date"].cast(pl.Date).unique().sort()
    codes = market["Code"].cast(pl.String).unique().sort()
    listed_expr = pl.col("listed").fill_null(False) if "listed" in market.columns else pl.lit(True)
    rows = market.select(
        # Dates are located by binary search in the sorted dates; sorted-Enum physical codes are
        # the positions in the sorted code list (hash lookups, no join).
        t=pl.lit(dates.search_sorted(market["Date"].cast(pl.Date))),
        i=pl.col("Code").cast(pl.String).cast(pl.Enum(codes.to_list())).to_physical(),
        C=pl.col("C").cast(pl.Float64),
        AdjFactor=pl.col("AdjFactor").cast(pl.Float64).fill_null(1.0),
        UL=pl.col("UL").cast(pl.Boolean).fill_null(False),
        LL=pl.col("LL").cast(pl.Boolean).fill_null(False),
        no_trade=pl.col("no_trade").cast(pl.Boolean).fill_null(True),
        listed=listed_expr,
    )
    n_t, n_i = dates.len(), codes.len()
    t = rows["t"].to_numpy().astype(np.int64)
    i = rows["i"].to_numpy().astype(np.int64)
    key = t * n_i + i
    repeated = np.bincount(key, minlength=n_t * n_i)[key] > 1
    if repeated.any():
        first = int(np.flatnonzero(repeated)[0])
        raise BacktestError(
            f"market: {int(repeated.sum())} rows repeat a (Date, Code) pair, first "
            f"{dates[int(t[first])]} {codes[int(i[first])]}"
        )

    def grid(column: str, fill: float | bool, dtype: type) -> np.ndarray:
        out = np.full((n_t, n_i), fill, dtype=dtype)
        out[t, i] = rows[column].to_numpy().astype(dtype)
        return out

    listed = grid("listed", False, bool)
    close = grid("C", np.nan, np.float64)
    bad = listed & np.isfinite(close) & (close <= 0)
    if bad.any():
        tt, ii = np.argwhere(bad)[0]
        raise BacktestError(
            f"market: non-positive close C={close[tt, ii]} for {codes[int(ii)]} on {dates[int(tt)]}"
        )
    adj_factor = np.where(listed, grid("AdjFactor", 1.0, np.float64), 1.0)
    if (adj_factor <= 0).any() or not np.isfinite(adj_factor).all():
        tt, ii = np.argwhere((adj_factor <= 0) | ~np.isfinite(adj_factor))[0]
        raise BacktestError(
            f"market: invalid AdjFactor {adj_factor[tt, ii]} for {codes[int(ii)]} on "
            f"{dates[int(tt)]}"
        )
    traded = listed & ~grid("no_trade", True, bool) & np.isfinite(close)
    close = np.where(traded, close, np.nan)
    factor = np.cumprod(adj_factor, axis=0)
    row_of = np.full((n_t, n_i), -1, dtype=np.int64)
    row_of[t, i] = np.arange(t.size)
    return _Dense(
        dates=dates.to_numpy(),
        codes=codes.to_list(),
        close=close,
        factor=factor,
        adj=_ffill(close / factor),
        tradable=traded,
        listed=listed,
        ul=grid("UL", False, bool),
        ll=grid("LL", False, bool),
        row_of=row_of,
        sector=market["S33"].cast(pl.String),
    )


def _decisions(
    scores: pl.DataFrame, dense: _Dense, config: BacktestConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trade-day index, sleeve and dense score row (N,) of every trading decision."""
    _check_columns(scores, "scores", ("Date", "Code", "score"))
    frame = scores.select("Date", "Code", pl.col("score").cast(pl.Float64)).filter(
        pl.col("score").is_finite()
    )
    decision_dates = frame["Date"].unique().sort().to_numpy()
    trade_idx = np.searchsorted(dense.dates, decision_dates, side="right")
    # A score dated before the first market day has no known next trading day in the window.
    keep = (decision_dates >= dense.dates[0]) & (trade_idx < dense.dates.size)
    decision_dates, trade_idx = decision_dates[keep], trade_idx[keep]
    if decision_dates.size == 0:
        raise BacktestError(
            f"scores: no score date in {dense.dates[0]}..{dense.dates[-1]} before the last market "
            "day; nothing to trade"
        )
    # Decision dates between two market days share a trade day: the latest one wins.
    last = np.r_[trade_idx[1:] != trade_idx[:-1], True]
    decision_dates, trade_idx = decision_dates[last], trade_idx[last]
    n_dec = decision_dates.size
    r = config.rebalance_days
    if config.overlapping:
        chosen = np.arange(n_dec)
        sleeve = chosen % r
    else:
        chosen = np.arange(0, n_dec, r)
        sleeve = np.zeros(chosen.size, dtype=np.int64)
    decision_dates, trade_idx = decision_dates[chosen], trade_idx[chosen]

    dec = pl.Series("Date", decision_dates).cast(pl.Date)
    codes = pl.Series("Code", dense.codes, dtype=pl.String)
    rows = frame.filter(
        pl.col("Date").is_in(dec.implode()) & pl.col("Code").cast(pl.String).is_in(codes.implode())
    )
    j = dec.search_sorted(rows["Date"]).to_numpy().astype(np.int64)
    i = rows["Code"].cast(pl.String).cast(pl.Enum(dense.codes)).to_physical().to_numpy()
    i = i.astype(np.int64)
    key = j * codes.len() + i
    repeated = np.bincount(key, minlength=dec.len() * codes.len())[key] > 1
    if repeated.any():
        first = int(np.flatnonzero(repeated)[0])
        raise BacktestError(
            f"scores: {int(repeated.sum())} rows repeat a (Date, Code) pair, first "
            f"{dec[int(j[first])]} {codes[int(i[first])]}"
        )
    matrix = np.full((dec.len(), codes.len()), np.nan)
    matrix[j, i] = rows["score"].to_numpy()
    return trade_idx, sleeve, matrix


def _smallest(key: np.ndarray, k: int, prefer_low_index: bool) -> np.ndarray:
    """Indices of the k smallest ``key`` values, ties at the cut broken by index (O(N))."""
    kth = np.partition(key, k - 1)[k - 1]
    better = np.flatnonzero(key < kth)
    ties = np.flatnonzero(key == kth)
    ties = ties if prefer_low_index else ties[::-1]
    return np.concatenate([better, ties[: k - better.size]])


def _target_shares(
    score: np.ndarray, price: np.ndarray, nav: float, config: BacktestConfig
) -> np.ndarray:
    """Target raw shares (N,) for one sleeve: equal-value top-k (and bottom-k) in whole lots.

    Stocks are ordered by score descending, ties by Code ascending: the longs are the first k of
    that order and the shorts the last k (among finite scores).
    """
    n = score.size
    valid = np.isfinite(score)
    n_valid = int(valid.sum())
    target = np.zeros(n)
    lot = config.lot_size
    price0 = np.where(np.isfinite(price), price, np.inf)
    k = min(config.top_k, n_valid if config.strategy == "long_only" else n_valid // 2)
    if k == 0 or nav <= 0:
        return target
    longs = _smallest(np.where(valid, -score, np.inf), k, prefer_low_index=True)
    if config.strategy == "long_only":
        target[longs] = np.floor(nav / k / (price0[longs] * lot)) * lot
        return target
    shorts = _smallest(np.where(valid, score, np.inf), k, prefer_low_index=False)
    target[longs] = np.floor(nav / (2 * k) / (price0[longs] * lot)) * lot
    target[shorts] = -np.floor(nav / (2 * k) / (price0[shorts] * lot)) * lot
    return target


def _trade(
    units: np.ndarray,
    cash: float,
    target: np.ndarray,
    t: int,
    dense: _Dense,
    config: BacktestConfig,
) -> tuple[np.ndarray, float, float, float]:
    """Trade one sleeve towards ``target`` on day t: new units, cash, traded value, cost."""
    factor = dense.factor[t]
    price = np.nan_to_num(dense.close[t], nan=0.0)
    # Rounding to 1e-6 share removes the float noise of u / F after a split, so a full exit
    # leaves exactly zero units.
    shares = np.round(units / factor, 6)
    delta = target - shares
    blocked = ~dense.tradable[t]
    if config.price_limits:
        blocked |= ((delta > 0) & dense.ul[t]) | ((delta < 0) & dense.ll[t])
    delta[blocked] = 0.0
    rate = config.cost_bps / 1e4
    buys = delta > 0
    sell_value = -float(delta[~buys] @ price[~buys])
    buy_value = float(delta[buys] @ price[buys])
    available = cash + sell_value * (1.0 - rate)
    if buy_value * (1.0 + rate) > available:
        scale = max(available, 0.0) / (buy_value * (1.0 + rate))
        lot = config.lot_size
        delta[buys] = np.floor(delta[buys] * scale / lot) * lot
    traded = float(np.abs(delta) @ price)
    cost = rate * traded
    cash = cash - float(delta @ price) - cost
    return (shares + delta) * factor, cash, traded, cost


def _sell_delisted(
    units: np.ndarray, cash: np.ndarray, adj_t: np.ndarray, unlisted: np.ndarray, cost_bps: float
) -> tuple[float, float]:
    """Sell every sleeve's holdings of stocks not listed today at their last price A, paying
    ``cost_bps`` on the value; updates ``units`` and ``cash`` in place, returns (traded, cost)."""
    gone = unlisted & (units != 0).any(axis=0)
    if not gone.any():
        return 0.0, 0.0
    value = units[:, gone] * adj_t[gone]
    gross = np.abs(value).sum(axis=1)
    fee = cost_bps / 1e4 * gross
    cash += value.sum(axis=1) - fee
    units[:, gone] = 0.0
    return float(gross.sum()), float(fee.sum())


def _benchmarks(
    dense: _Dense, benchmark: pl.DataFrame, days: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Benchmark and equal-weight universe daily returns on ``days`` (0 on the first day)."""
    _check_columns(benchmark, "benchmark", ("Date", "C"))
    levels = (
        pl.DataFrame({"Date": dense.dates})
        .join(
            benchmark.select("Date", pl.col("C").cast(pl.Float64)).unique("Date", keep="last"),
            on="Date",
            how="left",
        )["C"]
        .to_numpy()
        .astype(np.float64)
    )
    levels = _ffill(levels[:, None])[:, 0]
    missing = ~np.isfinite(levels[days])
    if missing.any():
        raise BacktestError(
            f"benchmark: no level on or before {dense.dates[days][missing][0]} (backtest days "
            f"{dense.dates[days[0]]}..{dense.dates[days[-1]]})"
        )
    bench_ret = np.zeros(days.size)
    bench_ret[1:] = levels[days[1:]] / levels[days[:-1]] - 1.0

    prev, cur = days[:-1], days[1:]
    member = dense.listed[prev] & dense.listed[cur] & np.isfinite(dense.adj[prev])
    stock_ret = np.where(member, dense.adj[cur] / np.where(member, dense.adj[prev], 1.0) - 1.0, 0.0)
    count = member.sum(axis=1)
    ew_ret = np.zeros(days.size)
    ew_ret[1:] = np.where(count > 0, stock_ret.sum(axis=1) / np.maximum(count, 1), 0.0)
    return bench_ret, ew_ret


def run_backtest(
    scores: pl.DataFrame, market: pl.DataFrame, benchmark: pl.DataFrame, config: BacktestConfig
) -> BacktestResult:
    """Backtest ``scores`` on ``market`` (see the module docstring for every rule and formula)."""
    dense = _densify(market)
    trade_idx, sleeve_of, score_rows = _decisions(scores, dense, config)
    n_sleeves = config.rebalance_days if config.overlapping else 1
    t0 = int(trade_idx[0])
    t_end = min(dense.dates.size - 1, int(trade_idx[-1]) + config.rebalance_days)
    days = np.arange(t0, t_end + 1)
    trades_on = {int(t): j for j, t in enumerate(trade_idx)}

    n_codes = len(dense.codes)
    units = np.zeros((n_sleeves, n_codes))
    cash = np.full(n_sleeves, config.capital / n_sleeves)
    nav_prev = config.capital
    out = {k: np.zeros(days.size) for k in ("ret_gross", "cost", "turnover", "nav")}
    n_long = np.zeros(days.size, dtype=np.int64)
    n_short = np.zeros(days.size, dtype=np.int64)
    pos_t, pos_i, pos_units = [], [], []

    for k, t in enumerate(days):
        adj_t = np.nan_to_num(dense.adj[t], nan=0.0)
        traded, cost = _sell_delisted(units, cash, adj_t, ~dense.listed[t], config.cost_bps)
        sleeve_nav = cash + units @ adj_t
        nav_pre = float(sleeve_nav.sum()) + cost
        j = trades_on.get(int(t))
        if j is not None:
            s = int(sleeve_of[j])
            target = _target_shares(score_rows[j], dense.close[t], float(sleeve_nav[s]), config)
            units[s], cash[s], day_traded, day_cost = _trade(
                units[s], cash[s], target, t, dense, config
            )
            traded, cost = traded + day_traded, cost + day_cost
        out["ret_gross"][k] = nav_pre / nav_prev - 1.0
        out["cost"][k] = cost / nav_prev
        out["turnover"][k] = traded / nav_prev
        nav_prev = nav_pre - cost
        out["nav"][k] = nav_prev
        total = units.sum(axis=0)
        held = np.flatnonzero(np.abs(total) > _EPS_SHARES)
        n_long[k] = int((total[held] > 0).sum())
        n_short[k] = int((total[held] < 0).sum())
        pos_t.append(np.full(held.size, t))
        pos_i.append(held)
        pos_units.append(total[held])

    bench_ret, ew_ret = _benchmarks(dense, benchmark, days)
    daily = pl.DataFrame(
        {
            "Date": dense.dates[days],
            "ret_gross": out["ret_gross"],
            "ret_net": out["ret_gross"] - out["cost"],
            "cost": out["cost"],
            "turnover": out["turnover"],
            "n_long": n_long,
            "n_short": n_short,
            "benchmark": bench_ret,
            "benchmark_ew": ew_ret,
            "nav": out["nav"],
        }
    ).with_columns(pl.col("Date").cast(pl.Date))
    positions, sector = _positions(dense, days, out["nav"], pos_t, pos_i, pos_units)
    return BacktestResult(daily=daily, positions=positions, sector_contribution=sector)


def _positions(
    dense: _Dense,
    days: np.ndarray,
    nav: np.ndarray,
    pos_t: list[np.ndarray],
    pos_i: list[np.ndarray],
    pos_units: list[np.ndarray],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Positions frame and per-sector sums of u_t · (A_{t+1} − A_t) / V_t."""
    t = np.concatenate(pos_t).astype(np.int64)
    i = np.concatenate(pos_i).astype(np.int64)
    u = np.concatenate(pos_units)
    nav_of_t = np.empty(dense.dates.size)
    nav_of_t[days] = nav
    adj_now = np.nan_to_num(dense.adj[t, i], nan=0.0)
    has_next = t < days[-1]
    t_next = np.where(has_next, t + 1, t)
    adj_next = np.nan_to_num(dense.adj[t_next, i], nan=0.0)
    contribution = np.where(has_next, u * (adj_next - adj_now) / nav_of_t[t], 0.0)
    rows = dense.row_of[t, i]
    sector = dense.sector.gather(np.maximum(rows, 0))
    if (rows < 0).any():  # a position on a day without a market row (sparse market input)
        sector = sector.scatter(np.flatnonzero(rows < 0), None)
    # Rows are in (day, code index) order, i.e. already sorted by Date and Code.
    frame = pl.DataFrame(
        {
            "Date": dense.dates[t],
            "Code": pl.Series(dense.codes, dtype=pl.String).gather(i),
            "shares": np.round(u / dense.factor[t, i], 6),
            "weight": u * adj_now / nav_of_t[t],
            "S33": sector,
            "contribution": contribution,
        }
    ).with_columns(pl.col("Date").cast(pl.Date))
    by_sector = (
        frame.group_by("S33")
        .agg(pl.col("contribution").sum())
        .sort("contribution", descending=True, nulls_last=True)
    )
    return frame.drop("contribution"), by_sector
