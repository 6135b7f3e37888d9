"""Kind ``factor``: the reference factors and the synthetic oracle (``gogooku.models.factor``).

Fixed formulas with no fitted state: trained and evaluated like any run, never bundled.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gogooku.config import NormalizationConfig
from gogooku.kinds.tabular import TabularKind
from gogooku.models.factor import FactorConfig, predict_factor
from gogooku.runs import Ranges
from gogooku.target import TargetConfig


class FactorKind(TabularKind):
    name = "factor"
    config = FactorConfig

    # predicted_horizons stays every [target] horizon: reversal and momentum are horizon-free
    # signals (one score per stock and day), so scoring the same score against every horizon's
    # label is the point — how the signal decays with the horizon — not a copy standing in for
    # an unfitted model; the oracle's columns are the per-horizon expected returns.

    def fit_predict_panel(
        self,
        model_cfg: FactorConfig,
        panel: pl.LazyFrame,
        features: list[str],
        ranges: Ranges,
        target: TargetConfig,
        run_dir: Path,
        normalization: NormalizationConfig,
    ) -> pl.DataFrame:
        return predict_factor(model_cfg, panel, ranges, target, run_dir)
