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
