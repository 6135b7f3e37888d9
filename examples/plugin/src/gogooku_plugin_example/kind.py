"""Model kind ``icweight``: a score weighted by each feature's information coefficient.

Fit, on the training rows only: w_f = mean over training days of the Spearman correlation
between feature f and the ``[target] main_horizon`` label; the ``top`` features by |w_f| keep
their weight, the others get 0. Score of a row x (features normalised per date): s = Σ_f w_f x_f,
the same score for every horizon. The weights are written to ``icweight.json``, which a bundle
copies and its predictor reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from gogooku.config import StrictModel
from gogooku.dataset.tabular import TabularData, target_column
from gogooku.io import atomic_write_json
from gogooku.kinds.tabular import TabularKind
from gogooku.target import pred_column

WEIGHTS_FILE = "icweight.json"


class IcWeightConfig(StrictModel):
    kind: Literal["icweight"] = "icweight"
    top: int = Field(10, ge=1, description="features that keep their weight")


class IcWeightPredictor:
    def __init__(self, weights: dict[str, float], inputs: list[str], horizons: int) -> None:
        self.w = np.array([weights.get(name, 0.0) for name in inputs])
        self.horizons = horizons

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return np.repeat((inputs @ self.w)[:, None], self.horizons, axis=1)


class IcWeightKind(TabularKind):
    name = "icweight"
    config = IcWeightConfig

    def fit_predict(self, model_cfg: IcWeightConfig, data: TabularData, run_dir: Path):
        label = target_column(data.target.main_horizon)
        train = data.rows("train", data.target.main_horizon)
        daily = train.group_by("Date").agg(
            pl.corr(pl.col(f), pl.col(label), method="spearman").alias(f) for f in data.inputs
        )
        ic = {f: daily[f].fill_nan(None).mean() or 0.0 for f in data.inputs}
        kept = sorted(ic, key=lambda f: abs(ic[f]), reverse=True)[: model_cfg.top]
        weights = {f: float(ic[f]) for f in kept}
        atomic_write_json(Path(run_dir) / WEIGHTS_FILE, weights)
        predictor = IcWeightPredictor(weights, data.inputs, len(data.horizons))
        scores = predictor.predict(data.frame.select(data.inputs).to_numpy())
        return data.frame.select("Date", "Code", "split").with_columns(
            pl.Series(pred_column(h), scores[:, j]) for j, h in enumerate(data.horizons)
        )

    def model_files(self, job: Any) -> list[str]:
        return [WEIGHTS_FILE]

    def load(self, files: Path, info: Any, cfg: Any) -> IcWeightPredictor:
        from gogooku.config import NormalizationConfig
        from gogooku.dataset.normalize import output_names

        weights = json.loads((files / WEIGHTS_FILE).read_text())
        spec = NormalizationConfig.model_validate(info.normalization)
        return IcWeightPredictor(weights, output_names(info.features, spec), len(info.horizons))
