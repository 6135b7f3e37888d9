"""Trading breakdown by order type (``markets_breakdown``) for every (Date, Code) with trades.

The day's traded value ``Va`` (and volume ``Vo``) of ``equities_bars_daily`` is split on each side with shares that depend
on the stock's short and margin pressure (``e`` independent N(0, 1) per stock-day)::

    short = clip(0.40 + 0.05 short_z + 0.02 e1, 0.1, 0.7)         (short selling share of sells)
    sells: LongSell = 0.88 (1 - short),  MrgnSellClose = 0.12 (1 - short),
           ShrtNoMrgn = 0.55 short,      MrgnSellNew = 0.45 short
    new_long = clip(0.20 + 0.03 margin_z + 0.02 e2, 0.05, 0.45)    (new margin buying share of buys)
    buys:  LongBuy = 1 - new_long - cover,  MrgnBuyNew = new_long,  MrgnBuyClose = cover = 0.35 short

so each side sums to the day's total; rows exist only on days the stock traded.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gogooku.synth.config import rng_for
from gogooku.synth.side._common import bar_indices, conform
from gogooku.synth.state import MarketState

SPLITS = (
    "LongSell",
    "ShrtNoMrgn",
    "MrgnSellNew",
    "MrgnSellClose",
    "LongBuy",
    "MrgnBuyNew",
    "MrgnBuyClose",
)


def breakdown_shares(state: MarketState) -> dict[str, np.ndarray]:
    """``(T, N)`` share of the day's value (or volume) of each split (see the module docstring)."""
    n = state.ret.shape[1]
    eps = np.stack(
        [rng_for(state.config.seed, "breakdown", d).standard_normal((2, n)) for d in state.days]
    )
    lat = state.latents
    short = np.clip(0.40 + 0.05 * lat.short_z + 0.02 * eps[:, 0], 0.1, 0.7)
    new_long = np.clip(0.20 + 0.03 * lat.margin_z + 0.02 * eps[:, 1], 0.05, 0.45)
    cover = 0.35 * short
    return {
        "LongSell": 0.88 * (1 - short),
        "ShrtNoMrgn": 0.55 * short,
        "MrgnSellNew": 0.45 * short,
        "MrgnSellClose": 0.12 * (1 - short),
        "LongBuy": 1 - new_long - cover,
        "MrgnBuyNew": new_long,
        "MrgnBuyClose": cover,
    }


def render_breakdown(state: MarketState) -> dict[str, pl.DataFrame]:
    """``markets_breakdown`` for ``state``."""
    bars = state.bars.filter(pl.col("Va").is_not_null())
    tt, ii = bar_indices(state, bars)
    shares = breakdown_shares(state)
    value, volume = bars["Va"].to_numpy(), bars["Vo"].to_numpy()
    columns: dict[str, object] = {"Date": bars["Date"], "Code": bars["Code"]}
    for split in SPLITS:
        part = shares[split][tt, ii]
        columns[f"{split}Va"] = np.round(value * part)
        columns[f"{split}Vo"] = np.round(volume * part)
    return {"markets_breakdown": conform(pl.DataFrame(columns), "markets_breakdown")}
