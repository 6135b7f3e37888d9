"""Train one run on one walk-forward fold: what ``gogooku train``, ``hpo``, ``demo`` and the
studies call.

``train_run(kind, dataset, cfg, run_id, fold_index)`` creates (or, with ``resume``, reopens)
``runs/RUN/`` for fold K of the dataset's walk-forward splits (``[data.splits]``): ``run.json``
with the fold's train/valid/test date ranges and ``[target]``'s horizons, the resolved
``config.toml``, then hands a :class:`~gogooku.models.registry.FitJob` to the model kind's
``fit`` (looked up in the registry: the neural loop for atft, ``gogooku.train.apex`` for apex,
``gogooku.train.market`` for master, the tabular fit for lgbm/linear/factor, or a plugin's), which writes ``predictions.parquet``;
then ``train_summary.json`` and the evaluator (``metrics.json``, ``report.html``); last, with
``[tracking] enabled``, the finished run folder is logged to MLflow (``gogooku.tracking``; a
tracking failure is a warning, never a failed run).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import polars as pl

from gogooku.config import ConfigError, dump_config
from gogooku.dataset.build import dataset_dir
from gogooku.dataset.cache import open_cache
from gogooku.dataset.splits import Fold, SplitError, dataset_folds
from gogooku.evaluate.evaluator import evaluate_run
from gogooku.io import atomic_write_text
from gogooku.models.registry import FitJob, get_kind, kind_names
from gogooku.runs import CONFIG_FILE, Ranges, RunError, create_run, load_run, resolve_run_dir
from gogooku.target import label_column
from gogooku.tracking.mlflow_log import require_mlflow, track_run
from gogooku.train.config import RunConfig, default_run_config, load_run_config

SUMMARY_FILE = "train_summary.json"


def fold_ranges(fold: Fold) -> Ranges:
    return Ranges(
        train=(fold.train.start, fold.train.end),
        valid=(fold.val.start, fold.val.end),
        test=(fold.test.start, fold.test.end),
    )


def resolve_fold(k: int | None, n: int, dataset: str) -> int:
    """Fold ``k`` of ``n`` as an index 0..n-1: ``None`` is the last fold, a negative ``k`` counts
    from the end (-1 the last, -2 the one before); out of range is a SplitError naming the range."""
    if k is None:
        return n - 1
    if not -n <= k < n:
        raise SplitError(
            f"--fold {k}: dataset {dataset!r} has folds 0..{n - 1} (or -{n}..-1 from the end)"
        )
    return k % n


def select_fold(dataset: str, cfg: RunConfig, k: int | None = None) -> Fold:
    """Fold ``k`` (default: the last; negative: from the end) of the dataset under
    ``[data.splits]``."""
    folds = dataset_folds(dataset_dir(dataset), cfg.data.splits)
    return folds[resolve_fold(k, len(folds), dataset)]


def selected_features(ds_dir: Path, cfg: RunConfig) -> list[str]:
    """The loader's feature selection (``[data.loader] features / feature_blocks``) by name."""
    cache = open_cache(ds_dir)
    loader = cfg.data.loader
    return [
        cache.feature_names[i] for i in cache.feature_index(loader.features, loader.feature_blocks)
    ]


def _resume_config(run_dir: Path, override: RunConfig | None) -> RunConfig:
    saved = load_run_config(run_dir / CONFIG_FILE)
    if override is None:
        return saved
    for section in ("data", "target", "model", "loss"):
        if getattr(override, section) != getattr(saved, section):
            raise ConfigError(
                f"--resume: [{section}] of the given config differs from {run_dir / CONFIG_FILE}; "
                "only [train] may change when resuming"
            )
    return override


def check_label_known(ds_dir: Path, cfg: RunConfig) -> None:
    """Refuse a ``[target] label`` the dataset has no value of: ``excess`` labels are relative to
    TOPIX, so a dataset built without ``indices_topix`` (prices imported alone) has none."""
    column = label_column(cfg.target.main_horizon, cfg.target.label)
    panel = ds_dir / "panel.parquet"
    if not panel.is_file() or column not in pl.read_parquet_schema(panel):
        return
    known = pl.scan_parquet(panel).select(pl.col(column).is_not_null().any()).collect().item()
    if not known:
        hint = (
            "; excess labels are relative to TOPIX: import it (gogooku import index FILE --name "
            "topix) and rebuild, or use label = 'raw' or 'sector'"
            if cfg.target.label == "excess"
            else ""
        )
        raise ConfigError(
            f"[target] label = {cfg.target.label!r}: dataset {ds_dir.name!r} has no value of "
            f"{column}{hint}"
        )


def train_run(
    kind: str,
    dataset: str,
    cfg: RunConfig | None = None,
    run_id: str | None = None,
    fold_index: int | None = None,
    resume: bool = False,
    on_epoch: Callable[[int, dict], None] | None = None,
    evaluate: bool = True,
    fold: Fold | None = None,
    root: Path | None = None,
    params: dict[str, object] | None = None,
) -> Path:
    """Train (or resume) one run and evaluate it; returns the run folder.

    ``fold_index`` is the walk-forward fold (default ``None``: the last one, the most recent test
    period; negative values count from the end); run.json records it as an index 0..n-1.

    ``on_epoch`` is passed to :meth:`Trainer.fit` (neural kinds only); ``evaluate=False`` skips
    the evaluator (metrics.json, report.html) and the MLflow logging of ``[tracking]``, e.g. for
    search trials scored on validation and walk-forward fits (logged with their parent run).
    ``fold`` replaces fold ``fold_index`` of the config's splits (e.g. a walk-forward group whose
    test block spans several folds); ``root`` is the folder the run is created in (default
    ``$GOGOOKU_HOME/runs``; ``--resume`` takes a run folder path for a run elsewhere);
    ``params`` are added to run.json's params (e.g. ``holdout``/``source_run`` of a final run)."""
    if kind not in kind_names():
        raise ConfigError(f"--model {kind!r}: expected one of {', '.join(kind_names())}")
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
        saved_fold = info.params.get("fold")
        fold_index = fold_index if saved_fold is None else int(saved_fold)
    cfg = cfg or default_run_config(kind)
    if cfg.model.kind != kind:
        raise ConfigError(f"--model {kind!r} but the config's [model] kind is {cfg.model.kind!r}")
    if evaluate:
        require_mlflow(cfg.tracking)
    check_label_known(dataset_dir(dataset), cfg)
    if fold is None:
        folds = dataset_folds(dataset_dir(dataset), cfg.data.splits)
        fold_index = resolve_fold(fold_index, len(folds), dataset)
        fold = folds[fold_index]
    model_kind = get_kind(kind)
    if not resume:
        given = {} if fold_index is None else {"fold": fold_index}
        run_params = {**given, "config": CONFIG_FILE, **model_kind.run_params(cfg)}
        run_dir, _ = create_run(
            kind,
            dataset,
            model_kind.predicted_horizons(cfg.model, cfg.target),
            fold_ranges(fold),
            {**run_params, **(params or {})},
            run_id=run_id,
            root=root,
        )
    dump_config(cfg, run_dir / CONFIG_FILE)
    ds_dir = dataset_dir(dataset)
    job = FitJob(
        cfg=cfg,
        dataset_dir=ds_dir,
        fold=fold,
        ranges=fold_ranges(fold),
        run_dir=run_dir,
        features=selected_features(ds_dir, cfg),
        resume=resume,
        on_epoch=on_epoch,
    )
    summary = model_kind.fit(job)
    atomic_write_text(run_dir / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    if evaluate:
        evaluate_run(run_dir)
        track_run(run_dir, cfg.tracking)
    return run_dir
