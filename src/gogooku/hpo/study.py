"""The Optuna study: storage, sampler, pruner, fold selection and the optimisation loop.

- Storage: ``sqlite:///DIR/study.db`` by default, or any SQLAlchemy URL (``postgresql+psycopg://
  user@/db?host=/socket/dir``). Every ``gogooku hpo`` process given the same storage and study
  name joins the same study (Optuna's RDB storage: trial numbers come from the database, so
  workers on several machines never duplicate one). The storage runs a heartbeat every
  ``HEARTBEAT_S`` seconds: a trial whose worker died is marked FAIL once its heartbeat is
  ``GRACE_S`` seconds old, when any worker next starts a trial.
- Resume: the study is created with ``load_if_exists=True``; ``n_trials`` is the number of NEW
  trials this process runs (an increment), so re-running a command adds trials. A study remembers
  the model kind, dataset, objective and folds it was created with (study user attributes) and
  refuses a worker that differs.
- Sampler: TPE (``seed`` optional: workers sharing a study should not share a seed). Pruner:
  ``median`` (``MedianPruner(n_startup_trials, n_warmup_steps)``), ``hyperband``
  (``HyperbandPruner(min_resource=1, max_resource=steps per trial)``) or ``none``.
- Candidates (``[[search.candidates]]``): :func:`enqueue_candidates` queues every candidate that
  has no trial in the study yet, in the listed order; Optuna hands queued trials out lowest number
  first, so each candidate is tried once, in order, and a re-run tries only the missing ones. The
  study also remembers the candidate names.
- A trial that raises is FAIL (``catch=(Exception,)``), its error in user attribute ``error``;
  the study goes on.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Literal

import optuna
import sqlalchemy.exc
from sqlalchemy.engine import make_url

from gogooku.config import ConfigError
from gogooku.dataset.build import dataset_dir
from gogooku.dataset.splits import dataset_folds
from gogooku.hpo.objective import Objective, SearchJob
from gogooku.hpo.space import CANDIDATE_PARAM, CandidateSpace
from gogooku.models.registry import get_kind
from gogooku.train.config import RunConfig

PrunerName = Literal["median", "hyperband", "none"]
PRUNERS: tuple[str, ...] = ("median", "hyperband", "none")
STUDY_FILE = "study.db"
HEARTBEAT_S = 60
GRACE_S = 180
DEFAULT_FOLDS = 2
STORAGE_ATTEMPTS = 3


def default_storage(output_dir: Path) -> str:
    return f"sqlite:///{(output_dir / STUDY_FILE).resolve()}"


def masked_storage(url: str) -> str:
    """The storage URL with any password replaced by ``***`` (for logs and summary.json)."""
    return make_url(url).render_as_string(hide_password=True)


def _rdb_storage(url: str) -> optuna.storages.RDBStorage:
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
        )


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage with heartbeats; SQLite waits up to 60 s for another writer's lock.

    Workers started together race to create the tables: failed attempts are retried."""
    for attempt in range(STORAGE_ATTEMPTS - 1):
        try:
            return _rdb_storage(url)
        except sqlalchemy.exc.SQLAlchemyError:
            time.sleep(1 + attempt)
    try:
        return _rdb_storage(url)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise ConfigError(f"--storage {masked_storage(url)}: {exc}") from None


def select_folds(dataset: str, cfg: RunConfig, folds: list[int] | None) -> tuple[int, ...]:
    """Fold indices (negative ones count from the last fold); default: the last two folds."""
    n = len(dataset_folds(dataset_dir(dataset), cfg.data.splits))
    wanted = folds if folds else list(range(-min(DEFAULT_FOLDS, n), 0))
    out = []
    for k in wanted:
        if not -n <= k < n:
            raise ConfigError(f"--folds {k}: dataset {dataset!r} has folds 0..{n - 1}")
        out.append(k % n)
    if len(set(out)) != len(out):
        raise ConfigError(f"--folds {folds}: the same fold appears twice ({out})")
    return tuple(out)


def make_pruner(
    name: PrunerName, steps: int, n_startup_trials: int = 5, n_warmup_steps: int = 0
) -> optuna.pruners.BasePruner:
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps
        )
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(steps, 1))
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"--pruner {name!r}: expected one of {', '.join(PRUNERS)}")


def steps_per_trial(job: SearchJob) -> int:
    """Pruning steps of a trial: folds × capped epochs (neural) or folds (tabular)."""
    if not get_kind(job.kind).neural:
        return len(job.folds)
    epochs = job.base.train.epochs
    return len(job.folds) * (epochs if job.max_epochs is None else min(epochs, job.max_epochs))


def _study_identity(job: SearchJob) -> dict[str, object]:
    identity: dict[str, object] = {
        "model": job.kind,
        "dataset": job.dataset,
        "objective": job.objective,
        "folds": list(job.folds),
    }
    if isinstance(job.space, CandidateSpace):
        identity["candidates"] = job.space.names
    return identity


def open_study(
    job: SearchJob, storage: str, pruner: optuna.pruners.BasePruner, seed: int | None = None
) -> optuna.Study:
    """Create the study or join the existing one of that name (checking it searches the same)."""
    job.output_dir.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        storage=open_storage(storage),
        study_name=job.study_name,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner,
        load_if_exists=True,
    )
    identity = _study_identity(job)
    saved = {k: study.user_attrs.get(k) for k in identity}
    if all(v is None for v in saved.values()):
        for key, value in identity.items():
            study.set_user_attr(key, value)
    elif saved != identity:
        raise ConfigError(
            f"study {job.study_name!r} in {storage} was created with {saved}, this worker has "
            f"{identity}: use another --study-name"
        )
    return study


def enqueue_candidates(study: optuna.Study, space: CandidateSpace) -> int:
    """Queue each candidate without a trial in ``study``, in order; the number now waiting."""
    for name in space.names:
        study.enqueue_trial({CANDIDATE_PARAM: name}, skip_if_exists=True)
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))


def run_search(
    study: optuna.Study,
    job: SearchJob,
    n_trials: int,
    timeout: float | None = None,
    n_jobs: int = 1,
) -> None:
    """Run ``n_trials`` new trials (fewer if ``timeout`` seconds pass first)."""
    study.optimize(
        Objective(job),
        n_trials=n_trials,
        timeout=timeout,
        n_jobs=n_jobs,
        catch=(Exception,),
        gc_after_trial=True,
    )
