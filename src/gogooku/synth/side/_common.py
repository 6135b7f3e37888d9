"""Helpers shared by the side-dataset renderers: schema conformance and day lookups."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from gogooku.jquants.endpoints import get_endpoint
from gogooku.synth.latents import extended_days
from gogooku.synth.state import MarketState

EXTRA_DAYS = 60  # >= latents.SCHEDULE_EXTRA_DAYS: schedules reach that far


def conform(frame: pl.DataFrame, dataset_id: str) -> pl.DataFrame:
    """``frame`` with exactly the catalogue schema of ``dataset_id``: its columns in order, cast
    to the catalogue dtypes; schema columns absent from ``frame`` become typed nulls.

    A column of ``frame`` that the schema does not know is a renderer bug and raises.
    """
    schema = get_endpoint(dataset_id).schema
    unknown = [c for c in frame.columns if c not in schema]
    if unknown:
        raise ValueError(f"{dataset_id}: rendered columns {unknown} are not in the V2 schema")
    return frame.select(
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in schema.items()
    )


def ext_days(state: MarketState) -> list[date]:
    """Trading days of the market followed by ``EXTRA_DAYS`` later JPX sessions."""
    return extended_days(state.days, EXTRA_DAYS)


def day_series(days: list[date], idx: np.ndarray, name: str) -> pl.Series:
    """``days[idx]`` as a ``pl.Date`` series."""
    lookup = pl.Series(name, days, dtype=pl.Date)
    return lookup.gather(pl.Series(idx, dtype=pl.Int64)).alias(name)


def share_multiplier(state: MarketState) -> np.ndarray:
    """``(T, N)`` shares per original share after the splits so far: ``prod 1 / AdjFactor``."""
    return np.cumprod(1.0 / state.adj_factor, axis=0)


def shares_outstanding(state: MarketState) -> np.ndarray:
    """``(T, N)`` unadjusted shares outstanding (universe count times the split multiplier)."""
    so = state.universe["shares_outstanding"].to_numpy().astype(float)
    return so[None, :] * share_multiplier(state)


def bar_indices(state: MarketState, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Day index ``t`` and stock index ``i`` of every (Date, Code) row of ``frame``."""
    days = pl.DataFrame({"Date": state.days}, schema={"Date": pl.Date}).with_row_index("t")
    codes = state.universe.select("Code").with_row_index("i")
    idx = frame.select("Date", "Code").join(days, on="Date", how="left", maintain_order="left")
    idx = idx.join(codes, on="Code", how="left", maintain_order="left")
    if idx["t"].null_count() or idx["i"].null_count():
        raise ValueError(
            "equities_bars_daily has (Date, Code) rows outside the market's days/codes"
        )
    return idx["t"].to_numpy().astype(np.int64), idx["i"].to_numpy().astype(np.int64)


def traded_value(state: MarketState) -> np.ndarray:
    """``(T, N)`` traded value ``Va`` of ``equities_bars_daily`` in JPY (0 without trades)."""
    bars = state.bars.filter(pl.col("Va").is_not_null())
    t, i = bar_indices(state, bars)
    out = np.zeros(state.ret.shape)
    out[t, i] = bars["Va"].to_numpy()
    return out


def round_lots(x: np.ndarray, lot: float = 100.0) -> np.ndarray:
    """Round share counts to whole trading units."""
    return np.round(x / lot) * lot
