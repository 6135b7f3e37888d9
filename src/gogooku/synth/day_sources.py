"""Datasets the synthetic service renders per requested day instead of holding them in memory.

``day_sources(market)`` maps dataset ids to a ``DaySource``: the days that have rows and a function
rendering the rows dated in ``[lo, hi]`` in the catalogue schema and key order. Each is a pure
function of the market's tables and seed, so a day renders the same in any request:

* ``equities_bars_minute`` and ``equities_trades`` (minute/tick add-on): ``gogooku.synth.minute``
  from the day's raw daily bars;
* ``equities_bars_daily_am``: the day's morning-session fields (``MO MH ML MC MVo MVa``) of the
  Premium session rendering (``gogooku.synth.sessions``), so the endpoint and the daily bars'
  ``M*`` fields agree; the service answers it only for its ``today``;
* ``options_all``: the Nikkei 225 options (``options_225`` rows with ``ProdCat`` ``NK225E``, the
  nearest contract month flagged ``CCMFlag``) plus TOPIX options (``TOPIXE``) derived from them:
  underlying ``UnderPx / 14`` (the TOPIX close), strikes ``Strike / 14`` on the 25-point grid
  (the first of duplicates kept), ``IV = 0.92 IV_225 + 0.5 z`` with ``z`` standard normal keyed
  by the row, ``BaseVol = 0.92 BaseVol_225``, ``Theo`` Black-Scholes, prices ``Theo`` scaled by
  the 225 option's ``C / Theo`` on the 0.1-point tick, volume and open interest 5 % of the 225
  option's. A TOPIX option's IV is therefore nearly a linear function of the Nikkei one
  (docs/features.md measures the correlation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl
from scipy.special import ndtri

from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.synth.minute import minute_bars, trades, uniforms
from gogooku.synth.sessions import with_sessions
from gogooku.synth.side.options import NIKKEI_PER_TOPIX, RATE, _bs_price

TOPIX_IV_RATIO = 0.92
TOPIX_SHARE = 0.05
TOPIX_STRIKE_STEP = 25.0
OPTIONS_STREAM = 0x3141_0003


@dataclass(frozen=True)
class DaySource:
    """A dataset rendered on request: ``days`` (sorted ``pl.Date``) and ``render(lo, hi)``."""

    days: pl.Series
    render: Callable[[date, date], pl.DataFrame]


def _between(frame: pl.DataFrame, lo: date, hi: date) -> pl.DataFrame:
    dates = frame["Date"]
    start = int(dates.search_sorted(lo, side="left"))
    stop = int(dates.search_sorted(hi, side="right"))
    return frame.slice(start, max(stop - start, 0))


def _schema(dataset: str, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(pl.col(c).cast(t) for c, t in ENDPOINTS[dataset].schema.items())


def all_options(options_225: pl.DataFrame, seed: int) -> pl.DataFrame:
    """``options_all`` rows of the ``options_225`` rows given (module docstring)."""
    if options_225.is_empty():
        return pl.DataFrame(schema=ENDPOINTS["options_all"].schema)
    nearest = pl.col("CM") == pl.col("CM").min().over("Date")
    nikkei = options_225.with_columns(
        pl.lit("NK225E").alias("ProdCat"),
        pl.lit(None, pl.String).alias("UndSSO"),
        *(pl.lit(None, pl.Float64).alias(f"M{x}") for x in "OHLC"),
        nearest.alias("CCMFlag"),
    )
    topix = (
        nikkei.with_columns(
            (pl.col("Strike") / NIKKEI_PER_TOPIX / TOPIX_STRIKE_STEP).round() * TOPIX_STRIKE_STEP
        )
        .unique(["Date", "CM", "PCDiv", "Strike"], keep="first", maintain_order=True)
        .with_columns(pl.lit("TOPIXE").alias("ProdCat"))
    )
    parts = topix.partition_by("Date", maintain_order=True)
    topix = pl.concat([_topix_day(part, seed) for part in parts])
    frame = pl.concat([_schema("options_all", nikkei), _schema("options_all", topix)])
    return frame.sort("Date", "Code", "EmMrgnTrgDiv")


def _topix_day(rows: pl.DataFrame, seed: int) -> pl.DataFrame:
    day = rows["Date"][0]
    spot = rows["UnderPx"].to_numpy() / NIKKEI_PER_TOPIX
    put = (rows["PCDiv"] == "1").to_numpy()
    strike = rows["Strike"].to_numpy()
    tau = np.maximum((rows["SQD"] - rows["Date"]).dt.total_days().to_numpy(), 1) / 365.0
    keys = pl.Series([f"{c}{p}{int(k)}" for c, p, k in zip(rows["CM"], put, strike, strict=True)])
    z = ndtri(uniforms(seed, OPTIONS_STREAM, keys, day, 1)[:, 0])
    iv = np.clip(TOPIX_IV_RATIO * rows["IV"].to_numpy() + 0.5 * z, 5.0, 150.0)
    theo = _bs_price(put, spot, strike, tau, iv / 100.0)
    theo_225 = rows["Theo"].to_numpy()
    scale = np.divide(theo, theo_225, out=np.zeros_like(theo), where=theo_225 > 0)
    traded = rows["Vo"].to_numpy() > 0

    def tick(x: np.ndarray) -> np.ndarray:
        return np.where(traded, np.maximum(np.round(x, 1), 0.1), 0.0)

    price = {c: tick(rows[c].to_numpy() * scale) for c in ("O", "H", "L", "C")}
    cm = rows["CM"].to_list()
    return rows.with_columns(
        pl.Series(
            "Code",
            [
                f"1{8 if p else 9}{c[3]}{c[5:7]}{int(k):04d}"
                for p, c, k in zip(put, cm, strike, strict=True)
            ],
        ),
        *(pl.Series(c, v) for c, v in price.items()),
        *(pl.Series(f"A{c}", v) for c, v in price.items()),
        *(pl.lit(None, pl.Float64).alias(f"E{c}") for c in "OHLC"),
        *((pl.col(c) * TOPIX_SHARE).floor().alias(c) for c in ("Vo", "OI", "VoOA")),
        pl.Series("Va", np.floor(rows["Vo"].to_numpy() * TOPIX_SHARE) * price["C"] * 10_000.0),
        pl.Series("Settle", np.maximum(np.round(theo, 1), 0.1)),
        pl.Series("Theo", np.round(theo, 4)),
        (pl.col("BaseVol") * TOPIX_IV_RATIO).round(4).alias("BaseVol"),
        pl.Series("UnderPx", np.round(spot, 2)),
        pl.Series("IV", np.round(iv, 4)),
        pl.lit(RATE * 100.0).alias("IR"),
    )


def day_sources(
    tables: dict[str, pl.DataFrame], seed: int, minute_days: int | None = None
) -> dict[str, DaySource]:
    """The per-day datasets of a market with ``tables`` and ``seed`` (module docstring); minute
    bars and ticks on its last ``minute_days`` trading days only (all of them for None)."""
    bars = tables["equities_bars_daily"]
    traded_days = bars.filter(pl.col("C").is_not_null())["Date"].unique().sort()
    if minute_days is not None:
        traded_days = traded_days.tail(minute_days)
    first = traded_days.min() if traded_days.len() else date.max
    raw = bars.select("Date", "Code", "O", "H", "L", "C", "Vo", "Va")

    def minute(lo: date, hi: date) -> pl.DataFrame:
        return minute_bars(_between(raw, max(lo, first), hi), seed)

    def ticks(lo: date, hi: date) -> pl.DataFrame:
        return _schema("equities_trades", trades(minute(lo, hi), seed))

    def morning(lo: date, hi: date) -> pl.DataFrame:
        return _schema("equities_bars_daily_am", with_sessions(_between(bars, lo, hi), seed))

    sources = {
        "equities_bars_minute": DaySource(traded_days, minute),
        "equities_trades": DaySource(traded_days, ticks),
        "equities_bars_daily_am": DaySource(bars["Date"].unique().sort(), morning),
    }
    if "options_225" in tables:
        options = tables["options_225"].sort("Date", "Code", maintain_order=True)

        def every_option(lo: date, hi: date) -> pl.DataFrame:
            return all_options(_between(options, lo, hi), seed)

        sources["options_all"] = DaySource(options["Date"].unique().sort(), every_option)
    return sources
