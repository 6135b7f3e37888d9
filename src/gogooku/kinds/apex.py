"""Kind ``apex``: the APEX ranker (``gogooku.models.apex``), enhanced or pruned.

Fit: ``gogooku.train.apex.train_apex`` (the Trainer with the raw market columns appended, and
the pruned variant's permutation-importance selection). A bundle holds the features the pruned
variant kept (``feature_selection.csv``) and, with the market gate, the raw ``market_blocks``
columns appended after the normalised inputs (``raw_features``).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from gogooku.bundle.store import BundleError
from gogooku.dataset.cache import DenseCache, open_cache
from gogooku.kinds.neural import NeuralKind
from gogooku.models.apex import ApexConfig, build_apex
from gogooku.models.market_inputs import market_columns
from gogooku.models.registry import BundleJob, FitJob
from gogooku.train.apex import SELECTION_FILE, apex_variant, train_apex


class ApexKind(NeuralKind):
    name = "apex"
    config = ApexConfig

    def check_run(self, cfg: Any) -> None:
        if cfg.model.window > cfg.data.loader.window:
            raise ValueError(
                f"model.window {cfg.model.window} > data.loader.window "
                f"{cfg.data.loader.window}: APEX reads the last model.window days of the window"
            )

    def run_params(self, cfg: Any) -> dict[str, object]:
        return {"variant": apex_variant(cfg.model)}

    def build(
        self,
        model_cfg: ApexConfig,
        n_features: int,
        horizons: list[int],
        static_cardinalities: list[int],
        n_raw: int = 0,
    ) -> Any:
        return build_apex(model_cfg, n_features, horizons, static_cardinalities, n_raw)

    def fit(self, job: FitJob) -> dict[str, object]:
        cache = open_cache(job.dataset_dir)
        return train_apex(
            job.cfg, cache, job.fold, job.run_dir, resume=job.resume, on_epoch=job.on_epoch
        )

    def bundle_inputs(self, job: BundleJob, cache: DenseCache) -> tuple[list[str], list[str]]:
        model = job.cfg.model
        features = list(job.features)
        if model.prune is not None:
            path = job.run_dir / SELECTION_FILE
            if not path.is_file():
                raise BundleError(f"{path}: missing (the pruned APEX's kept features)")
            kept = set(pl.read_csv(path).filter(pl.col("kept"))["feature"].to_list())
            features = [f for f in features if f in kept]
        raw: list[str] = []
        if model.market_gate:
            raw = [cache.feature_names[i] for i in market_columns(cache, model.market_blocks)]
        return features, raw
