"""Feature and prediction drift of stored prediction days against a bundle's reference
(``gogooku.bundle.reference``), as ``gogooku.bundle.monitor`` records it in the ``drift`` table.

**Feature PSI** of feature f on day d: the PSI (``gogooku.bundle.livestats.psi``) of f's values
in the dataset's panel over the window of the last W_f panel sessions ending at d (pooled rows)
against f's training-period deciles, with

    W_f = min(MAX_WINDOW, ⌈MIN_VALUES / distinct_per_day_f⌉)

so a window holds about ``MIN_VALUES`` = 200 distinct values: PSI's noise floor is about
(B − 1) / distinct values (``livestats`` module doc), 0.045 for 10 bins. A stock-level feature of
a market with ≥ 200 stocks is compared on day d alone; a sector-level one (≈ 17–33 distinct
values a day) on the last 7–12 sessions. A market-level feature (fewer than 200 / 60 distinct
values a day, typically one) is compared on the last ``MAX_WINDOW`` = 60 sessions and recorded
with kind "market", not "feature": 60 values give a PSI of 0.15 on average and above 0.3 on
many stationary days (measured by ``bench/bench_monitor.py``), too noisy for the feature-drift
alert, which reads kind "feature" only. A feature without a value in the training period, or no
reference at all, has a null PSI.

**Prediction PSI** of day d: the PSI of the day's stored scores against the run's
validation-period scores (null without them).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import polars as pl

from gogooku.bundle.livestats import bin_shares, psi

MIN_VALUES = 200
MAX_WINDOW = 60
CHUNK = 32


def kind_of(entry: dict | None) -> str:
    """ "market" for a feature whose window cannot hold ``MIN_VALUES`` distinct values (fewer
    than MIN_VALUES / MAX_WINDOW ≈ 3.3 a day: market-level), else "feature"."""
    per_day = (entry or {}).get("distinct_per_day")
    return "market" if per_day is not None and per_day * MAX_WINDOW < MIN_VALUES else "feature"


def window_days(entry: dict | None) -> int:
    """W_f of a reference entry (module doc); 1 when the entry has no ``distinct_per_day``."""
    per_day = (entry or {}).get("distinct_per_day") or MIN_VALUES
    return min(MAX_WINDOW, max(1, math.ceil(MIN_VALUES / max(per_day, 1.0))))


def entry_psi(entry: dict | None, values: np.ndarray) -> float:
    """PSI of ``values`` against a reference entry; NaN without an entry, a reference value or
    a value today."""
    if not entry or not entry.get("n") or not np.isfinite(values).any():
        return math.nan
    return psi(entry["shares"], bin_shares(values, entry["edges"]))


def feature_drift(
    panel: Path, features: list[str], reference: dict | None, days: list[dt.date]
) -> dict[dt.date, list[tuple[str, str, float, int]]]:
    """{day: [(kind, name, psi, values in the window)]} for ``days``; kind "feature" or
    "market" (module doc)."""
    out: dict[dt.date, list] = {d: [] for d in days}
    entries = (reference or {}).get("features") or {}
    if not panel.is_file() or not days:
        return {d: [("feature", f, math.nan, 0) for f in features] for d in days}
    dates = (
        pl.scan_parquet(panel)
        .filter(pl.col("Date") <= max(days))
        .select(pl.col("Date").unique().sort())
        .collect()["Date"]
    )
    widest = max((window_days(entries.get(f)) for f in features), default=1)
    first = dates[max(0, dates.search_sorted(min(days)) - widest + 1)]
    for i in range(0, len(features), CHUNK):
        chunk = features[i : i + CHUNK]
        frame = (
            pl.scan_parquet(panel)
            .filter(pl.col("Date").is_between(first, max(days)))
            .select("Date", *(pl.col(f).cast(pl.Float64).fill_null(np.nan) for f in chunk))
            .sort("Date")
            .collect()
        )
        row_dates = frame["Date"].to_numpy()
        values = frame.drop("Date").to_numpy()
        sessions = np.unique(row_dates)
        for day in days:
            today = np.datetime64(day, "D")
            end = int(np.searchsorted(row_dates, today, side="right"))
            have = end > 0 and row_dates[end - 1] == today
            pos = int(np.searchsorted(sessions, today))
            for j, name in enumerate(chunk):
                entry = entries.get(name)
                start_day = sessions[max(0, pos - window_days(entry) + 1)]
                start = int(np.searchsorted(row_dates, start_day)) if have else end
                window = values[start:end, j]
                psi_ = entry_psi(entry, window)
                out[day].append((kind_of(entry), name, psi_, int(window.size)))
    return out


def prediction_drift(
    reference: dict | None, scores: pl.DataFrame, days: list[dt.date]
) -> dict[dt.date, tuple[str, str, float, int]]:
    """{day: ("prediction", "score", psi, stored scores)} of ``scores`` (``Date, score``)."""
    entry = (reference or {}).get("scores")
    by_day = scores.partition_by("Date", as_dict=True, include_key=False)
    out = {}
    for day in days:
        s = by_day[(day,)]["score"].to_numpy() if (day,) in by_day else np.array([])
        out[day] = ("prediction", "score", entry_psi(entry, s), int(s.size))
    return out
