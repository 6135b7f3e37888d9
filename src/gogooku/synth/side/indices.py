"""Index bars (``indices_bars_daily``): TOPIX ``0000``, the 33 sector indices and size indices.

Sector index ``k`` (code ``0x40 + k`` in S33 code order, ``0040``..``0060``) and the size indices
(``0028`` Core30, ``0029`` Large70, ``002A`` TOPIX 100, ``002B`` Mid400, ``002C`` TOPIX 500,
``002D`` Small) are cap-weighted over their members:
``R[t] = sum_i w[t-1,i] ret[t,i] / sum_i w[t-1,i]`` with ``w = close x shares outstanding``
over stocks with a return on t, and ``C[t] = C[t-1] (1 + R[t])`` from a per-index base level.
``O = C[t-1] (1 + 0.5 R + 0.002 e1)``, ``H = max(O, C)(1 + |0.003 e2|)``, ``L = min(O, C)(1 - |0.003 e3|)``.
On days without any return (2020-10-01) O/H/L/C repeat the previous close, as J-Quants does.
TOPIX ``0000`` rows copy ``state.topix``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gogooku.synth.config import rng_for, rng_static
from gogooku.synth.side._common import conform, day_series, shares_outstanding
from gogooku.synth.state import MarketState
from gogooku.synth.universe import SECTORS_33

SIZE_INDICES = {
    "0028": ("TOPIX Core30",),
    "0029": ("TOPIX Large70",),
    "002A": ("TOPIX Core30", "TOPIX Large70"),
    "002B": ("TOPIX Mid400",),
    "002C": ("TOPIX Core30", "TOPIX Large70", "TOPIX Mid400"),
    "002D": ("TOPIX Small 1", "TOPIX Small 2"),
}


def sector_index_codes() -> dict[str, str]:
    """S33 code -> index code (``0040`` + position in S33 code order, hexadecimal)."""
    s33 = sorted(s[0] for s in SECTORS_33)
    return {code: f"{0x40 + k:04X}" for k, code in enumerate(s33)}


def _index_returns(state: MarketState, members: np.ndarray) -> np.ndarray:
    """``(T, K)`` cap-weighted returns of the member sets ``members`` (``(K, N)`` bool)."""
    cap = state.close * shares_outstanding(state)
    weight = np.zeros_like(cap)
    weight[1:] = np.nan_to_num(cap[:-1])
    valid = np.isfinite(state.ret) & (weight > 0)
    w = np.where(valid, weight, 0.0)
    r = np.where(valid, state.ret, 0.0)
    num = (w * r) @ members.T.astype(float)
    den = w @ members.T.astype(float)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _bars(state: MarketState, codes: list[str], returns: np.ndarray) -> pl.DataFrame:
    k = returns.shape[1]
    base = np.exp(rng_static(state.config, "index_levels").uniform(np.log(300), np.log(3000), k))
    eps = np.stack(
        [rng_for(state.config.seed, "index_bars", d).standard_normal((3, k)) for d in state.days]
    )
    traded = np.isfinite(returns)
    growth = np.where(traded, 1.0 + returns, 1.0)
    close = base[None, :] * np.cumprod(growth, axis=0)
    prev = np.vstack([base[None, :], close[:-1]])
    r = np.where(traded, returns, 0.0)
    open_ = np.where(traded, prev * (1.0 + 0.5 * r + 0.002 * eps[:, 0]), prev)
    high = np.where(traded, np.maximum(open_, close) * (1 + np.abs(0.003 * eps[:, 1])), prev)
    low = np.where(traded, np.minimum(open_, close) * (1 - np.abs(0.003 * eps[:, 2])), prev)
    has_members = np.cumsum(traded, axis=0) > 0
    tt, kk = np.nonzero(has_members)
    return pl.DataFrame(
        {
            "Date": day_series(state.days, tt, "Date"),
            "Code": np.array(codes)[kk],
            "O": np.round(open_[tt, kk], 2),
            "H": np.round(high[tt, kk], 2),
            "L": np.round(low[tt, kk], 2),
            "C": np.round(close[tt, kk], 2),
        }
    )


def render_indices(state: MarketState) -> dict[str, pl.DataFrame]:
    """``indices_bars_daily`` for ``state``."""
    uni = state.universe
    sector_codes = sector_index_codes()
    s33 = uni["S33"].to_numpy()
    scale = uni["ScaleCat"].to_numpy()
    groups = {idx: s33 == s for s, idx in sector_codes.items()}
    groups.update({idx: np.isin(scale, cats) for idx, cats in SIZE_INDICES.items()})
    codes = sorted(groups)
    members = np.stack([groups[c] for c in codes])
    others = _bars(state, codes, _index_returns(state, members))
    topix = state.topix.select(pl.col("Date"), pl.lit("0000").alias("Code"), "O", "H", "L", "C")
    frame = pl.concat([conform(topix, "indices_bars_daily"), conform(others, "indices_bars_daily")])
    return {"indices_bars_daily": frame.sort("Date", "Code")}
