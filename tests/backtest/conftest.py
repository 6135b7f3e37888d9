"""Builders for backtest tests: a market frame from per-stock price lists, and TOPIX."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl


def trading_days(n: int, start: date = date(2024, 1, 4)) -> list[date]:
    """``n`` weekdays from ``start`` (the backtest takes its calendar from the market rows)."""
    days, d = [], start
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


def market_frame(
    days: list[date],
    closes: dict[str, list[float | None]],
    sectors: dict[str, str],
    *,
    adj_factor: dict[tuple[str, int], float] | None = None,
    ul: set[tuple[str, int]] = frozenset(),
    ll: set[tuple[str, int]] = frozenset(),
    unlisted: set[tuple[str, int]] = frozenset(),
) -> pl.DataFrame:
    """One row per listed (day, code); a None close is a no-trade day; AdjC = C / ∏ AdjFactor."""
    adj_factor = adj_factor or {}
    rows = []
    for code, prices in closes.items():
        f = 1.0
        for t, (d, c) in enumerate(zip(days, prices, strict=True)):
            a = adj_factor.get((code, t), 1.0)
            f *= a
            if (code, t) in unlisted:
                continue
            rows.append(
                {
                    "Date": d,
                    "Code": code,
                    "C": c,
                    "AdjC": None if c is None else c / f,
                    "AdjFactor": a,
                    "UL": (code, t) in ul,
                    "LL": (code, t) in ll,
                    "no_trade": c is None,
                    "S33": sectors[code],
                    "listed": True,
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "Date": pl.Date,
            "Code": pl.String,
            "C": pl.Float64,
            "AdjC": pl.Float64,
            "AdjFactor": pl.Float64,
            "UL": pl.Boolean,
            "LL": pl.Boolean,
            "no_trade": pl.Boolean,
            "S33": pl.String,
            "listed": pl.Boolean,
        },
    )


def score_frame(days: list[date], scores: dict[int, dict[str, float]]) -> pl.DataFrame:
    """Scores ``{day index: {code: score}}`` as ``Date, Code, score``."""
    rows = [
        {"Date": days[t], "Code": code, "score": s}
        for t, by_code in scores.items()
        for code, s in by_code.items()
    ]
    return pl.DataFrame(rows, schema={"Date": pl.Date, "Code": pl.String, "score": pl.Float64})


def topix_frame(days: list[date], closes: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"Date": days, "C": closes}, schema={"Date": pl.Date, "C": pl.Float64})
