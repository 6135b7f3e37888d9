"""Walk-forward runs: fit a model kind on many folds (and seeds) and stitch one run of them.

``run_walkforward(kind, dataset, cfg, folds="all", seeds=1, refit_every=1, ...)`` creates
``runs/RUN/`` with ``run.json`` (its folds as :class:`~gogooku.runs.FoldRanges`, the plan in
``params["walkforward"]``) and ``config.toml``, trains every (fit group, seed) of the plan
(:mod:`gogooku.research.plan`) into ``runs/RUN/fits/g{first:03d}-s{seed}/`` through
:func:`gogooku.parallel.map_tasks` (``local`` in this process, or ``ray``), stitches them
(:mod:`gogooku.research.stitch`) into ``predictions_by_seed.parquet`` and the run's
``predictions.parquet``, scores every fit's validation days (``validation.json``,
:mod:`gogooku.research.validation`: what runs are chosen on) and evaluates the stitched run
(``metrics.json`` with per-fold rows, ``report.html``); with ``[tracking] enabled`` it is then
logged to MLflow as a parent run with one nested run per fit (``gogooku.tracking``).

Resume (``resume=True``): the saved config and plan must be the ones given (the executor may
change); finished fits are kept, unfinished ones removed and trained again. Without it an
existing run folder is refused.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from gogooku.config import ConfigError, dump_config
from gogooku.dataset.build import dataset_dir
from gogooku.dataset.splits import dataset_folds
from gogooku.evaluate.evaluator import evaluate_run
from gogooku.io import atomic_write_parquet
from gogooku.models.registry import get_kind, kind_names
from gogooku.parallel import EXECUTORS, map_tasks
from gogooku.research.plan import (
    FITS_DIR,
    FitGroup,
    FitTask,
    WalkForwardError,
    fit_complete,
    fit_name,
    fit_task,
    group_folds,
    parse_folds,
    seed_config,
)
from gogooku.research.stitch import stitch
from gogooku.research.validation import validation_record, write_validation
from gogooku.runs import (
    CONFIG_FILE,
    FoldRanges,
    Ranges,
    create_run,
    load_run,
    read_predictions,
    runs_dir,
    write_predictions,
)
from gogooku.settings import get_settings
from gogooku.tracking.mlflow_log import require_mlflow, track_run
from gogooku.train.config import RunConfig, default_run_config, load_run_config
from gogooku.train.run import fold_ranges

log = logging.getLogger(__name__)

BY_SEED_FILE = "predictions_by_seed.parquet"
PLAN_KEYS = ("folds", "seeds", "refit_every", "scheme")  # what --resume must find unchanged


@dataclass(frozen=True)
class WalkForwardPlan:
    """The selected folds, their fit groups and the number of seeds of a walk-forward run."""

    folds: list[int]
    groups: list[FitGroup]
    seeds: int
    refit_every: int
    scheme: str

    def params(self, executor: str) -> dict[str, object]:
        """``params["walkforward"]`` of the run's run.json."""
        return {
            "folds": self.folds,
            "seeds": self.seeds,
            "refit_every": self.refit_every,
            "executor": executor,
            "scheme": self.scheme,
        }

    def fold_ranges(self) -> list[FoldRanges]:
        """Each fold's ranges: train/valid of its group's fit, test = its own test window."""
        out = []
        for group in self.groups:
            fit = fold_ranges(group.fold)
            for f in group.folds:
                ranges = fit.model_copy(update={"test": (f.test.start, f.test.end)})
                out.append(FoldRanges(fold=f.index, ranges=ranges, group=group.first))
        return out

    def ranges(self) -> Ranges:
        """The stitched run's ranges: the first fit's train and valid, test from the first test
        day to the last."""
        first, last = self.groups[0].fold, self.groups[-1].fold
        return fold_ranges(first).model_copy(update={"test": (first.test.start, last.test.end)})


def plan_walkforward(
    dataset: str, cfg: RunConfig, folds: str = "all", seeds: int = 1, refit_every: int = 1
) -> WalkForwardPlan:
    """The plan of ``--folds folds --seeds seeds --refit-every refit_every`` on the dataset's
    walk-forward folds under ``cfg``'s ``[data.splits]``."""
    if seeds < 1:
        raise WalkForwardError(f"--seeds {seeds}: must be at least 1")
    all_folds = dataset_folds(dataset_dir(dataset), cfg.data.splits)
    selected = parse_folds(folds, len(all_folds))
    groups = group_folds(all_folds, selected, refit_every)
    return WalkForwardPlan(selected, groups, seeds, refit_every, cfg.data.splits.scheme)


def plan_tasks(
    kind: str,
    dataset: str,
    cfg: RunConfig,
    plan: WalkForwardPlan,
    run_dir: Path,
    home: Path,
    threads: int = 1,
) -> list[tuple[FitGroup, int, FitTask]]:
    """(group, seed, task) of every fit, groups in order, seeds ascending within a group."""
    out = []
    for group in plan.groups:
        for seed in range(plan.seeds):
            task = FitTask(
                kind=kind,
                dataset=dataset,
                cfg=seed_config(cfg, seed).model_dump(),
                fold=group.fold,
                seed=seed,
                name=fit_name(group.first, seed),
                root=run_dir / FITS_DIR,
                home=home,
                threads=threads,
            )
            out.append((group, seed, task))
    return out


def gpus_per_task(kind: str, cfg: RunConfig) -> int:
    """1 for a neural kind whose ``[train] device`` may use CUDA when CUDA is available, else 0."""
    if not get_kind(kind).neural or cfg.train.device == "cpu":
        return 0
    import torch

    return 1 if torch.cuda.is_available() else 0


def _check_resume(run_dir: Path, kind: str, dataset: str, cfg: RunConfig | None) -> RunConfig:
    info = load_run(run_dir)
    if info.folds is None or "walkforward" not in info.params:
        raise WalkForwardError(f"--resume: run {info.run_id} is not a walk-forward run")
    if info.model != kind or info.dataset != dataset:
        raise WalkForwardError(
            f"--resume: run {info.run_id} is model {info.model!r} on dataset {info.dataset!r}, "
            f"not {kind!r} on {dataset!r}"
        )
    saved = load_run_config(run_dir / CONFIG_FILE)
    if cfg is None:
        return saved
    # [tracking] says where a run is logged, not what is fitted: a resume may switch it.
    differ = [
        s
        for s in type(saved).model_fields
        if s != "tracking" and getattr(cfg, s) != getattr(saved, s)
    ]
    if differ:
        raise WalkForwardError(
            f"--resume: the given config differs from {run_dir / CONFIG_FILE} in "
            f"[{'], ['.join(differ)}]; resume with the saved config (omit --config) or start a new run"
        )
    return saved.model_copy(update={"tracking": cfg.tracking})


def run_walkforward(
    kind: str,
    dataset: str,
    cfg: RunConfig | None = None,
    folds: str = "all",
    seeds: int = 1,
    refit_every: int = 1,
    executor: str = "local",
    address: str | None = None,
    run_id: str | None = None,
    resume: bool = False,
    evaluate: bool = True,
    threads: int | None = None,
) -> Path:
    """Train, stitch and (with ``evaluate``) evaluate a walk-forward run; returns its folder
    (module doc). ``cfg`` defaults to the kind's built-in config (on resume: the saved one).
    Every fit runs with ``threads`` threads (default: this machine's cores) and a Ray task asks
    for as many CPUs, so a run's predictions depend on ``threads``, not on the executor."""
    if kind not in kind_names():
        raise ConfigError(f"--model {kind!r}: expected one of {', '.join(kind_names())}")
    if executor not in EXECUTORS:
        raise WalkForwardError(f"--executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    if resume:
        if run_id is None:
            raise WalkForwardError("--resume needs --run RUN (the walk-forward run to continue)")
        run_dir = runs_dir() / run_id
        if not run_dir.is_dir():
            raise WalkForwardError(f"--resume: no run folder {run_dir}")
        cfg = _check_resume(run_dir, kind, dataset, cfg)
    cfg = cfg or default_run_config(kind)
    if cfg.model.kind != kind:
        raise ConfigError(f"--model {kind!r} but the config's [model] kind is {cfg.model.kind!r}")
    if evaluate:
        require_mlflow(cfg.tracking)
    plan = plan_walkforward(dataset, cfg, folds, seeds, refit_every)
    horizons = get_kind(kind).predicted_horizons(cfg.model, cfg.target)
    if resume:
        saved = dict(load_run(run_dir).params["walkforward"])  # type: ignore[call-overload]
        given = plan.params(executor)
        differ = [k for k in PLAN_KEYS if saved.get(k) != given[k]]
        if differ:
            shown = ", ".join(f"{k} {saved.get(k)} → {given[k]}" for k in differ)
            raise WalkForwardError(
                f"--resume: the plan differs from run {run_id}'s ({shown}); "
                "resume with the same --folds, --seeds and --refit-every"
            )
    else:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        run_id = run_id or f"wf-{kind}-{stamp}-{uuid.uuid4().hex[:6]}"
        run_dir = runs_dir() / run_id
        if run_dir.exists():
            raise WalkForwardError(
                f"run folder {run_dir} already exists: pass --resume to continue it, or choose "
                "another --run"
            )
        params = {"config": CONFIG_FILE, "walkforward": plan.params(executor)}
        run_dir, _ = create_run(
            kind,
            dataset,
            horizons,
            plan.ranges(),
            params,
            run_id=run_id,
            folds=plan.fold_ranges(),
        )
        dump_config(cfg, run_dir / CONFIG_FILE)

    home = get_settings().home.absolute()
    threads = threads or os.cpu_count() or 1
    tasks = plan_tasks(kind, dataset, cfg, plan, run_dir, home, threads)
    pending = [task for _, _, task in tasks if not fit_complete(task.run_dir)]
    log.info(
        "walk-forward %s: %d fits (%d done), executor %s",
        run_dir.name,
        len(tasks),
        len(tasks) - len(pending),
        executor,
    )
    map_tasks(
        fit_task,
        pending,
        executor=executor,  # type: ignore[arg-type]  # checked against EXECUTORS above
        address=address,
        gpus_per_task=gpus_per_task(kind, cfg),
        cpus_per_task=threads,
        env={"GOGOOKU_HOME": str(home)},
    )
    fits = [(group, seed, read_predictions(task.run_dir)) for group, seed, task in tasks]
    by_seed, stitched = stitch(fits, horizons)
    atomic_write_parquet(run_dir / BY_SEED_FILE, by_seed)
    write_predictions(run_dir, stitched)
    main = cfg.target.main_horizon if cfg.target.main_horizon in horizons else horizons[0]
    fit_dirs = [task.run_dir for _, _, task in tasks]
    write_validation(run_dir, validation_record(fit_dirs, dataset, cfg.target, main))
    if evaluate:
        evaluate_run(run_dir)
        track_run(run_dir, cfg.tracking, fit_dirs)
    return run_dir


def latest_fit(run_dir: Path) -> Path:
    """The fit of the run's last fold group, seed 0: the model a walk-forward run would serve
    (a run folder of its own under ``runs/RUN/fits/``)."""
    fits = sorted((Path(run_dir) / FITS_DIR).glob("g*-s0"))
    if not fits:
        raise WalkForwardError(f"{Path(run_dir) / FITS_DIR}: no fit folder")
    return fits[-1]
