"""Market version 2's value effect: book-to-price from the published statements.

The book is the statements' own: ``BPS`` of the latest ``fins_summary`` statement disclosed on a
trading day strictly before ``t`` (``side.statements.book_per_share``), restated to the share
count of ``t`` (``× m_disc / m_t``, ``m`` the split multiplier), exactly as
``equities_valuation`` does; with ``C[t]`` the stock's last close at ``t``::

    B/P[t, i] = BPS[t, i] / C[t, i]                      (= 1 / PBR of equities_valuation)
    val[t, i] = D[t] · S_VALUE · zs(log B/P[t])[i]

``zs`` standardises over the listed stocks with a book (a stock without a usable statement yet
has no term), ``D[t]`` is the model dispersion and the term is demeaned across the stocks listed
on ``t`` like every version-2 term. A model can recover it only from point-in-time published
data: the statement's publication date and the day's close (or the valuation table's PBR).

Strength: value in Japan is strong and momentum weak (Chan, Hamao & Lakonishok 1991: B/P is the
most significant of four fundamental variables in monthly cross-sectional regressions, 1971–88;
Fama & French 1998 and Asness, Moskowitz & Pedersen 2013: a value premium of the order of
10 % a year in Japan). ``S_VALUE = 0.005`` is the daily IC of the score; with the top and bottom
quintiles' mean scores ``±1.40`` and ``D ≈ 2.3 %`` it gives a long-short quintile spread of
``2.8 · S_VALUE · D · 20 ≈ 0.65 %`` a month (≈ 8 % a year), a monthly RankIC of ≈ 0.02: inside
the published range, on its lower side (the premium has weakened since those samples).

Because B/P holds the price, value is negatively correlated with momentum (past winners have low
B/P), as in Asness, Moskowitz & Pedersen 2013. Persistence: the score moves only with the
day's demeaned return (≈ 2 % against a cross-sectional std of log B/P of ≈ 0.6) and a new
statement each quarter, so ``E_t[val[t+k]] ≈ val[t]`` over the oracle's 20 days
(``PERSISTENCE_VALUE = 1``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gogooku.synth.config import SynthConfig
from gogooku.synth.latents import Latents
from gogooku.synth.side.statements import book_per_share
from gogooku.synth.signals import zscore_rows

S_VALUE = 0.005
PERSISTENCE_VALUE = 1.0


def split_multiplier(split_factor: np.ndarray, listed: np.ndarray) -> np.ndarray:
    """``(T, N)`` shares per original share after the splits so far (``Π 1 / AdjFactor`` of the
    listed days, as ``side._common.share_multiplier`` reads it from the bars)."""
    return np.cumprod(1.0 / np.where(listed, split_factor[: listed.shape[0]], 1.0), axis=0)


def usable_book(
    config: SynthConfig,
    universe: pl.DataFrame,
    latents: Latents,
    multiplier: np.ndarray,
    listed: np.ndarray,
) -> np.ndarray:
    """``(T, N)`` book per share in force on ``t`` in the share basis of ``t`` (NaN before the
    stock's first statement): a statement disclosed on day ``d`` enters on ``d + 1`` when the
    stock is listed then (the valuation table's rule, whatever the disclosure time), restated
    ``× m[d + 1] / m[t]``."""
    n_days, n = multiplier.shape
    events = book_per_share(config, universe, latents, multiplier)
    eff = events["day_idx"].to_numpy() + 1
    code = events["code_idx"].to_numpy()
    inside = eff < n_days
    inside[inside] &= listed[eff[inside], code[inside]]
    eff, code = eff[inside], code[inside]
    values = np.full((n_days, n), np.nan)
    values[eff, code] = events["BPS"].to_numpy()[inside] * multiplier[eff, code]
    has = np.isfinite(values)
    latest = np.maximum.accumulate(np.where(has, np.arange(n_days)[:, None], -1), axis=0)
    base = np.where(latest >= 0, values[np.maximum(latest, 0), np.arange(n)], np.nan)
    return base / multiplier


class ValueState:
    """The value term, day by day; ``terms["value"]`` keeps every day's values."""

    def __init__(self, book: np.ndarray, listed: np.ndarray) -> None:
        self.book = book
        self.listed = listed
        self.z = np.zeros(listed.shape)
        self.terms = {"value": np.zeros(listed.shape)}

    def mu(self, t: int, close: np.ndarray, dispersion: float) -> np.ndarray:
        """The value term at ``t`` given the last closes at ``t`` (NaN: none yet)."""
        on = self.listed[t]
        with np.errstate(invalid="ignore", divide="ignore"):
            log_bp = np.log(self.book[t] / close)
        valid = on & np.isfinite(log_bp)
        self.z[t] = zscore_rows(np.where(valid, log_bp, 0.0), valid)
        value = np.where(on, dispersion * S_VALUE * self.z[t], 0.0)
        count = max(int(on.sum()), 1)
        value = np.where(on, value - value.sum() / count, 0.0)
        self.terms["value"][t] = value
        return value
