"""``gogooku hpo``: a resumable, prunable, distributable Optuna search (see docs/hpo.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from gogooku.config import ConfigError
from gogooku.hpo.score import OBJECTIVES
from gogooku.models.registry import kind_names

# the registry names kinds without importing them; gogooku.hpo.study.PRUNERS is spelled out so
# that --help imports no Optuna (a test keeps them equal)
KINDS_HELP = f"Model kind: one of {', '.join(kind_names())}."
PRUNERS_HELP = "One of median, hyperband, none."

STUDY_NAME = re.compile(r"[A-Za-z0-9._-]+")


def _folds(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"--folds {text!r}: expected comma-separated fold indices") from None


def hpo_command(
    model: str = typer.Option(..., "--model", help=KINDS_HELP),
    dataset: str = typer.Option(
        ..., "--dataset", help="Dataset name: $GOGOOKU_HOME/datasets/NAME/."
    ),
    config: Annotated[
        Path,
        typer.Option(
            "--config", help="Run config TOML with a [search] table (e.g. hpo_atft.toml, shipped)."
        ),
    ] = ...,
    n_trials: int | None = typer.Option(
        None,
        "--n-trials",
        min=1,
        help="New trials this process runs (added to the study); with [[search.candidates]] "
        "at most this many of the candidates not tried yet (default: all of them).",
    ),
    study_name: str = typer.Option(..., "--study-name", help="Study name in the storage."),
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", help="Trial folders and reports (default $GOGOOKU_HOME/hpo/STUDY)."
        ),
    ] = None,
    storage: str | None = typer.Option(
        None,
        "--storage",
        help="SQLAlchemy URL (default sqlite:///OUTPUT_DIR/study.db); share one to run workers together.",
    ),
    max_epochs: int | None = typer.Option(
        None, "--max-epochs", min=1, help="Cap on train.epochs of every trial."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", min=1, help="Stop starting trials after SEC seconds."
    ),
    n_jobs: int = typer.Option(
        1, "--n-jobs", min=1, help="Trials run in parallel threads of this process."
    ),
    folds: str | None = typer.Option(
        None, "--folds", help="Validation folds, e.g. '0,1' or '-2,-1' (default: last 2)."
    ),
    objective: str = typer.Option(
        "rank_ic", "--objective", help=f"One of {', '.join(OBJECTIVES)} (validation only)."
    ),
    pruner: str | None = typer.Option(
        None, "--pruner", help=PRUNERS_HELP + " Default: median; none with candidates."
    ),
    startup_trials: int = typer.Option(
        5, "--startup-trials", min=0, help="Median pruner: complete trials before pruning."
    ),
    warmup_steps: int = typer.Option(
        0, "--warmup-steps", min=0, help="Median pruner: steps of a trial before it may be pruned."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="TPE sampler seed (leave unset when workers share a study)."
    ),
    top_k: int | None = typer.Option(
        None,
        "--top-k",
        min=1,
        help="Sharpe objective: names per portfolio leg (default: the config's [evaluate]).",
    ),
    cost_bps: float | None = typer.Option(
        None,
        "--cost-bps",
        min=0.0,
        help="Sharpe objective: costs in bps per side (default: the config's [evaluate]).",
    ),
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Override a value of the base run config (not of [search]), e.g. --set "
            "data.splits.train_days=500 (repeatable; VALUE a TOML value or a bare string).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Search hyperparameters with Optuna on the validation folds; resumable and shareable."""
    from gogooku.hpo.objective import SearchJob
    from gogooku.hpo.report import print_summary, write_outputs
    from gogooku.hpo.space import CandidateSpace, load_hpo_config
    from gogooku.hpo.study import (
        default_storage,
        enqueue_candidates,
        make_pruner,
        masked_storage,
        open_study,
        run_search,
        select_folds,
        steps_per_trial,
    )
    from gogooku.settings import get_settings

    if objective not in OBJECTIVES:
        raise ConfigError(f"--objective {objective!r}: expected one of {', '.join(OBJECTIVES)}")
    if not STUDY_NAME.fullmatch(study_name):
        raise ConfigError(
            f"--study-name {study_name!r}: use letters, digits, '.', '_' and '-' "
            "(it names run folders and the default output folder)"
        )
    out = output_dir or get_settings().home / "hpo" / study_name
    url = storage or default_storage(out)
    base, space = load_hpo_config(config, overrides or ())
    given = {"top_k": top_k, "cost_bps": cost_bps}
    evaluate = base.evaluate.model_copy(update={k: v for k, v in given.items() if v is not None})
    base = base.model_copy(update={"evaluate": evaluate})
    candidates = isinstance(space, CandidateSpace)
    if n_trials is None and not candidates:
        raise ConfigError("--n-trials is needed unless the config lists [[search.candidates]]")
    if base.model.kind != model:
        raise ConfigError(f"--model {model!r} but {config} has [model] kind {base.model.kind!r}")
    job = SearchJob(
        kind=model,
        dataset=dataset,
        base=base,
        space=space,
        folds=select_folds(dataset, base, _folds(folds)),
        output_dir=out,
        study_name=study_name,
        max_epochs=max_epochs,
        objective=objective,
    )
    chosen = pruner or ("none" if candidates else "median")
    study = open_study(
        job, url, make_pruner(chosen, steps_per_trial(job), startup_trials, warmup_steps), seed
    )
    if candidates:
        waiting = enqueue_candidates(study, space)
        n_trials = waiting if n_trials is None else min(n_trials, waiting)
    typer.echo(
        f"study {study_name!r} in {masked_storage(url)}: folds {list(job.folds)}, {n_trials} new trials"
    )
    if n_trials:
        run_search(study, job, n_trials, timeout, n_jobs)
    summary = write_outputs(study, job, url)
    print_summary(summary)
    typer.echo(
        f"wrote {out / 'summary.json'}, {out / 'report.html'}"
        + (f", {out / 'best_config.toml'}" if summary["best"] else "")
    )
