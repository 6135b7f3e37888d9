"""Train one run on one walk-forward fold: what ``gogooku train``, ``hpo``, ``demo`` and the
studies call.

``train_run(kind, dataset, cfg, run_id, fold_index)`` creates (or, with ``resume``, reopens)
``runs/RUN/`` for fold K of the dataset's walk-forward splits (``[data.splits]``): ``run.json``
with the fold's train/valid/test date ranges, the resolved ``config.toml``, then trains — the
neural loop (``gogooku.train.loop``) for ``atft``, ``gogooku.models.pruning.train_apex`` for
``apex`` (enhanced or, with ``[model] prune``, pruned; the variant is in run.json params),
``gogooku.models.tabular.fit_predict_tabular`` for ``lgbm``/``linear``/``factor`` — writes
``predictions.parquet`` and runs the evaluator (``metrics.json``, ``report.html``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import polars as pl

from gogooku.config import ConfigError, dump_config
from gogooku.dataset.build import dataset_dir
from gogooku.dataset.cache import open_cache
from gogooku.dataset.splits import Fold, SplitError, dataset_dates, walk_forward
from gogooku.evaluate.evaluator import evaluate_run
from gogooku.io import atomic_write_text
from gogooku.models.apex import ApexConfig
from gogooku.models.pruning import apex_variant, train_apex
from gogooku.models.tabular import fit_predict_tabular
from gogooku.runs import Ranges, RunError, create_run, load_run, resolve_run_dir, write_predictions
from gogooku.train.config import (
    MODEL_KINDS,
    NEURAL_KINDS,
    RunConfig,
    default_run_config,
    load_run_config,
)
from gogooku.train.loop import Trainer

CONFIG_FILE = "config.toml"
SUMMARY_FILE = "train_summary.json"


def fold_ranges(fold: Fold) -> Ranges:
    return Ranges(
        train=(fold.train.start, fold.train.end),
        valid=(fold.val.start, fold.val.end),
        test=(fold.test.start, fold.test.end),
    )


def select_fold(dataset: str, cfg: RunConfig, k: int) -> Fold:
    folds = walk_forward(dataset_dates(dataset_dir(dataset)), cfg.data.splits)
    if not 0 <= k < len(folds):
        raise SplitError(f"--fold {k}: dataset {dataset!r} has folds 0..{len(folds) - 1}")
    return folds[k]


def _feature_names(dataset: str, cfg: RunConfig) -> list[str]:
    """The loader's feature selection (``[data.loader] features / feature_blocks``) by name."""
    cache = open_cache(dataset_dir(dataset))
    loader = cfg.data.loader
    return [
        cache.feature_names[i] for i in cache.feature_index(loader.features, loader.feature_blocks)
    ]


def _resume_config(run_dir: Path, override: RunConfig | None) -> RunConfig:
    saved = load_run_config(run_dir / CONFIG_FILE)
    if override is None:
        return saved
    for section in ("data", "model", "loss"):
        if getattr(override, section) != getattr(saved, section):
            raise ConfigError(
                f"--resume: [{section}] of the given config differs from {run_dir / CONFIG_FILE}; "
                "only [train] may change when resuming"
            )
    return override


def train_run(
    kind: str,
    dataset: str,
    cfg: RunConfig | None = None,
    run_id: str | None = None,
    fold_index: int = 0,
    resume: bool = False,
    on_epoch: Callable[[int, dict], None] | None = None,
    evaluate: bool = True,
) -> Path:
    """Train (or resume) one run and evaluate it; returns the run folder.

    ``on_epoch`` is passed to :meth:`Trainer.fit` (neural kinds only); ``evaluate=False`` skips
    the evaluator (metrics.json, report.html), e.g. for search trials scored on validation."""
    if kind not in MODEL_KINDS:
        raise ConfigError(f"--model {kind!r}: expected one of {', '.join(MODEL_KINDS)}")
    if resume:
        if run_id is None:
            raise RunError("--resume needs --run RUN (the run to continue)")
        run_dir = resolve_run_dir(run_id)
        info = load_run(run_dir)
        if info.dataset != dataset or info.model != kind:
            raise RunError(
                f"--resume: run {info.run_id} is model {info.model!r} on dataset "
                f"{info.dataset!r}, not {kind!r} on {dataset!r}"
            )
        cfg = _resume_config(run_dir, cfg)
        fold_index = int(info.params.get("fold", fold_index))
    cfg = cfg or default_run_config(kind)
    if cfg.model.kind != kind:
        raise ConfigError(f"--model {kind!r} but the config's [model] kind is {cfg.model.kind!r}")
    fold = select_fold(dataset, cfg, fold_index)
    horizons = sorted(cfg.loss.horizons)
    if not resume:
        params: dict[str, object] = {"fold": fold_index, "config": CONFIG_FILE}
        if isinstance(cfg.model, ApexConfig):
            params["variant"] = apex_variant(cfg.model)
        run_dir, _ = create_run(
            kind, dataset, horizons, fold_ranges(fold), params=params, run_id=run_id
        )
    dump_config(cfg, run_dir / CONFIG_FILE)
    if kind == "apex":
        cache = open_cache(dataset_dir(dataset))
        summary = train_apex(cfg, cache, fold, run_dir, resume=resume, on_epoch=on_epoch)
    elif kind in NEURAL_KINDS:
        trainer = Trainer(cfg, open_cache(dataset_dir(dataset)), fold, run_dir)
        summary = trainer.fit(resume=resume, on_epoch=on_epoch)
        trainer.write_predictions()
    else:
        panel = pl.scan_parquet(dataset_dir(dataset) / "panel.parquet")
        preds = fit_predict_tabular(
            cfg.model,
            panel,
            _feature_names(dataset, cfg),
            fold_ranges(fold),
            horizons,
            run_dir,
            cfg.data.normalization,
        )
        write_predictions(run_dir, preds)
        summary = {"epochs_run": 0, "stopped": "fit"}
    atomic_write_text(run_dir / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    if evaluate:
        evaluate_run(run_dir)
    return run_dir
