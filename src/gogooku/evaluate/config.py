"""The ``[evaluate]`` section of a run config: how a run's predictions are scored.

Saved with the run (``config.toml``) and read by ``evaluate_run`` when no other settings are
given, so ``gogooku train`` and a later ``gogooku evaluate --run`` score the same way::

    [evaluate]
    top_k = 50            # names per portfolio leg (and the top-K turnover)
    cost_bps = 10.0       # costs per side, in basis points of traded value
    quantiles = 10        # buckets of the per-day quantile returns
    benchmark = "auto"    # what excess return and beta are measured against:
                          # auto | topix | universe | equal_weight | index:NAME
                          # (gogooku.evaluate.benchmark; auto: TOPIX when stored, else universe)
    bootstrap = 1000      # block-bootstrap replicates of every interval
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from gogooku.config import StrictModel

BENCHMARK_CHOICES = ("auto", "topix", "universe", "equal_weight")
INDEX_PREFIX = "index:"
_INDEX_RE = re.compile(r"^index:\S+$")


def check_benchmark_choice(value: str) -> str:
    """``value`` when it is one of :data:`BENCHMARK_CHOICES` or ``index:NAME``; else a ValueError."""
    if value in BENCHMARK_CHOICES or _INDEX_RE.match(value):
        return value
    raise ValueError(
        f"benchmark {value!r}: expected one of {', '.join(BENCHMARK_CHOICES)} or index:NAME (an "
        "indices_bars_daily Code, e.g. one brought in by `gogooku import index`)"
    )


class EvaluateConfig(StrictModel):
    """The ``[evaluate]`` section (see the module doc)."""

    top_k: int = Field(50, ge=1)
    cost_bps: float = Field(10.0, ge=0)
    quantiles: int = Field(10, ge=2)
    benchmark: str = "auto"
    bootstrap: int = Field(1000, ge=10)

    @field_validator("benchmark")
    @classmethod
    def _known_benchmark(cls, value: str) -> str:
        return check_benchmark_choice(value)
