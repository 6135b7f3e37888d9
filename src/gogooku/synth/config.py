"""Synthetic market configuration, the shared market state, and day-keyed random streams.

Determinism and prefix stability rest on two rules:

* every per-day random number comes from ``rng_for(seed, stream, day)``, a generator keyed by
  ``(seed, crc32(stream), day.toordinal())``, so the numbers drawn for a day never depend on the
  configured ``end``;
* per-stock constants (universe, listing dates, peer graph, betas) come from ``rng_static``,
  keyed only by ``(seed, stocks, start)`` and a stream name.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from gogooku.synth.latents import Latents


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of one synthetic market; the market is a pure function of them."""

    seed: int = 7
    stocks: int = 300
    start: date = date(2019, 1, 1)
    end: date = date(2023, 12, 31)

    def __post_init__(self) -> None:
        if self.stocks < 20:
            raise ValueError(f"SynthConfig.stocks must be >= 20, got {self.stocks}")
        if self.end <= self.start:
            raise ValueError(f"SynthConfig.end ({self.end}) must be after start ({self.start})")
        if self.seed < 0:
            raise ValueError(f"SynthConfig.seed must be >= 0, got {self.seed}")


def _stream_key(stream: str) -> int:
    return zlib.crc32(stream.encode("utf-8"))


def rng_for(seed: int, stream: str, day: date) -> np.random.Generator:
    """Generator for the random numbers of ``stream`` on ``day``.

    ``np.random.default_rng([seed, crc32(stream), day.toordinal()])``: independent of the
    configured end date, so a longer market repeats the draws of a shorter one day by day.
    """
    return np.random.default_rng([seed, _stream_key(stream), day.toordinal()])


def rng_static(config: SynthConfig, stream: str) -> np.random.Generator:
    """Generator for per-stock constants, keyed by ``(seed, stocks, start)`` and ``stream`` only."""
    return np.random.default_rng(
        [config.seed, config.stocks, config.start.toordinal(), _stream_key(stream)]
    )


@dataclass
class MarketState:
    """Everything both halves of the simulator read; ``generate_market`` fills it in field order.

    Arrays are ``(T, N)`` with ``T = len(days)`` trading days and ``N = universe.height`` stocks
    (column ``i`` of every array is row ``i`` of ``universe``).
    """

    config: SynthConfig
    calendar: pl.DataFrame  # markets_calendar: Date (pl.Date), HolDiv (String), every calendar day
    days: list[date]  # trading days start..end (HolDiv in {"1","2"}), including 2020-10-01
    universe: pl.DataFrame  # one row per stock (columns: universe.UNIVERSE_COLUMNS)
    listed: np.ndarray  # bool (T, N): stock i listed on day t
    latents: Latents  # B's draw_latents(config, days, universe), drawn before prices
    market_vol: np.ndarray  # (T,) annualised market volatility
    high_vol_regime: np.ndarray  # (T,) bool
    # (T, N) split-adjusted close-to-close total return (dividend included), NaN if not listed
    # or no trade; the first trade after a no-trade day spans the gap from the last close
    ret: np.ndarray
    close: np.ndarray  # (T, N) unadjusted close, NaN on no-trade days
    volume: np.ndarray  # (T, N) unadjusted volume (shares), NaN on no-trade days
    adv: np.ndarray  # (T, N) mean traded value (JPY) over the trade days of the last 20 sessions
    bars: pl.DataFrame  # equities_bars_daily table
    topix: pl.DataFrame  # indices_topix table
    dividend: np.ndarray  # (T, N) cash dividend per share (JPY, unadjusted) on ex-dates, else 0
    adj_factor: np.ndarray  # (T, N) AdjFactor: split ratio on the ex-date (1:2 -> 0.5), else 1.0
