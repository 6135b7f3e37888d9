"""Kinds that are networks over windows of days (``inputs = "window"``, ``neural``).

Fit: the neural loop (``gogooku.train.loop.Trainer``) on the fold, the network built by the
kind's :meth:`NeuralKind.build`. A bundle holds ``model.pt`` = the run's
``checkpoints/best.pt`` (EMA weights), the loader's ``window``, the static id columns with their
cardinalities (each fixed code table's size + 1, as the trainer computes them) and whether the
dataset has a stock graph; bundling rebuilds the network from the config and loads the weights
once (strictly) to prove they fit. The predictor scores one day's
:class:`~gogooku.dataset.loader.DayBatch` (the bundle's normalised features, then its raw
columns) and returns the point forecasts of the batch's stocks.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gogooku.bundle.store import BundleError
from gogooku.dataset.cache import DenseCache, open_cache
from gogooku.dataset.normalize import output_names
from gogooku.models.registry import BundleJob, BundleParts, FitJob, ModelKind
from gogooku.train.loop import Trainer

MODEL_FILE = "model.pt"
BEST_CHECKPOINT = Path("checkpoints") / "best.pt"


class NetworkPredictor:
    """Point forecasts (N, H) of a one-day batch's N stocks."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, inputs: Any) -> np.ndarray:
        with torch.no_grad():
            return self.model(inputs).point[0].float().numpy()


class NeuralKind(ModelKind):
    """A network kind; subclasses implement :meth:`build` and may override :meth:`fit` and
    :meth:`bundle_inputs`."""

    inputs = "window"
    neural = True

    @abstractmethod
    def build(
        self,
        model_cfg: Any,
        n_features: int,
        horizons: list[int],
        static_cardinalities: list[int],
        n_raw: int = 0,
    ) -> Any:
        """The network for F = ``n_features`` normalised inputs followed by ``n_raw`` raw
        columns, one output per horizon."""

    def fit(self, job: FitJob) -> dict[str, object]:
        trainer = Trainer(job.cfg, open_cache(job.dataset_dir), job.fold, job.run_dir)
        summary = trainer.fit(resume=job.resume, on_epoch=job.on_epoch)
        trainer.write_predictions()
        return summary

    def bundle_inputs(self, job: BundleJob, cache: DenseCache) -> tuple[list[str], list[str]]:
        """(normalised input features, raw cache columns appended after them)."""
        return list(job.features), []

    def bundle_parts(self, job: BundleJob) -> BundleParts:
        if job.cfg.data.embeddings.ts2vec is not None:
            raise BundleError(
                f"run {job.info.run_id}: [data.embeddings.ts2vec] is on, and a bundle cannot "
                "compute the TS2Vec embeddings when it scores"
            )
        cache = open_cache(job.dataset_dir)
        features, raw = self.bundle_inputs(job, cache)
        cards = cache.static_cardinalities
        best = job.run_dir / BEST_CHECKPOINT
        if best.is_file():
            state = torch.load(best, weights_only=True)
            self.network(job.cfg, features, raw, job.info.horizons, cards, state, job.info.run_id)
        return BundleParts(
            features=features,
            model_files={MODEL_FILE: best},
            extra={
                "window": job.cfg.data.loader.window,
                "static_names": list(cache.static_names),
                "static_cardinalities": cards,
                "has_graph": cache.edge_graph is not None,
                "raw_features": raw,
            },
        )

    def network(
        self,
        cfg: Any,
        features: list[str],
        raw: list[str],
        horizons: list[int],
        cards: list[int],
        state: dict,
        source: str,
    ) -> Any:
        """The network of run config ``cfg`` with the weights ``state`` (of ``source``)."""
        n_inputs = len(output_names(features, cfg.data.normalization))
        model = self.build(cfg.model, n_inputs, list(horizons), list(cards), len(raw))
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise BundleError(
                f"run {source}: the saved weights do not fit the model rebuilt from its config: "
                f"{str(exc).splitlines()[0]}"
            ) from None
        return model.eval()

    def load(self, files: Path, info: Any, cfg: Any) -> NetworkPredictor:
        state = torch.load(files / MODEL_FILE, map_location="cpu", weights_only=True)
        model = self.network(
            cfg,
            info.features,
            info.raw_features,
            info.horizons,
            info.static_cardinalities,
            state,
            info.run_id,
        )
        return NetworkPredictor(model)
