"""Paired statistics of two runs scored on the same days (``gogooku compare``).

Pure functions of aligned daily series ``a`` (the reference run A) and ``b`` (run B), both of
length n, finite, day t of one being day t of the other. Every difference is B − A.

- mean difference       d̄ = (1/n) Σ_t d_t,  d_t = b_t − a_t  (daily RankIC of B minus A)
- autocovariance        γ_l = (1/n) Σ_{t=l+1}^{n} (d_t − d̄)(d_{t−l} − d̄)
- Newey–West variance   S = γ_0 + 2 Σ_{l=1}^{L} (1 − l/(L+1)) γ_l   (Bartlett kernel), the
  long-run variance of d; the variance of d̄ is S/n
- lag                   L = max(h − 1, ⌊4 (n/100)^{2/9}⌋) for an h-day horizon: overlapping
  h-day labels make d an MA(h − 1) under the null, and ⌊4 (n/100)^{2/9}⌋ is Newey and West's
  (1994) plug-in rule of thumb
- Diebold–Mariano t     DM = d̄ / √(S/n), two-sided p = 2 (1 − Φ(|DM|)) = erfc(|DM|/√2)
  (normal reference distribution; no Harvey–Leybourne–Newbold small-sample correction)
- Sharpe difference     Sharpe(b) − Sharpe(a), Sharpe(x) = mean(x)/std(x, ddof=1)·√P with P the
  periods per year of the common period (the evaluator's annualisation)

Intervals are percentile intervals of a **paired** circular block bootstrap: one index matrix
(``gogooku.evaluate.bootstrap.block_bootstrap_indices``) resamples the same day blocks of both
series, so the days' cross-run correlation is kept; the statistic of each replicate is
stat(b[idx]) − stat(a[idx]). The block length is the evaluator's default, max(h, ⌈n^{1/3}⌉).

Why our own bootstrap: :mod:`gogooku.evaluate.bootstrap` is the same Politis–Romano circular
block bootstrap as ``arch.bootstrap.CircularBlockBootstrap``; we keep ours rather than take on
``arch`` and its statsmodels/pandas dependency, and it is seeded and vectorised over replicates.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from gogooku.evaluate import bootstrap

Statistic = Callable[[np.ndarray], np.ndarray]


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired series need equal 1-d shapes, got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired series must be finite (align them on common days first)")
    return a, b


def mean_difference(a: np.ndarray, b: np.ndarray) -> float | None:
    """d̄ = (1/n) Σ_t (b_t − a_t); None for empty series."""
    a, b = _pair(a, b)
    return float(np.mean(b - a)) if a.size else None


def newey_west_lag(n: int, horizon: int = 1) -> int:
    """L = max(h − 1, ⌊4 (n/100)^{2/9}⌋) (0 for n < 1)."""
    if n < 1:
        return 0
    return max(horizon - 1, math.floor(4 * (n / 100) ** (2 / 9)))


def autocovariance(x: np.ndarray, lag: int) -> float:
    """γ_l = (1/n) Σ_{t=l+1}^{n} (x_t − x̄)(x_{t−l} − x̄) (divisor n at every lag, as
    Newey–West; 0 when l ≥ n)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if lag >= n:
        return 0.0
    c = x - x.mean()
    return float(np.dot(c[lag:], c[: n - lag]) / n)


def newey_west_variance(x: np.ndarray, lag: int) -> float:
    """Long-run variance S = γ_0 + 2 Σ_{l=1}^{L} (1 − l/(L+1)) γ_l (Bartlett weights)."""
    s = autocovariance(x, 0)
    for lag_l in range(1, lag + 1):
        s += 2 * (1 - lag_l / (lag + 1)) * autocovariance(x, lag_l)
    return s


def normal_two_sided_p(t: float) -> float:
    """p = 2 (1 − Φ(|t|)) = erfc(|t|/√2)."""
    return math.erfc(abs(t) / math.sqrt(2))


def diebold_mariano(a: np.ndarray, b: np.ndarray, horizon: int = 1) -> dict[str, float | None]:
    """DM = d̄ / √(S/n) of d = b − a with S the Newey–West variance at lag
    :func:`newey_west_lag` (n, h), and its two-sided normal p-value.

    Returns ``mean``, ``t_stat``, ``p_value``, ``lag``, ``n``; ``t_stat`` and ``p_value`` are None
    for n < 2 or S ≤ 0 (e.g. identical series)."""
    a, b = _pair(a, b)
    d = b - a
    n = int(d.size)
    lag = newey_west_lag(n, horizon)
    out: dict[str, float | None] = {
        "mean": float(d.mean()) if n else None,
        "t_stat": None,
        "p_value": None,
        "lag": lag,
        "n": n,
    }
    if n < 2:
        return out
    s = newey_west_variance(d, lag)
    if not s > 0:
        return out
    t = float(d.mean() / math.sqrt(s / n))
    out["t_stat"] = t
    out["p_value"] = normal_two_sided_p(t)
    return out


def paired_bootstrap_ci(
    a: np.ndarray,
    b: np.ndarray,
    statistic: Statistic,
    block: int,
    replicates: int = bootstrap.DEFAULT_REPLICATES,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, float | int | None]:
    """Percentile interval of stat(b) − stat(a) over a paired circular block bootstrap.

    ``statistic`` maps a ``(replicates, n)`` array to one value per row (as
    :func:`gogooku.evaluate.bootstrap.mean_statistic`). Each replicate draws one index row and
    applies it to both series. Returns ``estimate`` (stat(b) − stat(a) on the series), ``low``,
    ``high``, ``block``, ``replicates``, ``confidence``, ``n``; null bounds for n < 2, a null
    estimate where the statistic is undefined (NaN), and replicates with an undefined statistic
    are left out of the percentiles.
    """
    a, b = _pair(a, b)
    n = int(a.size)
    if n < 2:
        return bootstrap.interval(None, None, block, replicates, alpha, n=n)
    est = float(statistic(b[None, :])[0] - statistic(a[None, :])[0])
    idx = bootstrap.block_bootstrap_indices(n, min(block, n), replicates, seed)
    with np.errstate(invalid="ignore"):
        diffs = statistic(b[idx]) - statistic(a[idx])
    estimate = est if math.isfinite(est) else None
    return bootstrap.interval(estimate, diffs, block, replicates, alpha, n=n)


def mean_difference_ci(
    a: np.ndarray,
    b: np.ndarray,
    horizon: int = 1,
    replicates: int = bootstrap.DEFAULT_REPLICATES,
    seed: int = 0,
) -> dict[str, float | int | None]:
    """:func:`paired_bootstrap_ci` of the mean, block max(h, ⌈n^{1/3}⌉): the interval of d̄."""
    return paired_bootstrap_ci(
        a,
        b,
        bootstrap.mean_statistic,
        bootstrap.default_block_length(len(a), horizon),
        replicates=replicates,
        seed=seed,
    )


def sharpe_difference_ci(
    a: np.ndarray,
    b: np.ndarray,
    periods_per_year: float,
    horizon: int = 1,
    replicates: int = bootstrap.DEFAULT_REPLICATES,
    seed: int = 0,
) -> dict[str, float | int | None]:
    """:func:`paired_bootstrap_ci` of Sharpe(b) − Sharpe(a), Sharpe = mean/std(ddof=1)·√P."""
    return paired_bootstrap_ci(
        a,
        b,
        bootstrap.sharpe_statistic(periods_per_year),
        bootstrap.default_block_length(len(a), horizon),
        replicates=replicates,
        seed=seed,
    )
