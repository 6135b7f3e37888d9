"""The demo's hyperparameter search: a short Optuna study of LightGBM (``gogooku.hpo``).

The base run config is ``hpo_lgbm.toml``'s with the demo's data sections (``demo_data.toml``).
Trials are scored on the validation days of the first compared fold only (they precede every
compared test day, so no test day enters a trial); the best trial's config is then run as the
same walk-forward as every other demo model, ``demo-lgbm-tuned``. The study lives in ``$GOGOOKU_HOME/demo/hpo/`` (SQLite,
``summary.json``, ``report.html``, ``best_config.toml``) and is replaced on each demo run; the
TPE sampler is seeded with the plan's seed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from rich.console import Console

from gogooku.config import ConfigError
from gogooku.demo.plan import DATASET, RUN_PREFIX, DemoPlan, data_config
from gogooku.hpo.objective import SearchJob
from gogooku.hpo.report import print_summary, write_outputs
from gogooku.hpo.space import load_hpo_config
from gogooku.hpo.study import default_storage, make_pruner, open_study, run_search
from gogooku.research.walkforward import run_walkforward
from gogooku.train.config import RunConfig

SEARCH_CONFIG = "hpo_lgbm.toml"
TUNED = "lgbm-tuned"


def search_config(plan: DemoPlan, configs_dir: Path) -> tuple[RunConfig, Any]:
    """``CONFIGS/hpo_lgbm.toml`` with the demo's data sections and the plan's seed, and its
    search space; a missing or invalid file is a ConfigError naming it."""
    path = configs_dir / SEARCH_CONFIG
    if not path.is_file():
        raise ConfigError(f"{path}: search config missing (pass --configs DIR)")
    base, space = load_hpo_config(path, data=data_config(configs_dir))
    return base.model_copy(
        update={"model": base.model.model_copy(update={"seed": plan.seed})}
    ), space


def search_and_train(
    plan: DemoPlan, configs_dir: Path, home: Path, fold_index: int, console: Console
) -> tuple[Path, dict]:
    """Run ``plan.hpo_trials`` trials on the validation days of fold ``fold_index``; run the best
    config as the demo's walk-forward (the last ``plan.walkforward_folds`` folds).

    Returns the tuned run's folder and the study summary (``gogooku.hpo.report``)."""
    base, space = search_config(plan, configs_dir)
    out = home / "demo" / "hpo"
    if out.exists():
        shutil.rmtree(out)
    job = SearchJob(
        kind=base.model.kind,
        dataset=DATASET,
        base=base,
        space=space,
        folds=(fold_index,),
        output_dir=out,
        study_name="demo",
    )
    study = open_study(job, default_storage(out), make_pruner("none", 1), seed=plan.seed)
    run_search(study, job, plan.hpo_trials)
    summary = write_outputs(study, job, default_storage(out))
    print_summary(summary, console)
    if summary["best"] is None:
        raise ConfigError(f"every trial of the demo search failed; see {out / 'summary.json'}")
    run_id = f"{RUN_PREFIX}{TUNED}"
    old = home / "runs" / run_id
    if old.exists():
        shutil.rmtree(old)
    cfg = job.trial_config(summary["best"]["params"])
    run_dir = run_walkforward(
        base.model.kind,
        DATASET,
        cfg,
        folds=f"last:{plan.walkforward_folds}",
        refit_every=plan.refit_every,
        run_id=run_id,
    )
    return run_dir, summary
