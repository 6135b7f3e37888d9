"""The simulator's shared state: everything both halves of ``generate_market`` read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from gogooku.synth.config import SynthConfig
from gogooku.synth.latents import Latents


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
