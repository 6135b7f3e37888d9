"""Morning (``M*``) and afternoon (``A*``) session fields of the daily bars (Premium only).

``with_sessions(bars, seed)`` adds the 26 session fields to rows of ``equities_bars_daily``. Every
value is a function of the row itself (its whole-day fields) and of uniforms
``u_k = splitmix64(seed, Code, Date, k) / 2**64`` drawn from a counter-based stream of its
own, so no other table or the oracle changes, a page renders the same as the whole table, and
the fields are prefix-stable in the market's end. On a day with trades (``O`` not null)::

    MO = O,  AC = C
    MC = clip(tick(O + u0 (C − O) + (u1 − ½) (H − L) / 2), L, H)
    AO = clip(tick(MC + (u2 − ½) (H − L) / 5), L, H)
    the session holding the day's high is the morning if u3 < ½ (or if max(MO, MC) = H), else
    the afternoon; its high is H, the other's is clip(tick(top + u4 (H − top)), top, H) with
    top = max(open, close) of that session (lows likewise with u5, u6, so min(ML, AL) = L)
    MVo = 100 · clip(round(Vo / 100 · (0.35 + 0.3 u7)), 1, Vo / 100 − 1),  AVo = Vo − MVo
    AVa = clip(AVo · vwap_A, AVo · AL, AVo · AH),  MVa = Va − AVa
    vwap_A = (AO + AH + AL + 2 AC) / 5
    *AdjO/H/L/C = session price · AdjC / C,  *AdjVo = session volume · AdjVo / Vo
    AUL = UL, ALL = LL, MUL = UL ∧ MH = H, MLL = LL ∧ ML = L

so ``max(MH, AH) = H``, ``min(ML, AL) = L``, ``MVo + AVo = Vo`` and ``MVa + AVa = Va``. A day of
a single 100-share lot trades in the morning only: the morning fields are the whole-day ones and
the afternoon fields are null. Days without trades (the 2020-10-01 halt included) have null
session fields and False flags.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.synth.prices import round_tick

SESSION_STREAM = 0x5E55_10A5  # the session fields' own random stream
N_UNIFORMS = 8


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (uint64 → uint64, wrapping arithmetic), a bijective mixer."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def session_uniforms(seed: int, codes: pl.Series, dates: pl.Series) -> np.ndarray:
    """(N_UNIFORMS, rows) uniforms in [0, 1) keyed by (seed, Code, Date, k).

    The code enters as its ASCII bytes read as a little-endian integer (codes have 5 characters),
    the date as days since 1970-01-01.
    """
    code_key = np.array(codes.to_list(), dtype="S8").view("<u8").astype(np.uint64)
    day_key = dates.cast(pl.Int32).cast(pl.UInt64).to_numpy()
    key = _splitmix64(np.uint64(seed) ^ np.uint64(SESSION_STREAM))
    key = _splitmix64(key ^ code_key)
    key = _splitmix64(key ^ day_key)
    draws = [_splitmix64(key ^ np.uint64(k)) for k in range(N_UNIFORMS)]
    return (np.stack(draws) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _other_extreme(top: np.ndarray, bound: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A session extreme between its ``top`` (open/close extreme) and the day's ``bound``."""
    lo, hi = np.minimum(top, bound), np.maximum(top, bound)
    return np.clip(round_tick(top + u * (bound - top)), lo, hi)


def with_sessions(bars: pl.DataFrame, seed: int) -> pl.DataFrame:
    """``bars`` (catalogue columns of ``equities_bars_daily``) with the M*/A* fields added."""
    u = session_uniforms(seed, bars["Code"], bars["Date"])
    o, h, low, c, vo, va = (
        bars[k].cast(pl.Float64).to_numpy() for k in ("O", "H", "L", "C", "Vo", "Va")
    )
    traded = np.isfinite(o)
    o, h, low, c = (np.where(traded, x, 1.0) for x in (o, h, low, c))  # masked out at the end
    vo, va = (np.where(traded, x, 0.0) for x in (vo, va))
    with np.errstate(invalid="ignore"):
        rng = h - low
        mc = np.clip(round_tick(o + u[0] * (c - o) + (u[1] - 0.5) * rng / 2), low, h)
        ao = np.clip(round_tick(mc + (u[2] - 0.5) * rng / 5), low, h)
        m_top, a_top = np.maximum(o, mc), np.maximum(ao, c)
        m_high = (u[3] < 0.5) | (m_top >= h)
        mh = np.where(m_high, h, _other_extreme(m_top, h, u[4]))
        ah = np.where(m_high, _other_extreme(a_top, h, u[4]), h)
        m_bot, a_bot = np.minimum(o, mc), np.minimum(ao, c)
        m_low = (u[5] < 0.5) | (m_bot <= low)
        ml = np.where(m_low, low, _other_extreme(m_bot, low, u[6]))
        al = np.where(m_low, _other_extreme(a_bot, low, u[6]), low)
        lots = vo / 100.0
        single = traded & (lots < 2)
        m_lots = np.clip(np.round(lots * (0.35 + 0.3 * u[7])), 1, np.maximum(lots - 1, 1))
        mvo = np.where(single, vo, m_lots * 100.0)
        avo = np.where(single, np.nan, vo - mvo)
        vwap_a = (ao + ah + al + 2.0 * c) / 5.0
        ava = np.clip(avo * vwap_a, avo * al, avo * ah)
        mva = np.where(single, va, va - ava)
    morning = {
        "MO": o,
        "MH": np.where(single, h, mh),
        "ML": np.where(single, low, ml),
        "MC": np.where(single, c, mc),
        "MVo": mvo,
        "MVa": mva,
    }
    afternoon = {"AO": ao, "AH": ah, "AL": al, "AC": c, "AVo": avo, "AVa": ava}
    values = {**morning, **{k: np.where(single, np.nan, v) for k, v in afternoon.items()}}
    values = {k: np.where(traded, v, np.nan) for k, v in values.items()}
    with np.errstate(invalid="ignore", divide="ignore"):
        price = bars["AdjC"].cast(pl.Float64).to_numpy() / c
        volume = bars["AdjVo"].cast(pl.Float64).to_numpy() / np.where(vo > 0, vo, np.nan)
    for s in ("M", "A"):
        values.update({f"{s}Adj{x}": values[f"{s}{x}"] * price for x in ("O", "H", "L", "C")})
        values[f"{s}AdjVo"] = values[f"{s}Vo"] * volume
    ul, ll = (bars[k].fill_null(False).to_numpy() & traded for k in ("UL", "LL"))
    has_a = np.isfinite(values["AC"])
    flags = {
        "MUL": ul & (values["MH"] == h),
        "MLL": ll & (values["ML"] == low),
        "AUL": ul & has_a,
        "ALL": ll & has_a,
    }
    rendered = pl.DataFrame(values, nan_to_null=True).hstack(pl.DataFrame(flags))
    schema = ENDPOINTS["equities_bars_daily"].schema
    out = bars.drop(rendered.columns, strict=False).hstack(rendered)
    return out.select([k for k in schema if k in out.columns])
