"""Index futures (``futures``): TOPIX (``TOPIXF``) and Nikkei 225 (``NK225F``) quarterly contracts.

On day t the 3 nearest quarterly contract months (Mar/Jun/Sep/Dec) with ``LTD >= t`` are listed
(SQ on the second Friday, ``LTD`` the trading day before). Prices follow the index with cost of
carry, ``F = index x exp(r tau)`` (``r`` = 0.1 %, ``tau`` years to SQ) for each of O/H/L/C of the
index bar (TOPIX from ``indices_topix``; Nikkei 225 = 14 x TOPIX as for the options), rounded to
the tick (0.5 TOPIX, 10 Nikkei). The night session (``E*``) opens at the previous settlement and
closes at the day's open; the day session (``A*``) is the whole-day bar; no morning split
(``M*`` null). Volume ``~ Poisson(base x 0.02^k)`` for the k-th nearest month (``base`` 40,000
TOPIX / 30,000 Nikkei), ``OI = 12 x base x 0.05^k``; the central contract (``CCMFlag``) is the
nearest one more than 7 calendar days before its SQ.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from gogooku.synth.config import rng_for
from gogooku.synth.side._common import conform
from gogooku.synth.side._contracts import Sessions, contract_dates, sessions
from gogooku.synth.side.options import NIKKEI_PER_TOPIX, RATE
from gogooku.synth.state import MarketState

PRODUCTS = (
    # category, code digit, index multiple of TOPIX, tick, base volume, contract multiplier
    ("TOPIXF", "6", 1.0, 0.5, 40000.0, 10000.0),
    ("NK225F", "8", NIKKEI_PER_TOPIX, 10.0, 30000.0, 1000.0),
)


def _quarterlies(day: date, trading: Sessions) -> list[tuple[int, int, date, date]]:
    out = []
    y, m = day.year, day.month
    while len(out) < 3:
        if m % 3 == 0:
            sqd, ltd = contract_dates(y, m, trading)
            if ltd >= day:
                out.append((y, m, sqd, ltd))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _index_bars(state: MarketState) -> np.ndarray:
    """``(T, 4)`` TOPIX O/H/L/C on the market's days, the last close carried over gaps."""
    frame = (
        pl.DataFrame({"Date": state.days}, schema={"Date": pl.Date})
        .join(state.topix, on="Date", how="left")
        .with_columns(pl.col("C").forward_fill().backward_fill())
        .with_columns(pl.col(c).fill_null(pl.col("C")) for c in ("O", "H", "L"))
    )
    return frame.select("O", "H", "L", "C").to_numpy()


def render_futures(state: MarketState) -> dict[str, pl.DataFrame]:
    """``futures`` for ``state``."""
    trading = sessions(state.days[0])
    bars = _index_bars(state)
    rows: list[dict[str, object]] = []
    last_settle: dict[str, float] = {}
    for t, day in enumerate(state.days):
        contracts = _quarterlies(day, trading)
        central = next(k for k, c in enumerate(contracts) if (c[2] - day).days > 7)
        rng = rng_for(state.config.seed, "futures", day)
        volume_draws = rng.poisson(1.0, size=(len(PRODUCTS), len(contracts)))
        for p, (category, digit, mult, tick, base_vo, unit) in enumerate(PRODUCTS):
            for k, (y, m, sqd, ltd) in enumerate(contracts):
                carry = np.exp(RATE * max((sqd - day).days, 0) / 365.0)
                o, h, lo, c = (np.round(bars[t] * mult * carry / tick) * tick).tolist()
                code = f"1{digit}{y % 10}{m:02d}0005"
                vo = float(round(base_vo * 0.02**k * (0.8 + 0.4 * volume_draws[p, k] / 2)))
                prev = last_settle.get(code, o)
                rows.append(
                    {
                        "Code": code,
                        "ProdCat": category,
                        "Date": day,
                        "O": o,
                        "H": h,
                        "L": lo,
                        "C": c,
                        "EO": prev,
                        "EH": max(prev, o),
                        "EL": min(prev, o),
                        "EC": o,
                        "AO": o,
                        "AH": h,
                        "AL": lo,
                        "AC": c,
                        "Vo": vo,
                        "OI": float(round(12 * base_vo * 0.05**k)),
                        "Va": vo * c * unit,
                        "CM": f"{y:04d}-{m:02d}",
                        "VoOA": float(round(vo * 0.94)),
                        "EmMrgnTrgDiv": "002",
                        "LTD": ltd,
                        "SQD": sqd,
                        "Settle": c,
                        "CCMFlag": k == central,
                    }
                )
                last_settle[code] = c
    frame = pl.DataFrame(rows) if rows else pl.DataFrame()
    return {"futures": conform(frame, "futures")}
