"""APEX training flows: the enhanced model (all features) and the pruned variant.

:func:`apex_trainer` is the :class:`~gogooku.train.loop.Trainer` of an APEX run
(``gogooku.train.market.market_trainer``): the model gets the raw market columns of
``model.market_blocks`` and every loader is wrapped in
:class:`~gogooku.models.market_inputs.MarketColumns`. ``train_apex(cfg, cache, fold, run_dir)`` trains
through it; with ``[model] prune`` set it runs the pruned variant inside the same run folder:

1. train the enhanced model (``prune`` cleared) in ``run_dir/enhanced/`` (checkpoints, history)
   and load its best epoch's EMA weights;
2. permutation importance on the fold's **validation days only**: S = mean over validation days
   of the main-horizon RankIC; for feature f and repeat r the feature's whole window is shuffled
   across the day's listed stocks (one permutation per day, drawn from
   ``numpy.random.default_rng([prune.seed, f, r])``), giving S_f,r; importance
   I_f = S − mean_r S_f,r (with missing indicators, a feature and its indicator move together).
   Only the normalised stock inputs are shuffled: the raw market columns feed the market
   context, a mean over the day's stocks that a within-day shuffle would not change, and they
   are appended whatever the feature selection (a column equal for every stock normalises to 0,
   so its importance as a stock input is 0);
3. the ⌈keep · F⌉ features with the largest I_f (ties: feature order) are kept;
4. ``feature_selection.csv`` (feature, block, importance, kept) is written into ``run_dir``
   and the model is retrained on the kept features (``[data.loader] features``).

No test-period value enters steps 1–3: training reads the training days, early stopping and the
importance the validation days (tested by corrupting the test period's features). With
``resume`` an existing ``feature_selection.csv`` is reused and only the pruned model resumes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch import nn

from gogooku.dataset.cache import DenseCache
from gogooku.dataset.loader import DayBatch
from gogooku.dataset.splits import Fold
from gogooku.io import atomic_write_text
from gogooku.models.apex import ApexConfig, ApexError, ApexRanker, build_apex
from gogooku.train.config import RunConfig
from gogooku.train.loop import Trainer
from gogooku.train.losses import rank_ic_days
from gogooku.train.market import market_trainer

SELECTION_FILE = "feature_selection.csv"
ENHANCED_DIR = "enhanced"


def apex_trainer(run_cfg: RunConfig, cache: DenseCache, fold: Fold, run_dir: str | Path) -> Trainer:
    """The :class:`~gogooku.train.loop.Trainer` of the APEX of ``run_cfg``: the model gets the
    M market columns of ``model.market_blocks`` (all found in the cache; none without the gate)
    and every loader of the trainer is wrapped in :class:`MarketColumns`."""
    cfg = run_cfg.model
    if not isinstance(cfg, ApexConfig):
        raise ApexError(f"apex_trainer needs an apex [model], got kind {cfg.kind!r}")
    blocks = cfg.market_blocks if cfg.market_gate else []

    def build(n_features: int, horizons: list[int], cards: list[int], n_market: int) -> ApexRanker:
        return build_apex(cfg, n_features, horizons, cards, n_market)

    return market_trainer(run_cfg, cache, fold, run_dir, blocks, build, ApexError)


def apex_variant(cfg: ApexConfig) -> str:
    """``"pruned"`` with ``[model] prune``, else ``"enhanced"`` (recorded in run.json params)."""
    return "enhanced" if cfg.prune is None else "pruned"


@torch.no_grad()
def mean_rank_ic(model: nn.Module, batches: Sequence[DayBatch], j: int) -> float:
    """Mean over the batches' days of the per-day RankIC of output horizon ``j``."""
    model.eval()
    ics = [rank_ic_days(model(b).point[..., j], b.y[..., j], b.y_mask[..., j]) for b in batches]
    values = torch.cat(ics)
    values = values[torch.isfinite(values)]
    return float(values.mean()) if values.numel() else math.nan


def shuffle_within_days(batch: DayBatch, columns: Sequence[int], rng: np.random.Generator):
    """``batch`` with x[..., columns] permuted across each day's listed stocks (whole window)."""
    x = batch.x.clone()
    cols = torch.as_tensor(list(columns), dtype=torch.long, device=x.device)
    for d in range(x.shape[0]):
        listed = torch.nonzero(batch.mask[d]).flatten()
        perm = listed[torch.as_tensor(rng.permutation(len(listed)), device=x.device)]
        block = x[d][:, :, cols]
        block[:, listed] = x[d][:, perm][:, :, cols]
        x[d][:, :, cols] = block
    return replace(batch, x=x)


def permutation_importance(
    model: nn.Module,
    batches: Sequence[DayBatch],
    j: int,
    columns: Sequence[Sequence[int]],
    repeats: int,
    seed: int,
) -> np.ndarray:
    """I_f = S − mean_r S_f,r for each group of input columns (module doc, step 2)."""
    base = mean_rank_ic(model, batches, j)
    out = np.empty(len(columns))
    for f, cols in enumerate(columns):
        scores = []
        for r in range(repeats):
            rng = np.random.default_rng([seed, f, r])
            shuffled = [shuffle_within_days(b, cols, rng) for b in batches]
            scores.append(mean_rank_ic(model, shuffled, j))
        out[f] = base - float(np.mean(scores))
    return out


def select_features(
    trainer: Trainer, cfg: RunConfig, cache: DenseCache, names: Sequence[str]
) -> pl.DataFrame:
    """Importance of each of ``names`` (the trained model's loader features) on the validation
    days, and which are kept (module doc, steps 2–3)."""
    model_cfg = cfg.model
    if not isinstance(model_cfg, ApexConfig) or model_cfg.prune is None:
        raise ApexError("select_features needs an apex [model] with a prune table")
    prune = model_cfg.prune
    f = len(names)
    indicators = trainer.n_features == 2 * f
    columns = [[k, k + f] if indicators else [k] for k in range(f)]
    batches = list(trainer.eval_loaders["valid"])
    j = trainer.horizons.index(cfg.target.main_horizon)
    importance = permutation_importance(
        trainer.model, batches, j, columns, prune.repeats, prune.seed
    )
    blocks = dict(zip(cache.feature_names, cache.feature_blocks, strict=True))
    order = np.argsort(-importance, kind="stable")
    kept = np.zeros(f, dtype=bool)
    kept[order[: max(1, math.ceil(prune.keep * f))]] = True
    return pl.DataFrame(
        {
            "feature": list(names),
            "block": [blocks[n] for n in names],
            "importance": importance,
            "kept": kept,
        }
    )


def train_apex(
    cfg: RunConfig,
    cache: DenseCache,
    fold: Fold,
    run_dir: Path,
    resume: bool = False,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> dict:
    """Train APEX (enhanced, or pruned with ``[model] prune``) into ``run_dir``, write its
    predictions, and return the Trainer's summary (plus the enhanced stage's for pruned)."""
    model_cfg = cfg.model
    if not isinstance(model_cfg, ApexConfig):
        raise ApexError(f"train_apex needs an apex [model], got kind {model_cfg.kind!r}")
    run_dir = Path(run_dir)
    extra: dict = {"variant": apex_variant(model_cfg)}
    if model_cfg.prune is not None:
        selection_path = run_dir / SELECTION_FILE
        if resume and selection_path.is_file():
            selection = pl.read_csv(selection_path)
        else:
            enhanced = cfg.model_copy(
                update={"model": model_cfg.model_copy(update={"prune": None})}
            )
            stage_dir = run_dir / ENHANCED_DIR
            stage_dir.mkdir(parents=True, exist_ok=True)
            stage = apex_trainer(enhanced, cache, fold, stage_dir)
            extra["enhanced"] = stage.fit()
            stage.load_best()
            selection = select_features(stage, cfg, cache, stage.train_loader.loader.feature_names)
            atomic_write_text(selection_path, selection.write_csv())
        kept = selection.filter(pl.col("kept"))["feature"].to_list()
        extra["features_kept"] = len(kept)
        extra["features_total"] = selection.height
        loader = cfg.data.loader.model_copy(update={"features": kept, "feature_blocks": None})
        cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"loader": loader})})
    trainer = apex_trainer(cfg, cache, fold, run_dir)
    summary = trainer.fit(resume=resume, on_epoch=on_epoch)
    trainer.write_predictions()
    return {**summary, **extra}
