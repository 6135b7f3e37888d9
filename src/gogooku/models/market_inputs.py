"""The raw market columns that the market-guided networks (APEX, MASTER) read beside the
normalised stock features.

The per-date cross-sectional normalisation maps a column that is equal for every stock (the
TOPIX return, an investor-flow total) to 0, so these networks read the **raw** cache values of
every feature whose block is in ``[model] market_blocks`` (default :data:`MARKET_BLOCKS`:
TOPIX, investor flows, options, futures, trade breakdown):

- :func:`market_columns` picks those columns of a cache;
- :class:`MarketColumns` wraps a :class:`~gogooku.dataset.loader.DayBatchLoader` so that each
  batch's x (B, L, N, F) becomes (B, L, N, F + M) with the M raw columns appended (training,
  and ``gogooku.bundle.window`` for a bundle);
- :func:`market_means`: m_t = mean over the day's listed stocks with a finite value (the value
  itself for index-level columns, the market average for per-stock ones such as beta), so the
  market vector is the same for every stock of a day and ignores unlisted stocks;
- :func:`signed_log`: s(v) = sign(v)·log(1 + |v|), which brings index levels and flow totals
  to a common scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from pydantic import Field, model_validator

from gogooku.config import StrictModel
from gogooku.dataset.loader import AppendedColumns

if TYPE_CHECKING:
    from gogooku.dataset.cache import DenseCache
    from gogooku.dataset.loader import DayBatch, DayBatchLoader

MARKET_BLOCKS = ("market", "flows", "options", "futures", "breakdown")


class MarketGateFields(StrictModel):
    """The ``[model]`` fields of the market context, shared by the APEX and MASTER configs (each
    kind's module doc says what its gate does)."""

    market_gate: bool = Field(True, description="gate the stock features by the market context")
    market_blocks: list[str] = Field(
        list(MARKET_BLOCKS), description="feature blocks averaged into the market context"
    )

    @model_validator(mode="after")
    def _gate_needs_blocks(self) -> MarketGateFields:
        if self.market_gate and not self.market_blocks:
            raise ValueError("market_gate = true needs at least one of market_blocks")
        return self


def signed_log(v: torch.Tensor) -> torch.Tensor:
    return torch.sign(v) * torch.log1p(v.abs())


def market_means(raw: torch.Tensor, listed: torch.Tensor) -> torch.Tensor:
    """m (B, W, M): per day the mean of the raw market columns ``raw`` (B, W, N, M) over the
    stocks ``listed`` (B, W, N) with a finite value (0 where there is none)."""
    ok = listed.unsqueeze(-1) & torch.isfinite(raw)
    return torch.where(ok, raw, 0.0).sum(2) / ok.sum(2).clamp(min=1)


def market_columns(cache: DenseCache, blocks: Sequence[str]) -> np.ndarray:
    """Cache column indices of the features whose block is one of ``blocks``."""
    chosen = set(blocks)
    return np.array([i for i, b in enumerate(cache.feature_blocks) if b in chosen], dtype=np.intp)


class MarketColumns(AppendedColumns):
    """A :class:`~gogooku.dataset.loader.DayBatchLoader` whose batches carry the raw cache values
    of the cache columns ``market`` after the loader's features: x (B, L, N, F) → (B, L, N, F + M),
    the same L days and N stocks (read from the cache's memory map by the batch's dates and
    codes)."""

    def __init__(self, loader: DayBatchLoader, cache: DenseCache, market: np.ndarray) -> None:
        self.loader, self.cache = loader, cache
        self.market = np.asarray(market, dtype=np.intp)
        self.width = len(self.market)

    def columns(self, batch: DayBatch) -> torch.Tensor:
        """(B, L, N, M) raw market values of ``batch``'s days and stocks."""
        length = batch.x.shape[1]
        codes = batch.codes.cpu().numpy()
        days = []
        for d, day in enumerate(batch.dates):
            t = self.cache.date_index(day)
            window = self.cache.features[t - length + 1 : t + 1, :, self.market]
            days.append(np.asarray(window, dtype=np.float32)[:, codes[d]])
        return torch.from_numpy(np.stack(days)).to(batch.x.device)
