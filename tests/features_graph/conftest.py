"""Hand-made price panels for the graph and interaction blocks."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from gogooku.calendar import TradingCalendar
from gogooku.dataset.asof import asof_join
from gogooku.features.base import BlockContext

START, END = date(2023, 1, 4), date(2023, 9, 29)


def calendar() -> TradingCalendar:
    return TradingCalendar.from_xtks(START, END)


def price_context(returns: dict[str, np.ndarray], no_trade: dict[str, list[int]] | None = None):
    """A BlockContext whose base holds AdjC = 100·∏(1+r) per code over the XTKS days from START.

    ``no_trade[code]`` lists day positions with no trade (null close, ``no_trade`` true).
    """
    cal = calendar()
    days = cal.days(START, END)
    frames = []
    for code, rets in returns.items():
        close = 100.0 * np.cumprod(1.0 + rets)
        flags = np.zeros(len(rets), dtype=bool)
        flags[(no_trade or {}).get(code, [])] = True
        frames.append(
            pl.DataFrame(
                {
                    "Code": code,
                    "Date": days[: len(rets)],
                    "AdjC": np.where(flags, np.nan, close),
                    "no_trade": flags,
                }
            ).with_columns(pl.col("AdjC").fill_nan(None))
        )
    base = pl.concat(frames).sort("Code", "Date")
    return BlockContext(base.lazy(), cal, None, asof_join), days
