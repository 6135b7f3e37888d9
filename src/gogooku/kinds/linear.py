"""Kind ``linear``: ridge regression on one day's feature rows (``gogooku.models.linear``).

A bundle holds ``linear.json`` (per horizon: inputs, coefficients β, intercept b); the score of
a normalised row x is x β + b.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from gogooku.dataset.tabular import TabularData
from gogooku.kinds.tabular import TabularKind
from gogooku.models.linear import PARAMS_FILE, LinearConfig, fit_predict_linear
from gogooku.models.registry import BundleJob


class LinearPredictor:
    def __init__(self, params: dict[str, dict], horizons: list[int]) -> None:
        self.params, self.horizons = params, horizons

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return np.stack(
            [
                inputs @ np.asarray(self.params[str(h)]["coef"]) + self.params[str(h)]["intercept"]
                for h in self.horizons
            ],
            axis=1,
        )


class LinearKind(TabularKind):
    name = "linear"
    config = LinearConfig

    def fit_predict(
        self, model_cfg: LinearConfig, data: TabularData, run_dir: Path
    ) -> pl.DataFrame:
        return fit_predict_linear(model_cfg, data, run_dir)

    def model_files(self, job: BundleJob) -> list[str]:
        return [PARAMS_FILE]

    def load(self, files: Path, info: Any, cfg: Any) -> LinearPredictor:
        return LinearPredictor(json.loads((files / PARAMS_FILE).read_text()), list(info.horizons))
