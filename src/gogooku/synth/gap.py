"""The linear gap: how much of the oracle a linear model of the oracle's own states recovers.

``generate_market(config, keep_states=True)`` keeps ``market.states`` (``market.state_frame``):
one row per listed (Date, Code) with the inputs of ``mu`` at ``t`` — the price scores ``z_reversal``,
``z_momentum``, ``z_peer``, the hidden ``high_vol`` regime flag, ``side`` (the sum of the side
contributions) and, in version 2, ``nonlinear.NonlinearState.states`` (lead–lag score, liquidity
and size ranks, market context, crowding) and the value score ``z_value`` (``value.ValueState``).

``linear_gap`` fits ridge regressions on those inputs taken linearly (no products, no
transforms) over the first half of the days and scores the second half: ``ridge_fit_oracle`` is
fitted to the oracle itself (the best any linear model of the states can do), ``ridge_fit_label``
to the realised label (what such a model learns from data). In version 1 every planted effect is
linear in these states, so ``ridge_fit_oracle`` nearly equals the oracle; in version 2 the
interactions (liquidity × reversal × context × crowding, crash state × momentum, size ×
lead–lag) and saturations leave a gap only nonlinear or cross-sectional models can close.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from gogooku.synth.stats import daily_rank_ic, labels

if TYPE_CHECKING:
    from gogooku.synth.market import SyntheticMarket

RIDGE_ALPHA = 1.0


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """``argmin |y − Xb|² + α |b|²`` on standardised columns (intercept unpenalised)."""
    x1 = np.column_stack([np.ones(len(x)), x])
    penalty = alpha * np.eye(x1.shape[1])
    penalty[0, 0] = 0.0
    return np.linalg.solve(x1.T @ x1 + penalty, x1.T @ y)


def linear_gap(market: SyntheticMarket, horizon: int = 5) -> dict[str, float]:
    """Mean daily RankIC with the realised ``target_{h}d`` over the second half of the days of
    the oracle, ``ridge_fit_oracle`` and ``ridge_fit_label``, and ``ridge_oracle_corr``: the mean
    daily rank correlation of ``ridge_fit_oracle`` with the oracle (1 = a linear model of the
    states is the oracle). Targets are demeaned per day before fitting (only ranks matter)."""
    if market.states is None:
        raise ValueError("linear_gap needs generate_market(..., keep_states=True)")
    oracle, target = f"exp_target_{horizon}d", f"target_{horizon}d"
    inputs = [c for c in market.states.columns if c not in ("Date", "Code")]
    frame = (
        market.states.join(market.oracle.select("Date", "Code", oracle), on=["Date", "Code"])
        .join(labels(market.tables["equities_bars_daily"], (horizon,)), on=["Date", "Code"])
        .drop_nulls(target)
        .filter(pl.col(target).is_finite())
        .with_columns(
            (pl.col(c) - pl.col(c).mean().over("Date")).alias(f"{c}_dm") for c in (oracle, target)
        )
    )
    days = frame["Date"].unique().sort()
    cut = days[len(days) // 2]
    fit, test = frame.filter(pl.col("Date") < cut), frame.filter(pl.col("Date") >= cut)
    x_fit = fit.select(inputs).to_numpy()
    mean, std = x_fit.mean(axis=0), x_fit.std(axis=0)
    std[std == 0] = 1.0
    scale = lambda x: (x - mean) / std  # noqa: E731
    x_test = np.column_stack([np.ones(test.height), scale(test.select(inputs).to_numpy())])
    preds = {}
    for name, y in (("ridge_fit_oracle", f"{oracle}_dm"), ("ridge_fit_label", f"{target}_dm")):
        beta = _ridge(scale(x_fit), fit[y].to_numpy(), RIDGE_ALPHA)
        preds[name] = x_test @ beta
    test = test.with_columns(pl.Series(k, v) for k, v in preds.items())
    out = {c: float(daily_rank_ic(test, c, target).mean()) for c in (oracle, *preds)}
    out["oracle"] = out.pop(oracle)
    out["ridge_oracle_corr"] = float(daily_rank_ic(test, "ridge_fit_oracle", oracle).mean())
    return out
