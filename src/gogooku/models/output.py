"""What every neural model's ``forward(batch)`` returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ModelOutput:
    """Forecasts for one :class:`~gogooku.dataset.loader.DayBatch` of B days and N stocks.

    - ``point`` (B, N, H): the point forecast per horizon (the trainer's rank/IC losses use it);
    - ``quantiles`` (B, N, H, Q) or None: forecasts at ``quantile_levels`` (increasing along Q);
    - ``branches``: outputs of optional branches by name (e.g. ``"gat"``, ``"fan"``,
      ``"attention"``), each (B, N, D), so diagnostics can warn when one is dead (~0);
    - ``quantile_levels``: the Q levels of ``quantiles`` (empty when ``quantiles`` is None).

    Values for masked stocks are arbitrary; losses and metrics ignore them.
    """

    point: torch.Tensor
    quantiles: torch.Tensor | None = None
    branches: dict[str, torch.Tensor] = field(default_factory=dict)
    quantile_levels: tuple[float, ...] = ()
