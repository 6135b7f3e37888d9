"""What every neural model's ``forward(batch)`` returns."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from gogooku.config import StrictModel


class QuantileFields(StrictModel):
    """The ``[model]`` field of the quantile head, shared by the ATFT, APEX and MASTER configs."""

    quantiles: tuple[float, ...] = Field((0.1, 0.5, 0.9), description="empty: no quantile head")

    @model_validator(mode="after")
    def _increasing_quantiles(self) -> QuantileFields:
        q = self.quantiles
        if any(not 0.0 < v < 1.0 for v in q) or any(a >= b for a, b in itertools.pairwise(q)):
            raise ValueError(f"quantiles={list(q)} must be strictly increasing inside (0, 1)")
        return self


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


def head_output(
    raw: torch.Tensor,
    skip: torch.Tensor | None,
    branches: dict[str, torch.Tensor],
    quantile_levels: tuple[float, ...],
) -> ModelOutput:
    """The forecasts of the heads' raw output ``raw`` (B, N, H, 1 + Q), in float32: point =
    raw[..., 0] (+ ``skip``, the linear skip's (B, N, H)), quantiles q₁ = raw[..., 1] and
    q_i = q_{i−1} + softplus(raw[..., i]), so they increase along Q (none when Q = 0)."""
    point = raw[..., 0] if skip is None else raw[..., 0] + skip
    quantiles = None
    if quantile_levels:
        steps = torch.cat([raw[..., 1:2], F.softplus(raw[..., 2:])], dim=-1)
        quantiles = steps.cumsum(dim=-1)
    return ModelOutput(point, quantiles, branches, quantile_levels)
