"""Portfolio statistics of a daily return series, in empyrical's conventions.

r is the series of simple daily returns, n its length and P the periods per year, taken from the
trading calendar of the evaluated range (:func:`periods_per_year`), never a hard-coded 252:

- mean daily return    = mean(r); daily Sharpe = mean(r) / std(r, ddof=1)  (not annualised)
- annual return (CAGR)  = (∏(1 + r))^(P/n) − 1                       (compounded)
- annual volatility     = std(r, ddof=1)·√P
- Sharpe                = mean(r) / std(r, ddof=1)·√P                 (risk-free 0)
- downside risk         = √(mean over all days of min(r, 0)²)·√P
- Sortino               = mean(r)·P / downside risk
- max drawdown          = min_t (W_t − max_{s≤t} W_s)/max_{s≤t} W_s, W = 1 then ∏(1 + r)
- Calmar                = CAGR / |max drawdown|
- VaR 95 %              = 5th percentile of r (historical, linear interpolation)
- CVaR 95 %             = mean of the ⌊(n − 1)·0.05⌋ + 1 lowest returns
- tail ratio            = |95th percentile| / |5th percentile|
- beta                  = cov(r, b) / var(b) against benchmark returns b
- monthly/yearly return = ∏(1 + r) − 1 within the calendar month/year

Annualising a series shorter than a year extrapolates it: :func:`is_short_span` (fewer than
:data:`MIN_ANNUAL_DAYS` days) marks those, and the evaluator records ``short_span`` and
``span_days`` per split so the report flags the annualised figures ("annualised from N days").

:func:`qlib_risk_analysis` gives Qlib's arithmetic convention for comparison with its tables:
annualized_return = mean(r)·P, information_ratio = mean(r)/std(r, ddof=1)·√P, max_drawdown =
min_t (Σ_{s≤t} r_s − max_{u≤t} Σ_{s≤u} r_s) (Qlib uses P = 238 for China; here P is the TSE's).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl

from gogooku.calendar import TradingCalendar

VAR_CUTOFF = 0.05
# A TSE year has 243-246 sessions; a few days of slack so a full year with a missing day or two
# of predictions still counts as a year.
MIN_ANNUAL_DAYS = 240


def is_short_span(n_days: int) -> bool:
    """Whether ``n_days`` trading days are fewer than a year (:data:`MIN_ANNUAL_DAYS`)."""
    return n_days < MIN_ANNUAL_DAYS


def periods_per_year(calendar: TradingCalendar, start: dt.date, end: dt.date) -> float:
    """Trading days per year of ``start..end``: trading days in the range / calendar years spanned.

    The span is (end − start + 1 day) / 365.25 days, so a full TSE year gives its ~245 sessions.
    """
    if end < start:
        raise ValueError(f"periods_per_year: end {end} is before start {start}")
    days = calendar.count(start, end)
    years = ((end - start).days + 1) / 365.25
    return days / years


def _clean(returns: np.ndarray | pl.Series) -> np.ndarray:
    x = returns.to_numpy() if isinstance(returns, pl.Series) else np.asarray(returns)
    x = x.astype(np.float64)
    return x[~np.isnan(x)]


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def annual_return(r: np.ndarray, ppy: float) -> float | None:
    r = _clean(r)
    if r.size == 0:
        return None
    growth = float(np.prod(1.0 + r))
    return _finite(growth ** (ppy / r.size) - 1.0) if growth > 0 else -1.0


def annual_volatility(r: np.ndarray, ppy: float) -> float | None:
    r = _clean(r)
    return _finite(r.std(ddof=1) * math.sqrt(ppy)) if r.size > 1 else None


def sharpe_ratio(r: np.ndarray, ppy: float) -> float | None:
    r = _clean(r)
    if r.size < 2:
        return None
    std = r.std(ddof=1)
    return _finite(r.mean() / std * math.sqrt(ppy)) if std > 0 else None


def downside_risk(r: np.ndarray, ppy: float) -> float | None:
    r = _clean(r)
    if r.size == 0:
        return None
    return _finite(math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) * math.sqrt(ppy))


def sortino_ratio(r: np.ndarray, ppy: float) -> float | None:
    r = _clean(r)
    dr = downside_risk(r, ppy)
    if dr is None or dr == 0:
        return None
    return _finite(r.mean() * ppy / dr)


def drawdown_series(r: np.ndarray) -> np.ndarray:
    """(W_t − running max)/running max for W = 1, ∏(1 + r) (length n + 1, first value 0)."""
    wealth = np.concatenate([[1.0], np.cumprod(1.0 + _clean(r))])
    peak = np.maximum.accumulate(wealth)
    return (wealth - peak) / peak


def max_drawdown(r: np.ndarray) -> float | None:
    r = _clean(r)
    return float(drawdown_series(r).min()) if r.size else None


def calmar_ratio(r: np.ndarray, ppy: float) -> float | None:
    mdd = max_drawdown(r)
    ar = annual_return(r, ppy)
    if mdd is None or ar is None or mdd >= 0:
        return None
    return _finite(ar / abs(mdd))


def value_at_risk(r: np.ndarray, cutoff: float = VAR_CUTOFF) -> float | None:
    r = _clean(r)
    return float(np.percentile(r, 100 * cutoff)) if r.size else None


def conditional_value_at_risk(r: np.ndarray, cutoff: float = VAR_CUTOFF) -> float | None:
    r = _clean(r)
    if r.size == 0:
        return None
    k = int((r.size - 1) * cutoff)
    return float(np.mean(np.partition(r, k)[: k + 1]))


def tail_ratio(r: np.ndarray) -> float | None:
    r = _clean(r)
    if r.size == 0:
        return None
    low = abs(np.percentile(r, 5))
    return _finite(abs(np.percentile(r, 95)) / low) if low > 0 else None


def beta(r: np.ndarray, benchmark: np.ndarray) -> float | None:
    """cov(r, b)/var(b) over the days where both are known."""
    x = np.asarray(r, dtype=np.float64)
    b = np.asarray(benchmark, dtype=np.float64)
    ok = ~np.isnan(x) & ~np.isnan(b)
    x, b = x[ok], b[ok]
    if x.size < 2:
        return None
    var = float(np.mean((b - b.mean()) ** 2))
    return _finite(float(np.mean((b - b.mean()) * (x - x.mean()))) / var) if var > 0 else None


def return_stats(r: np.ndarray | pl.Series, ppy: float) -> dict[str, float | int | None]:
    """All single-series statistics of the module docstring (plus total return and day count)."""
    x = _clean(r)
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return {
        "n_days": int(x.size),
        "mean_daily": float(x.mean()) if x.size else None,
        "daily_sharpe": _finite(float(x.mean()) / std) if std > 0 else None,
        "total_return": float(np.prod(1.0 + x) - 1.0) if x.size else None,
        "annual_return": annual_return(x, ppy),
        "annual_volatility": annual_volatility(x, ppy),
        "sharpe": sharpe_ratio(x, ppy),
        "sortino": sortino_ratio(x, ppy),
        "max_drawdown": max_drawdown(x),
        "calmar": calmar_ratio(x, ppy),
        "var_95": value_at_risk(x),
        "cvar_95": conditional_value_at_risk(x),
        "tail_ratio": tail_ratio(x),
    }


def qlib_risk_analysis(r: np.ndarray | pl.Series, ppy: float) -> dict[str, float | None]:
    """Qlib ``risk_analysis`` (mode "sum"): mean, std, annualized_return, information_ratio, max_drawdown."""
    x = _clean(r)
    if x.size < 2:
        return {
            "mean": None,
            "std": None,
            "annualized_return": None,
            "information_ratio": None,
            "max_drawdown": None,
        }
    cum = np.cumsum(x)
    std = float(x.std(ddof=1))
    return {
        "mean": float(x.mean()),
        "std": std,
        "annualized_return": float(x.mean() * ppy),
        "information_ratio": _finite(x.mean() / std * math.sqrt(ppy)) if std > 0 else None,
        "max_drawdown": float((cum - np.maximum.accumulate(cum)).min()),
    }


def period_returns(daily: pl.DataFrame, column: str, every: str) -> pl.DataFrame:
    """Compounded returns per calendar month (``every="month"``) or year (``"year"``).

    Output ``year, month, ret`` (monthly) or ``year, ret`` (yearly), ret = ∏(1 + r) − 1.
    """
    keys = {"month": ["year", "month"], "year": ["year"]}
    if every not in keys:
        raise ValueError(f"period_returns: every must be 'month' or 'year', got {every!r}")
    return (
        daily.select("Date", column)
        .drop_nulls(column)
        .with_columns(year=pl.col("Date").dt.year(), month=pl.col("Date").dt.month())
        .group_by(keys[every])
        .agg(ret=(pl.col(column) + 1.0).product() - 1.0)
        .sort(keys[every])
    )
