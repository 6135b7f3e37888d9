"""The ``[evaluate]`` section of a run config: how a run's predictions are scored.

Saved with the run (``config.toml``) and read by ``evaluate_run`` when no other settings are
given, so ``gogooku train`` and a later ``gogooku evaluate --run`` score the same way::

    [evaluate]
    top_k = 50            # names per portfolio leg (and the top-K turnover)
    cost_bps = 10.0       # costs per side, in basis points of traded value
    quantiles = 10        # buckets of the per-day quantile returns
    benchmark = "topix"   # what excess return and beta are measured against: topix | equal_weight
    bootstrap = 1000      # block-bootstrap replicates of every interval
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gogooku.config import StrictModel


class EvaluateConfig(StrictModel):
    """The ``[evaluate]`` section (see the module doc)."""

    top_k: int = Field(50, ge=1)
    cost_bps: float = Field(10.0, ge=0)
    quantiles: int = Field(10, ge=2)
    benchmark: Literal["topix", "equal_weight"] = "topix"
    bootstrap: int = Field(1000, ge=10)
