"""The minute bars' daily summary (``equities_bars_minute_summary``) straight from the minute model.

``minute_summaries(daily, seed)`` equals ``summarise_minute_bars(minute_bars(daily, seed))``
(``gogooku.jquants.derived``) without building the bar rows: each day's bars stay the
(stocks × K) arrays of ``gogooku.synth.minute`` and every sum is taken along the minute axis,
so a benchmark store can hold two years of summaries for thousands of stocks (hundreds of
millions of bars) in minutes. Per stock, over its present minutes ``k`` in time order::

    Bars = Σ present;  Close = C of the last present bar;  Close1500 = C of the last present bar
    at or before 15:00;  AuctionVo = round(Vo) of the 15:30 bar;  Vo, Va = Σ round(Vo), Σ round(Va)
    bucket j (minute // 5) closes c_j = C of its last present bar;  Buckets = #present buckets;
    RV5m = Σ_j (ln c_j − ln c_(j−1))² over consecutive present buckets (null when one)

Integer sums and closes are exact; ``RV5m`` may differ from the bar reduction by rounding only
(summation order).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from gogooku.jquants.derived import (
    BUCKET_MINUTES,
    CLOSING_AUCTION,
    LAST30_FROM,
    MINUTE_SUMMARY_SCHEMA,
    minute,
)
from gogooku.synth.minute import _DAILY, TIMES, _grid, _traded

_MINUTES = np.array([minute(t) for t in TIMES])
_BUCKETS = _MINUTES // BUCKET_MINUTES
# each bucket's columns are contiguous on the grid: (first, stop) per bucket, in time order
_EDGES = np.flatnonzero(np.diff(_BUCKETS)) + 1
_SPANS = list(zip(np.r_[0, _EDGES], np.r_[_EDGES, len(TIMES)], strict=True))
_EARLY = np.less_equal(_MINUTES, minute(LAST30_FROM))
_AUCTION = TIMES.index(CLOSING_AUCTION)


def _last_present(present: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(any present, C of the last present column) per row of ``present``/``c`` (n, m)."""
    any_present = present.any(axis=1)
    last = present.shape[1] - 1 - present[:, ::-1].argmax(axis=1)
    return any_present, c[np.arange(present.shape[0]), last]


def _summary_day(daily: pl.DataFrame, seed: int, day: date) -> pl.DataFrame:
    d = _traded(daily)
    if d.height == 0:
        return pl.DataFrame(schema=MINUTE_SUMMARY_SCHEMA)
    g = _grid(d, seed, day)
    present = g.present
    n = d.height
    _, close = _last_present(present, g.c)
    has_early, close_early = _last_present(present[:, _EARLY], g.c[:, _EARLY])
    closes = np.full((n, len(_SPANS)), np.nan)
    for j, (lo, hi) in enumerate(_SPANS):
        found, last = _last_present(present[:, lo:hi], g.c[:, lo:hi])
        closes[:, j] = np.where(found, last, np.nan)
    buckets = np.isfinite(closes)
    logs = np.log(closes)
    # the previous present bucket's log close, carried forward over absent buckets
    index = np.where(buckets, np.arange(len(_SPANS)), -1)
    carried = np.maximum.accumulate(index, axis=1)
    previous = np.full_like(carried, -1)
    previous[:, 1:] = carried[:, :-1]
    rows = np.arange(n)[:, None]
    step = buckets & (previous >= 0)
    r2 = np.where(step, (logs - logs[rows, np.maximum(previous, 0)]) ** 2, 0.0)
    count = buckets.sum(axis=1)

    def whole(x: np.ndarray) -> np.ndarray:
        return np.where(present, np.round(x), 0.0).astype(np.int64)

    return pl.DataFrame(
        {
            "Date": pl.Series([day] * n, dtype=pl.Date),
            "Code": g.codes,
            "Bars": present.sum(axis=1),
            "Buckets": count,
            "RV5m": pl.Series(np.where(count >= 2, r2.sum(axis=1), np.nan)).fill_nan(None),
            "Close": close,
            "Close1500": pl.Series(np.where(has_early, close_early, np.nan)).fill_nan(None),
            "AuctionVo": whole(g.vo)[:, _AUCTION],
            "Vo": whole(g.vo).sum(axis=1),
            "Va": whole(g.va).sum(axis=1),
        }
    ).select(pl.col(c).cast(t) for c, t in MINUTE_SUMMARY_SCHEMA.items())


def minute_summaries(daily: pl.DataFrame, seed: int) -> pl.DataFrame:
    """The summary of ``minute_bars(daily, seed)``, sorted by Date, Code (module doc)."""
    frames = [
        _summary_day(part, seed, part["Date"][0])
        for part in daily.select(_DAILY).partition_by("Date", maintain_order=True)
    ]
    return pl.concat(frames) if frames else pl.DataFrame(schema=MINUTE_SUMMARY_SCHEMA)
