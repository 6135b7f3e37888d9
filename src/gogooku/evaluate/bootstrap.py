"""Circular block bootstrap over days for confidence intervals of time-series statistics.

Daily values (RankIC, returns) are autocorrelated — overlapping h-day targets make neighbouring
days share h − 1 returns — so days are resampled in blocks (Politis & Romano's circular block
bootstrap): each replicate concatenates ⌈n/b⌉ blocks ``x[s], x[s+1], …, x[s+b−1]`` (indices mod
n) with uniformly drawn starts s and keeps the first n values. The interval is the
(α/2, 1 − α/2) percentile interval of the statistic over the replicates. The default block length
is b = max(h, ⌈n^(1/3)⌉) for an h-day horizon.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

DEFAULT_REPLICATES = 1000


def default_block_length(n: int, horizon: int = 1) -> int:
    return max(1, horizon, math.ceil(n ** (1 / 3)))


def block_bootstrap_indices(n: int, block: int, replicates: int, seed: int) -> np.ndarray:
    """``(replicates, n)`` index matrix of circular blocks of length ``block``."""
    if n < 1 or block < 1:
        raise ValueError(f"block bootstrap needs n ≥ 1 and block ≥ 1, got n={n}, block={block}")
    rng = np.random.default_rng(seed)
    n_blocks = math.ceil(n / block)
    starts = rng.integers(0, n, size=(replicates, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]) % n
    return idx.reshape(replicates, n_blocks * block)[:, :n]


def block_bootstrap_ci(
    values: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    block: int,
    replicates: int = DEFAULT_REPLICATES,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, float | int | None]:
    """Percentile CI of ``statistic`` (applied row-wise to a ``(replicates, n)`` array).

    Returns ``estimate`` (the statistic on the original series), ``low``, ``high``, ``block``,
    ``replicates`` and ``confidence``. Needs at least 2 finite values, else the bounds are null.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    out = interval(None, None, block, replicates, alpha)
    if x.size < 2:
        return out
    samples = x[block_bootstrap_indices(x.size, min(block, x.size), replicates, seed)]
    return interval(float(statistic(x[None, :])[0]), statistic(samples), block, replicates, alpha)


def interval(
    estimate: float | None,
    replicated: np.ndarray | None,
    block: int,
    replicates: int,
    alpha: float,
    **extra: int,
) -> dict[str, float | int | None]:
    """The interval record: ``estimate``, the (α/2, 1 − α/2) percentiles ``low``/``high`` of the
    finite ``replicated`` statistics (null when there are none), ``block``, ``replicates``,
    ``confidence`` and ``extra``."""
    finite = None if replicated is None else replicated[np.isfinite(replicated)]
    some = finite is not None and finite.size > 0
    return {
        "estimate": estimate,
        "low": float(np.quantile(finite, alpha / 2)) if some else None,
        "high": float(np.quantile(finite, 1 - alpha / 2)) if some else None,
        "block": block,
        "replicates": replicates,
        "confidence": 1 - alpha,
        **extra,
    }


def mean_statistic(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=1)


def ir_statistic(samples: np.ndarray) -> np.ndarray:
    """Row-wise information ratio mean/std(ddof=1), not annualised (the ICIR of daily ICs);
    NaN where std = 0."""
    std = samples.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, samples.mean(axis=1) / std, np.nan)


def sharpe_statistic(periods_per_year: float) -> Callable[[np.ndarray], np.ndarray]:
    """Row-wise annualised Sharpe mean/std(ddof=1)·√P (NaN where std = 0)."""

    def stat(samples: np.ndarray) -> np.ndarray:
        std = samples.std(axis=1, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(
                std > 0, samples.mean(axis=1) / std * math.sqrt(periods_per_year), np.nan
            )

    return stat
