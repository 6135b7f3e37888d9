"""Planted price-based signals and the expected-return oracle.

Notation: ``t`` indexes trading days, ``i`` stocks; ``d[t, i]`` is the stock's observed total
return on day ``t`` minus the cross-sectional mean of that day (0 where there is no return);
``zs(x)`` standardises ``x`` across the stocks listed on the day (mean 0, std 1, clipped to ±3).

Each price signal is a standardised score ``z`` known at the decision time of ``t``:

* reversal  ``z_rev[t]  = zs(R[t])``,  ``R[t] = λ_rev · R[t-1] + d[t]`` (EWMA of past returns);
* momentum  ``z_mom[t]  = zs(S[t-21] - S[t-121])``, ``S`` the running sum of ``d``
  (returns from 120 to 21 trading days ago);
* peer      ``z_peer[t] = zs(P[t])``,  ``P[t] = λ_peer · P[t-1] + mean_{j ∈ peers(i)} d[t, j]``.

The expected next-day return (close of t+1 to close of t+2) is

    mu[t, i] = D[t] · ( -s_rev(g_t) · z_rev + s_mom(g_t) · z_mom + s_peer · z_peer )[t, i]
               + Σ_b side_b[t, i]

where ``g_t`` is the volatility regime, ``D[t]`` the model's cross-sectional dispersion of daily
returns at ``t`` and ``side_b`` the side-data contributions of ``Latents.contributions``. Because
``z`` has unit cross-sectional std, ``s`` is (to first order) the Pearson IC of the score with the
next-day return: the *planted strength*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

MOM_SKIP = 21
MOM_END = 121
Z_CLIP = 3.0


@dataclass(frozen=True)
class SignalSpec:
    """A planted signal: strength (IC with the next-day return) per regime and daily decay."""

    name: str
    strength: float  # normal regime
    strength_high: float  # high-volatility regime
    decay: float  # λ: E_t[z[t+k]] = λ^k z[t] (momentum: exact window arithmetic instead)


REVERSAL = SignalSpec("reversal", strength=0.025, strength_high=0.05, decay=0.8)
MOMENTUM = SignalSpec("momentum", strength=0.015, strength_high=0.0, decay=1.0)
PEER = SignalSpec("peer", strength=0.03, strength_high=0.03, decay=0.5)
PRICE_SIGNALS = (REVERSAL, MOMENTUM, PEER)
# sign of each score in mu: reversal predicts the opposite of past returns
SIGN = {"reversal": -1.0, "momentum": 1.0, "peer": 1.0}


def zscore_rows(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Cross-sectional z-score of each row of ``x`` over ``valid`` cells, clipped, 0 elsewhere.

    Works on 1-D (one day) or 2-D (days × stocks) input; writes into one new array only.
    """
    z = np.where(valid, x, 0.0)
    count = np.maximum(valid.sum(axis=-1, keepdims=True), 1)
    z -= z.sum(axis=-1, keepdims=True) / count
    z *= valid
    std = np.sqrt(np.einsum("...i,...i->...", z, z)[..., None] / count)
    np.divide(z, std, out=z, where=std > 0)
    z[np.broadcast_to(std <= 0, z.shape)] = 0.0
    return np.clip(z, -Z_CLIP, Z_CLIP, out=z)


class SignalState:
    """Day-by-day recursion of the price signals; ``update`` once per day after its returns."""

    def __init__(self, n_days: int, peers: sp.csr_matrix) -> None:
        n = peers.shape[0]
        self.peers = peers
        self.has_peers = np.asarray(peers.sum(axis=1)).ravel() > 0
        self.rev = np.zeros(n)
        self.peer = np.zeros(n)
        self.cum = np.zeros((n_days, n))  # S[t]: running sum of demeaned returns
        self.z = {s.name: np.zeros((n_days, n)) for s in PRICE_SIGNALS}
        self.history = np.zeros(n, dtype=np.int64)  # listed days seen so far
        self.demeaned = np.zeros(n)  # d of the last day folded in
        self.market_ret = 0.0  # equal-weighted mean return of the last day folded in

    def update(self, t: int, ret: np.ndarray, listed: np.ndarray) -> None:
        """Fold day ``t``'s observed returns (NaN = none) into the states and scores."""
        has = listed & np.isfinite(ret)
        d = np.zeros_like(ret)
        self.market_ret = 0.0
        if has.any():
            self.market_ret = float(ret[has].mean())
            d[has] = ret[has] - self.market_ret
        self.demeaned = d
        self.history += listed
        self.cum[t] = (self.cum[t - 1] if t > 0 else 0.0) + d
        self.rev = REVERSAL.decay * self.rev + d
        valid = self.peers @ has.astype(np.float64)
        peer_mean = np.divide(self.peers @ d, valid, out=np.zeros_like(d), where=valid > 0)
        self.peer = PEER.decay * self.peer + peer_mean
        self.z["reversal"][t] = zscore_rows(self.rev, listed)
        self.z["peer"][t] = zscore_rows(self.peer, listed & self.has_peers)
        self.z["momentum"][t] = zscore_rows(
            self.momentum_raw(t, t), listed & (self.history >= MOM_END)
        )

    def momentum_raw(self, t: int, at: int) -> np.ndarray:
        """``S[t-21] - S[t-121]`` (0 before enough history); needs ``t - 21 <= at``."""
        hi = t - MOM_SKIP
        lo = t - MOM_END
        if hi < 0 or hi > at:
            return np.zeros(self.cum.shape[1])
        return self.cum[hi] - (self.cum[lo] if lo >= 0 else 0.0)


def strength(spec: SignalSpec, high: np.ndarray | bool) -> np.ndarray:
    """Planted strength per day given the regime flag."""
    return np.where(high, spec.strength_high, spec.strength)


def price_mu(
    t: int,
    state: SignalState,
    dispersion: float,
    high: bool,
    signals: tuple[SignalSpec, ...] = PRICE_SIGNALS,
) -> np.ndarray:
    """A's part of ``mu[t]``: ``D[t] · Σ_signal sign · s(g_t) · z[t]`` over ``signals`` (market
    version 2 keeps only the peer signal: its reversal and momentum are ``nonlinear`` terms)."""
    total = np.zeros(state.cum.shape[1])
    for spec in signals:
        total += SIGN[spec.name] * float(strength(spec, high)) * state.z[spec.name][t]
    return dispersion * total


@dataclass(frozen=True)
class Regime:
    """Two-state Markov chain of the volatility regime: P(normal→high), P(high→normal)."""

    p_up: float = 1.0 / 180.0
    p_down: float = 1.0 / 40.0

    def prob_high(self, high_now: np.ndarray, k: int) -> np.ndarray:
        """P(high at t+k | regime at t) = π + (1{high_t} − π) · (1 − p_up − p_down)^k."""
        pi = self.p_up / (self.p_up + self.p_down)
        return pi + (high_now.astype(np.float64) - pi) * (1.0 - self.p_up - self.p_down) ** k


REGIME = Regime()


ORACLE_HORIZONS = (1, 5, 10, 20)


def expected_mu_path(
    state: SignalState,
    dispersion: np.ndarray,
    high: np.ndarray,
    listed: np.ndarray,
    side: dict[str, np.ndarray],
    side_decay: dict[str, float],
    k: int,
    signals: tuple[SignalSpec, ...] = PRICE_SIGNALS,
) -> np.ndarray:
    """``E_t[mu[t+k]]`` for every ``t`` (an ``(T, N)`` array), from information at ``t`` only.

    Only the price signals in ``signals`` enter (all three in version 1, the peer signal alone in
    version 2, whose other terms come in ``side`` with their decays).

    * reversal, peer: ``λ^k · z[t]``; momentum: the window sum ``S[t+k-21] − S[t+k-121]`` is
      already known at ``t`` for ``k ≤ 20`` and is standardised over the stocks listed on ``t``;
    * regime-dependent strengths: ``E[s(g_{t+k})] = s + (s_high − s) · P(high_{t+k} | g_t)``;
    * dispersion: ``E_t[D[t+k]] ≈ D[t]`` (volatility is persistent);
    * side contributions: ``φ_b^k · c_b[t]`` (``latents.PERSISTENCE``).
    """
    if k > MOM_SKIP - 1:
        raise ValueError(f"oracle horizon offset k={k} exceeds {MOM_SKIP - 1}")
    p_high = REGIME.prob_high(high, k)[:, None]
    total = np.zeros_like(state.cum)
    for spec in (s for s in (REVERSAL, PEER) if s in signals):
        s = spec.strength + (spec.strength_high - spec.strength) * p_high
        total += SIGN[spec.name] * s * spec.decay**k * state.z[spec.name]
    if MOMENTUM in signals:
        total += _expected_momentum(state, listed, p_high, k)
    total *= dispersion[:, None]
    for name, contribution in side.items():
        total += side_decay[name] ** k * contribution
    return total


def _expected_momentum(
    state: SignalState, listed: np.ndarray, p_high: np.ndarray, k: int
) -> np.ndarray:
    """``E[s_mom(g_{t+k})] · z_mom[t+k]``, the window ``S[t+k-21] − S[t+k-121]`` known at ``t``."""
    n_days = listed.shape[0]
    hi = np.arange(n_days) + k - MOM_SKIP
    lo = hi - (MOM_END - MOM_SKIP)
    window = np.where((hi >= 0)[:, None], state.cum[np.maximum(hi, 0)], 0.0) - np.where(
        (lo >= 0)[:, None], state.cum[np.maximum(lo, 0)], 0.0
    )
    history = np.cumsum(listed, axis=0)
    z_mom = zscore_rows(window, listed & (history + k >= MOM_END))
    s_mom = MOMENTUM.strength + (MOMENTUM.strength_high - MOMENTUM.strength) * p_high
    return s_mom * z_mom


def oracle_targets(
    state: SignalState,
    dispersion: np.ndarray,
    high: np.ndarray,
    listed: np.ndarray,
    side: dict[str, np.ndarray],
    side_decay: dict[str, float],
    drift: np.ndarray,
    div_yield: np.ndarray,
    trading: np.ndarray,
    signals: tuple[SignalSpec, ...] = PRICE_SIGNALS,
) -> dict[int, np.ndarray]:
    """``exp_target_h[t] = Π_{k<h} (1 + E_t[r_price[t+2+k]]) − 1`` for ``h`` in ORACLE_HORIZONS.

    ``E_t[r_price[d]] = (drift_i + E_t[mu[d−2]] − y[d]) · trading[d]``: ``drift_i = β_i · m̄``,
    ``y`` the dividend yield on ex-dividend dates (AdjC is not adjusted for dividends, so the
    ex-date drop is part of the label), ``trading[d]`` False on 2020-10-01 (no price move).
    ``div_yield`` and ``trading`` cover at least ``T + 21`` horizon sessions so the values near
    the end do not depend on ``end``. Compounding assumes independent daily returns.
    """
    n_days = dispersion.shape[0]
    log_growth = np.zeros_like(state.cum)
    out: dict[int, np.ndarray] = {}
    rows = np.arange(n_days)
    for k in range(max(ORACLE_HORIZONS)):
        d = rows + 2 + k
        expected = drift[None, :] + expected_mu_path(
            state, dispersion, high, listed, side, side_decay, k, signals
        )
        expected = (expected - div_yield[d]) * trading[d][:, None]
        log_growth += np.log1p(np.maximum(expected, -0.99))
        if k + 1 in ORACLE_HORIZONS:
            out[k + 1] = np.expm1(log_growth)
    return out
