"""Minute bars (``equities_bars_minute``) and ticks (``equities_trades``), rendered per day on demand.

A market's minute bars would be ~300 rows per stock and day, so they are never materialised with
the market: ``minute_bars(daily, seed)`` renders the bars of the daily rows it is given (one day or
a few), deterministically from ``(seed, Date)``, and the service calls it per requested day.

The grid of one session day (raw, unadjusted prices; ``K = 327`` minutes): continuous minutes
09:00-11:29, the morning-close auction ``11:30``, continuous 12:30-15:24 and the closing auction
``15:30`` (nothing 15:25-15:29). For a stock with daily ``O, H, L, C, Vo, Va`` (no bars on a day
without trades):

* path: a Brownian bridge in log price over the grid points ``k = 0..K`` from ``ln O`` to ``ln C``
  with step ``σ = 0.6 (ln H − ln L) / sqrt(K)``, prices ``P_k = exp(X_k)`` clipped to ``[L, H]``;
  a continuous minute ``k`` has ``O = P_(k-1)``, ``C = P_k``, ``H = max(O, C) e^{0.3 σ |z|}`` and
  ``L = min(O, C) e^{-0.3 σ |z'|}`` clipped to ``[L, H]``; the auction bars are flat at ``P_k``;
  the present continuous minute with the highest high gets ``H`` and the one with the lowest low
  ``L``, so the bars' extremes are the day's;
* presence: a continuous minute trades with probability ``1 − exp(−λ w_k / Σw)``, ``λ`` =
  clip(Vo / 500, 30, 3000) trades a day, U-shaped weights ``w_k = 1 + 3 (2 x_k − 1)^2`` over the
  day fraction ``x_k``; 09:00 always trades (it holds the open: a lot is moved to it if it has none) and so do the
  auctions unless they get no lot; minutes without trades are omitted;
* a continuous minute of a single lot is one trade, a flat bar (the opening minute flat at
  ``O``); the extremes go to the other present continuous minutes (to 09:00 if there are none);
* volume in 100-share lots: the closing auction takes a share ``a ~ U(0.05, 0.10)`` of ``Vo``,
  the morning close ``U(0.01, 0.03)``, the present continuous minutes the rest in proportion to
  ``w_k · Gamma(2)``, floored to lots; the lots left over go to the closing auction, so
  ``Σ Vo = Vo`` exactly;
* value: ``Va_k = Vo_k · (O + H + L + C)_k / 4`` scaled so that ``Σ Va = Va``.

So ``O`` is the first bar's open, ``C`` the 15:30 close, ``H``/``L`` the bars' extremes and the
volumes and values add up to the daily bar. Ticks (``trades``) split each bar into trades: one
at the auction price for an auction bar; ``min(4 + Poisson(1), lots)`` for a continuous bar,
priced ``O, H, L, …, C`` (the middle ones uniform in ``[L, H]``) at sorted microsecond times in
the minute, lots split evenly; so each bar's open, close and volume are its ticks' (its high and
low too when it has 4 lots or more). Only the whole-day bar is matched: the Premium morning/afternoon
fields (``gogooku.synth.sessions``) are drawn independently and need not agree with the bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl
from scipy.special import ndtri

from gogooku.synth.sessions import _splitmix64

LOT = 100.0
MAX_TRADES = 12
_MORNING = [f"{h:02d}:{m:02d}" for h in (9, 10, 11) for m in range(60)][:150]
_AFTERNOON = [f"{h:02d}:{m:02d}" for h in (12, 13, 14, 15) for m in range(60)][30:205]
TIMES = (*_MORNING, "11:30", *_AFTERNOON, "15:30")
K = len(TIMES)
MORNING_CLOSE = TIMES.index("11:30")
CLOSE = K - 1
AUCTIONS = (MORNING_CLOSE, CLOSE)
_DAILY = ("Date", "Code", "O", "H", "L", "C", "Vo", "Va")
SCHEMA = {
    "Date": pl.Date(),
    "Time": pl.String(),
    "Code": pl.String(),
    **{c: pl.Float64() for c in ("O", "H", "L", "C", "Vo", "Va")},
}
TRADE_SCHEMA = {
    "Date": pl.Date(),
    "Code": pl.String(),
    "Time": pl.String(),
    "SessionDistinction": pl.String(),
    "Price": pl.Float64(),
    "TradingVolume": pl.Float64(),
    "TransactionId": pl.String(),
}


MINUTE_STREAM = 0x3141_0001
TRADE_STREAM = 0x3141_0002
_POISSON1_CDF = np.cumsum([np.exp(-1.0) / np.prod(np.arange(1, j + 1)) for j in range(12)])


def uniforms(
    seed: int, stream: int, codes: pl.Series, day: date, n: int, offset: np.ndarray | None = None
) -> np.ndarray:
    """(len(codes), n) uniforms in (0, 1) keyed by (seed, stream, Code, Date, offset + column).

    Counter-based, so a stock's draws do not depend on which other stocks are rendered with it:
    the bars of one code equal its rows in the whole day's bars.
    """
    code_key = np.array(codes.to_list(), dtype="S8").view("<u8").astype(np.uint64)
    key = _splitmix64(np.uint64(seed) ^ np.uint64(stream))
    key = _splitmix64(_splitmix64(key ^ code_key) ^ np.uint64(day.toordinal()))
    column = np.arange(n, dtype=np.uint64)[None, :]
    if offset is not None:
        column = column + offset.astype(np.uint64)[:, None]
    draws = _splitmix64(key[:, None] ^ column)
    return ((draws >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def _weights() -> np.ndarray:
    x = np.linspace(0.0, 1.0, K)
    w = 1.0 + 3.0 * (2.0 * x - 1.0) ** 2
    w[list(AUCTIONS)] = 0.0
    return w


WEIGHTS = _weights()


@dataclass(frozen=True)
class _Grid:
    """One day's bars as (stocks, K) arrays over the minute grid; ``present`` marks the bars."""

    codes: pl.Series
    present: np.ndarray
    o: np.ndarray
    h: np.ndarray
    low: np.ndarray
    c: np.ndarray
    vo: np.ndarray
    va: np.ndarray


def _traded(daily: pl.DataFrame) -> pl.DataFrame:
    return daily.filter(pl.col("C").is_not_null() & (pl.col("Vo") > 0)).sort("Code")


def _grid(d: pl.DataFrame, seed: int, day: date) -> _Grid:
    """The bars of the traded rows ``d`` (sorted by Code) of one day on the minute grid."""
    n = d.height
    o, h, low, c, vo, va = (d[x].to_numpy()[:, None] for x in ("O", "H", "L", "C", "Vo", "Va"))
    u = uniforms(seed, MINUTE_STREAM, d["Code"], day, 7 * K + 2)
    draw = iter(np.split(u[:, : 7 * K], 7, axis=1))
    sigma = 0.6 * (np.log(h) - np.log(low)) / np.sqrt(K) + 1e-6
    steps = ndtri(next(draw)) * sigma
    walk = np.concatenate([np.zeros((n, 1)), np.cumsum(steps, axis=1)], axis=1)
    t = np.arange(K + 1) / K
    x = np.log(o) + walk - t * walk[:, -1:] + t * (np.log(c) - np.log(o))
    p = np.clip(np.exp(x), low, h)
    p[:, :1], p[:, -1:] = o, c
    bar_o, bar_c = p[:, :-1].copy(), p[:, 1:].copy()
    wick_h, wick_l = (np.exp(0.3 * sigma * np.abs(ndtri(next(draw)))) for _ in range(2))
    bar_h = np.minimum(np.maximum(bar_o, bar_c) * wick_h, h)
    bar_l = np.maximum(np.minimum(bar_o, bar_c) / wick_l, low)
    for k in AUCTIONS:
        bar_o[:, k] = bar_h[:, k] = bar_l[:, k] = bar_c[:, k]
    lam = np.clip(vo / 500.0, 30.0, 3000.0) * WEIGHTS / WEIGHTS.sum()
    present = next(draw) < 1.0 - np.exp(-lam)
    present[:, [0, *AUCTIONS]] = True
    lots = np.round(vo / LOT)
    share = np.zeros((n, K))
    share[:, CLOSE] = 0.05 + 0.05 * u[:, -1]
    share[:, MORNING_CLOSE] = 0.01 + 0.02 * u[:, -2]
    gamma2 = -np.log(next(draw) * next(draw))
    cont = np.where(present, WEIGHTS * gamma2, 0.0)
    cont *= (1.0 - share.sum(axis=1, keepdims=True)) / cont.sum(axis=1, keepdims=True)
    bar_lots = np.floor((share + cont) * lots)
    bar_lots[:, CLOSE] += lots[:, 0] - bar_lots.sum(axis=1)
    # The opening minute carries the day's open: give it a lot from the largest bar if it has none.
    empty_open = np.nonzero(bar_lots[:, 0] == 0)[0]
    bar_lots[empty_open, bar_lots[empty_open].argmax(axis=1)] -= 1
    bar_lots[empty_open, 0] = 1
    continuous = np.ones(K, dtype=bool)
    continuous[list(AUCTIONS)] = False
    present &= bar_lots > 0
    # A one-lot minute is one trade: a flat bar (the opening minute flat at the open).
    single = present & continuous & (bar_lots == 1)
    bar_c[:, 0] = np.where(single[:, 0], bar_o[:, 0], bar_c[:, 0])
    bar_o, bar_h, bar_l = (np.where(single, bar_c, x) for x in (bar_o, bar_h, bar_l))
    spread = present & continuous & ~single
    masked_h = np.where(spread, bar_h, -np.inf)
    masked_l = np.where(spread, bar_l, np.inf)
    rows = np.arange(n)
    bar_h[rows, masked_h.argmax(axis=1)] = h[:, 0]
    bar_l[rows, masked_l.argmin(axis=1)] = low[:, 0]
    bar_vo = bar_lots * LOT
    typical = bar_vo * (bar_o + bar_h + bar_l + bar_c) / 4.0
    bar_va = typical * va / typical.sum(axis=1, keepdims=True)
    return _Grid(d["Code"], present, bar_o, bar_h, bar_l, bar_c, bar_vo, bar_va)


def _day(daily: pl.DataFrame, seed: int, day: date) -> pl.DataFrame:
    """The minute bars of the traded rows of one day (``daily`` holds only that day)."""
    d = _traded(daily)
    if d.height == 0:
        return pl.DataFrame(schema=SCHEMA)
    g = _grid(d, seed, day)
    i, k = np.nonzero(g.present)
    return pl.DataFrame(
        {
            "Date": pl.Series([day], dtype=pl.Date).gather(np.zeros(i.size, dtype=np.int64)),
            "Time": pl.Series(TIMES).gather(k),
            "Code": g.codes.gather(i),
            "O": g.o[i, k],
            "H": g.h[i, k],
            "L": g.low[i, k],
            "C": g.c[i, k],
            "Vo": g.vo[i, k],
            "Va": g.va[i, k],
        },
        schema=SCHEMA,
    )


def minute_bars(daily: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Minute bars of the daily bar rows ``daily`` (``Date, Code, O, H, L, C, Vo, Va`` raw), sorted
    by Date, Code, Time; rows of one day depend only on that day's rows and ``seed``."""
    frames = [
        _day(part, seed, part["Date"][0])
        for part in daily.select(_DAILY).partition_by("Date", maintain_order=True)
    ]
    return pl.concat(frames) if frames else pl.DataFrame(schema=SCHEMA)


def trades(bars: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Ticks of the minute bars ``bars`` (see the module docstring), sorted by Date, Code, Time."""
    frames = []
    for part in bars.partition_by("Date", maintain_order=True):
        frames.append(_trades_day(part, seed, part["Date"][0]))
    return pl.concat(frames) if frames else pl.DataFrame(schema=TRADE_SCHEMA)


def _trades_day(bars: pl.DataFrame, seed: int, day: date) -> pl.DataFrame:
    minute = bars["Time"].replace_strict(TIMES, list(range(K)), return_dtype=pl.Int64).to_numpy()
    width = 2 * MAX_TRADES + 1  # the count, then prices, then times
    own = uniforms(seed, TRADE_STREAM, bars["Code"], day, width, minute * width)
    auction = np.isin(minute, AUCTIONS)
    lots = np.round(bars["Vo"].to_numpy() / LOT).astype(np.int64)
    extra = np.minimum(np.searchsorted(_POISSON1_CDF, own[:, 0]), MAX_TRADES - 4)
    count = np.where(auction, 1, np.minimum(4 + extra, lots))
    row = np.repeat(np.arange(bars.height), count)
    start = np.cumsum(count) - count
    pos = np.arange(row.size) - start[row]
    last = pos == count[row] - 1
    o, h, low, c = (bars[x].to_numpy()[row] for x in ("O", "H", "L", "C"))
    price = np.where(
        pos == 0,
        o,
        np.where(
            last,
            c,
            np.where(pos == 1, h, np.where(pos == 2, low, low + (h - low) * own[row, 1 + pos])),
        ),
    )
    base, extra = lots[row] // count[row], lots[row] % count[row]
    volume = (base + (pos < extra)) * LOT
    micros = np.where(
        auction[row], 0, np.floor(own[row, 1 + MAX_TRADES + pos] * 60_000_000).astype(np.int64)
    )
    frame = pl.DataFrame(
        {
            "Date": bars["Date"].gather(row),
            "Code": bars["Code"].gather(row),
            "minute": bars["Time"].gather(row),
            "row": row,
            "micros": micros,
            "Price": price,
            "TradingVolume": volume.astype(np.float64),
        }
    )
    # Times sorted within each minute, so the open is the first trade and the close the last.
    frame = frame.with_columns(pl.col("micros").sort().over("row"))
    return frame.select(
        "Date",
        "Code",
        pl.format(
            "{}:{}.{}",
            pl.col("minute"),
            (pl.col("micros") // 1_000_000).cast(pl.String).str.zfill(2),
            (pl.col("micros") % 1_000_000).cast(pl.String).str.zfill(6),
        ).alias("Time"),
        pl.when(pl.col("minute") < "12:00")
        .then(pl.lit("01"))
        .otherwise(pl.lit("02"))
        .alias("SessionDistinction"),
        "Price",
        "TradingVolume",
        (pl.int_range(pl.len()).over("Code") + 1)
        .cast(pl.String)
        .str.zfill(6)
        .alias("TransactionId"),
    )
