"""``gogooku train`` and ``gogooku ablate``.

``train`` creates (or, with ``--resume``, reopens) ``runs/RUN/`` for fold K of the dataset's
walk-forward splits (``[data.splits]``): ``run.json`` with the fold's train/valid/test date
ranges, the resolved ``config.toml``, then trains — the neural loop (``gogooku.train.loop``)
for ``atft``, ``gogooku.models.pruning.train_apex`` for ``apex`` (enhanced or, with
``[model] prune``, pruned; the variant is in run.json params),
``gogooku.models.tabular.fit_predict_tabular`` for ``lgbm``/``linear``/``factor`` —
writes ``predictions.parquet`` and runs the evaluator (``metrics.json``, ``report.html``).

``ablate`` trains the ATFT of a config four times on the same fold — as configured, without the
GAT, without FAN (a plain instance norm instead), without the temporal attention — and prints
``gogooku compare``'s table of the four runs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from gogooku.calendar import CalendarError
from gogooku.config import ConfigError, dump_config
from gogooku.dataset.build import BuildError, dataset_dir
from gogooku.dataset.cache import CacheError, open_cache
from gogooku.dataset.splits import Fold, SplitError, dataset_dates, walk_forward
from gogooku.evaluate.cli import compare_command
from gogooku.evaluate.evaluator import EvaluationError, evaluate_run
from gogooku.models.apex import ApexConfig, ApexError
from gogooku.models.atft_gat_fan import AtftConfig
from gogooku.models.pruning import apex_variant, train_apex
from gogooku.models.tabular import TabularError, fit_predict_tabular
from gogooku.runs import (
    Ranges,
    RunError,
    atomic_write_text,
    create_run,
    load_run,
    resolve_run_dir,
    write_predictions,
)
from gogooku.train.config import (
    MODEL_KINDS,
    NEURAL_KINDS,
    RunConfig,
    default_run_config,
    load_run_config,
)
from gogooku.train.diagnostics import CollapseError
from gogooku.train.loop import Trainer, TrainError
from gogooku.train.losses import LossError

CONFIG_FILE = "config.toml"
SUMMARY_FILE = "train_summary.json"
ABLATIONS: dict[str, dict[str, bool]] = {
    "full": {},
    "no_gat": {"gat": False},
    "no_fan": {"fan": False},
    "no_attention": {"attention": False},
}
_ERRORS = (
    ConfigError,
    BuildError,
    CacheError,
    SplitError,
    RunError,
    TabularError,
    TrainError,
    LossError,
    EvaluationError,
    CalendarError,
    ApexError,
)


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


def _print_metrics(run_dir: Path) -> None:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for split, sd in metrics["splits"].items():
        for h, e in sd["horizons"].items():
            ric = e["signal"]["rank_ic_mean"]
            shown = "n/a" if ric is None else f"{ric:+.4f}"
            typer.echo(f"{split:5s} {h:>3s}: RankIC {shown}")


def train_command(
    model: str = typer.Option(..., "--model", help=f"One of {', '.join(MODEL_KINDS)}."),
    dataset: str = typer.Option(
        ..., "--dataset", help="Dataset name: $GOGOOKU_HOME/datasets/NAME/."
    ),
    config: Annotated[
        Path | None, typer.Option("--config", help="Run config TOML (default: built-in defaults).")
    ] = None,
    run: str | None = typer.Option(None, "--run", help="Run id (default: generated)."),
    fold: int = typer.Option(0, "--fold", min=0, help="Walk-forward fold index."),
    resume: bool = typer.Option(False, "--resume", help="Continue --run from its last checkpoint."),
) -> None:
    """Train a model on one walk-forward fold, write its run folder and evaluate it."""
    try:
        cfg = load_run_config(config) if config is not None else None
        run_dir = train_run(model, dataset, cfg, run, fold, resume)
    except CollapseError as exc:
        typer.echo(f"train stopped: {exc}", err=True)
        raise typer.Exit(code=3) from None
    except _ERRORS as exc:
        typer.echo(f"train failed: {exc}", err=True)
        raise typer.Exit(code=1) from None
    _print_metrics(run_dir)
    typer.echo(f"wrote run {run_dir.name} at {run_dir}")


def ablate_command(
    dataset: str = typer.Option(
        ..., "--dataset", help="Dataset name: $GOGOOKU_HOME/datasets/NAME/."
    ),
    config: Annotated[
        Path | None, typer.Option("--config", help="ATFT run config TOML (default: defaults).")
    ] = None,
    fold: int = typer.Option(0, "--fold", min=0, help="Walk-forward fold index."),
    split: str = typer.Option("test", "--split", help="Split shown in the comparison."),
) -> None:
    """Train ATFT as configured and without GAT, FAN and attention; compare the four runs."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dirs = []
    try:
        base = load_run_config(config) if config is not None else default_run_config("atft")
        if not isinstance(base.model, AtftConfig):
            raise ConfigError(f"ablate needs an atft [model], got kind {base.model.kind!r}")
        for name, toggles in ABLATIONS.items():
            cfg = base.model_copy(update={"model": base.model.model_copy(update=toggles)})
            typer.echo(f"ablation {name}: {toggles or 'as configured'}")
            run_dirs.append(train_run("atft", dataset, cfg, f"ablate-{stamp}-{name}", fold))
    except CollapseError as exc:
        typer.echo(f"ablate stopped: {exc}", err=True)
        raise typer.Exit(code=3) from None
    except _ERRORS as exc:
        typer.echo(f"ablate failed: {exc}", err=True)
        raise typer.Exit(code=1) from None
    out = run_dirs[0].parent / f"ablate-{stamp}.html"
    compare_command([str(d) for d in run_dirs], split=split, out=out)
