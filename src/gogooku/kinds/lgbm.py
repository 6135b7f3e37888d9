"""Kind ``lgbm``: LightGBM on one day's feature rows (``gogooku.models.gbdt``).

A run predicts only the horizons it fits (``predicted_horizons``: with ``horizons = "main"``
just ``[target] main_horizon``). A bundle holds one booster file per fitted horizon and seed
(``lgbm_file(h, i)``); the score of horizon h is the mean of the boosters of the horizon that
scores it (``fitted_horizons``; a bundle of an older ``"main"`` run that lists every horizon
scores each with the main model, as that run's predictions did).
With ``categorical_ids = "categorical"`` the bundle's ``raw_features`` are the ids, appended to
the normalised features as integer codes, as in training (``gogooku.kinds.tabular``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import polars as pl

from gogooku.dataset.tabular import IdHandling, TabularData
from gogooku.kinds.tabular import TabularKind
from gogooku.models.gbdt import (
    LgbmConfig,
    fit_predict_lgbm,
    fitted_horizons,
    lgbm_file,
    predict_mean,
    predicted_horizons,
)
from gogooku.models.registry import BundleJob


class LgbmPredictor:
    def __init__(self, boosters: dict[int, list], source: dict[int, int], horizons: list[int]):
        self.boosters, self.source, self.horizons = boosters, source, horizons

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        scores = {h: predict_mean(self.boosters[h], inputs) for h in set(self.source.values())}
        return np.stack([scores[self.source[h]] for h in self.horizons], axis=1)


class LgbmKind(TabularKind):
    name = "lgbm"
    config = LgbmConfig

    def predicted_horizons(self, model_cfg: LgbmConfig, target: Any) -> list[int]:
        return predicted_horizons(model_cfg, target)

    def id_handling(self, model_cfg: LgbmConfig) -> IdHandling:
        return model_cfg.categorical_ids

    def fit_predict(self, model_cfg: LgbmConfig, data: TabularData, run_dir: Path) -> pl.DataFrame:
        return fit_predict_lgbm(model_cfg, data, run_dir)

    def model_files(self, job: BundleJob) -> list[str]:
        fitted = sorted(set(fitted_horizons(job.cfg.model, job.cfg.target).values()))
        return [lgbm_file(h, i) for h in fitted for i in range(job.cfg.model.seeds)]

    def load(self, files: Path, info: Any, cfg: Any) -> LgbmPredictor:
        source = fitted_horizons(cfg.model, cfg.target)
        boosters = {
            h: [
                lightgbm.Booster(model_file=str(files / lgbm_file(h, i)))
                for i in range(cfg.model.seeds)
            ]
            for h in sorted(set(source.values()))
        }
        return LgbmPredictor(boosters, source, list(info.horizons))
