"""Hidden ownership states behind the EDINET tables and their planted return effects.

``draw_ownership(config, days, universe, listed)`` runs with the other latents, before prices:

* **Major holders.** Each stock has ten standing holders (``HOLDERS`` picks distinct names per
  stock) whose ratios of shares outstanding sum to the stock's *concentration*
  ``top10[i] = clip(exp(N(log 0.35, 0.35)), 0.08, 0.85)`` (``rng_static``); weights
  ``w_k ∝ exp(-0.3 k) · LN(0, 0.3)``. Each annual report redraws the year's total as
  ``top10[i] · exp(0.06 e)`` and each ratio with a ``LN(0, 0.1)`` drift (``side/edinet.py``).
* **Large holders (5 % rule).** ``LV_SLOTS`` potential outside holders per stock. On each trading
  day a free slot of a listed stock is taken by a new holder with probability ``NEW_RATE``, at
  ratio ``0.05 + Exp(0.02)`` (a first report, type ``"1"``); each active holder moves its ratio
  by ``±U(1, 3) pp`` with probability ``CHANGE_RATE`` a day (55 % up, never above
  ``MAX_LARGE_RATIO``; a change report, type ``"2"``); below 5 % it files its last change report and the slot is free again. Submission
  times are uniform over 09:00-17:59 (minute resolution).

Planted effects (daily-return units, demeaned across listed stocks by ``Latents.contributions``):

* ``activist``: ``+STRENGTH · Σ_e ACTIVIST_DECAY^(t - u_e)`` over the stock's first reports ``e``
  with usable day ``u_e <= t``; ``u_e`` is the submission day if submitted before 15:00, else the
  next trading day (the ``edinet_submission`` availability rule);
* ``concentration``: ``+STRENGTH · zs(log top10)`` on every listed day (a static tilt that the
  annual reports reveal with noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

import numpy as np
import polars as pl

from gogooku.synth.config import SynthConfig, rng_for, rng_static
from gogooku.synth.signals import zscore_rows

LV_SLOTS = 3
LARGE_THRESHOLD = 0.05
MAX_LARGE_RATIO = 0.3
NEW_RATE = 0.35 / 245.0
CHANGE_RATE = 1.0 / 40.0
ACTIVIST_DECAY = 0.95
SUBMISSION_CUTOFF = time(15, 0)
FIRST_MINUTE, LAST_MINUTE = 9 * 60, 17 * 60 + 59


@dataclass(frozen=True)
class Ownership:
    """Ownership latents: standing concentration and the large-holding reports."""

    top10: np.ndarray  # (N,) sum of the ten standing holders' ratios
    weights: np.ndarray  # (N, 10) standing holders' shares of top10, descending, sum 1
    reports: pl.DataFrame  # day_idx, code_idx, slot, kind, ratio, prev_ratio, minute


def _simulate_large_holders(
    config: SynthConfig, days: list[date], listed: np.ndarray
) -> pl.DataFrame:
    """Large-holding reports: (day_idx, code_idx, slot, kind, ratio, prev_ratio, minute)."""
    n = listed.shape[1]
    ratio = np.zeros((n, LV_SLOTS))
    chunks: list[tuple[np.ndarray, ...]] = []
    for t, day in enumerate(days):
        rng = rng_for(config.seed, "large_holders", day)
        u_new = rng.random(n)
        new_ratio = LARGE_THRESHOLD + rng.exponential(0.02, n)
        u_change = rng.random((n, LV_SLOTS))
        step = rng.uniform(0.01, 0.03, (n, LV_SLOTS)) * np.where(
            rng.random((n, LV_SLOTS)) < 0.55, 1.0, -1.0
        )
        minute = rng.integers(FIRST_MINUTE, LAST_MINUTE + 1, (n, LV_SLOTS))
        held = ratio > 0
        change = (
            held & (u_change < CHANGE_RATE) & listed[t][:, None] & (ratio + step <= MAX_LARGE_RATIO)
        )
        prev = ratio.copy()
        ratio = np.where(change, np.maximum(ratio + step, 0.0), ratio)
        free = ~held
        slot = np.argmax(free, axis=1)
        new = listed[t] & free.any(axis=1) & (u_new < NEW_RATE)
        kind = np.where(change, 2, 0)
        ii = np.nonzero(new)[0]
        ratio[ii, slot[ii]] = new_ratio[ii]
        kind[ii, slot[ii]] = 1
        filed = np.nonzero(kind)
        if filed[0].size:
            chunks.append(
                (
                    np.full(filed[0].size, t),
                    filed[0],
                    filed[1],
                    kind[filed],
                    np.round(ratio[filed], 4),
                    np.where(kind[filed] == 1, np.nan, np.round(prev[filed], 4)),
                    minute[filed],
                )
            )
        ratio = np.where(ratio < LARGE_THRESHOLD, 0.0, ratio)
    cols = ("day_idx", "code_idx", "slot", "kind", "ratio", "prev_ratio", "minute")
    if chunks:
        data = [np.concatenate([c[k] for c in chunks]) for k in range(len(cols))]
    else:
        data = [np.empty(0, dtype=np.int64)] * 4 + [np.empty(0)] * 2 + [np.empty(0, np.int64)]
    return pl.DataFrame(dict(zip(cols, data, strict=True)), nan_to_null=True).cast(
        dict.fromkeys(("day_idx", "code_idx", "slot", "kind", "minute"), pl.Int64)
    )


def draw_ownership(
    config: SynthConfig, days: list[date], universe: pl.DataFrame, listed: np.ndarray
) -> Ownership:
    """Standing holders of every stock and the large-holding reports over ``days``."""
    n = universe.height
    rng = rng_static(config, "ownership")
    top10 = np.clip(np.exp(rng.normal(np.log(0.35), 0.35, n)), 0.08, 0.85)
    raw = np.exp(-0.3 * np.arange(10))[None, :] * np.exp(rng.normal(0.0, 0.3, (n, 10)))
    weights = -np.sort(-raw, axis=1)
    weights /= weights.sum(axis=1, keepdims=True)
    reports = _simulate_large_holders(config, days, listed)
    return Ownership(top10=top10, weights=weights, reports=reports)


def usable_index(reports: pl.DataFrame) -> np.ndarray:
    """Usable day index of each report: its day if submitted before 15:00, else the next."""
    late = reports["minute"].to_numpy() >= SUBMISSION_CUTOFF.hour * 60
    return reports["day_idx"].to_numpy() + late.astype(np.int64)


def activist_contribution(ownership: Ownership, listed: np.ndarray, strength: float) -> np.ndarray:
    """``strength · Σ_e ACTIVIST_DECAY^(t - u_e)`` over first reports usable by ``t``."""
    n_days, n = listed.shape
    first = ownership.reports.filter(pl.col("kind") == 1)
    usable = usable_index(first)
    keep = usable < n_days
    shocks = np.zeros((n_days, n))
    np.add.at(shocks, (usable[keep], first["code_idx"].to_numpy()[keep]), 1.0)
    out = np.empty((n_days, n))
    level = np.zeros(n)
    for t in range(n_days):
        level = ACTIVIST_DECAY * level + strength * shocks[t]
        out[t] = level
    return out


def concentration_contribution(
    ownership: Ownership, listed: np.ndarray, strength: float
) -> np.ndarray:
    """``strength · zs(log top10)`` over the listed stocks of each day."""
    level = np.broadcast_to(np.log(ownership.top10)[None, :], listed.shape)
    return strength * zscore_rows(level, listed)
