"""Kind ``master``: MASTER, the market-guided stock transformer (``gogooku.models.master``).

Fit: the neural loop (``gogooku.train.loop.Trainer``) built by
``gogooku.train.market.market_trainer``, which appends the raw columns of ``model.market_blocks``
to every batch (none without the market gate). A bundle holds, beside the network kinds'
files, those raw columns' names (``raw_features``), appended after the normalised inputs when
it scores.
"""

from __future__ import annotations

from typing import Any

from gogooku.dataset.cache import DenseCache, open_cache
from gogooku.kinds.neural import NeuralKind
from gogooku.models.market_inputs import market_columns
from gogooku.models.master import MasterConfig, MasterError, build_master
from gogooku.models.registry import BundleJob, FitJob
from gogooku.train.market import market_trainer


def _blocks(model_cfg: MasterConfig) -> list[str]:
    return list(model_cfg.market_blocks) if model_cfg.market_gate else []


class MasterKind(NeuralKind):
    name = "master"
    config = MasterConfig

    def check_run(self, cfg: Any) -> None:
        if cfg.model.window > cfg.data.loader.window:
            raise ValueError(
                f"model.window {cfg.model.window} > data.loader.window "
                f"{cfg.data.loader.window}: MASTER reads the last model.window days of the window"
            )

    def build(
        self,
        model_cfg: MasterConfig,
        n_features: int,
        horizons: list[int],
        static_cardinalities: list[int],
        n_raw: int = 0,
    ) -> Any:
        return build_master(model_cfg, n_features, horizons, n_raw)

    def fit(self, job: FitJob) -> dict[str, object]:
        model_cfg = job.cfg.model

        def build(n_features: int, horizons: list[int], cards: list[int], n_market: int) -> Any:
            return build_master(model_cfg, n_features, horizons, n_market)

        cache = open_cache(job.dataset_dir)
        trainer = market_trainer(
            job.cfg, cache, job.fold, job.run_dir, _blocks(model_cfg), build, MasterError
        )
        summary = trainer.fit(resume=job.resume, on_epoch=job.on_epoch)
        trainer.write_predictions()
        return summary

    def bundle_inputs(self, job: BundleJob, cache: DenseCache) -> tuple[list[str], list[str]]:
        raw = [cache.feature_names[i] for i in market_columns(cache, _blocks(job.cfg.model))]
        return list(job.features), raw
