"""The plan of a walk-forward run: which folds, which fits, which seeds (pure, no I/O but
:func:`fit_task`).

- ``--folds`` (:func:`parse_folds`): ``all``, ``last:N`` (the last N folds) or ``A..B`` (folds A
  to B inclusive) of the dataset's walk-forward folds (``[data.splits]``).
- ``--refit-every K`` (:func:`group_folds`): every K consecutive selected folds share one fit,
  trained on the group's first fold (its train and valid segments) and predicting the test
  block from that fold's test start to the group's last fold's test end (:class:`FitGroup`).
- ``--seeds N`` (:func:`seed_config`): seed s = 0..N-1 adds s to ``[train] seed`` and, when the
  kind's ``[model]`` has one, to ``[model] seed``; s = 0 is the config as written.

A fit is a :class:`FitTask` (picklable, so that :func:`gogooku.parallel.map_tasks` may run it on
another process or machine); :func:`fit_task` trains it into ``runs/RUN/fits/g{first:03d}-s{seed}``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import torch
from threadpoolctl import threadpool_limits

from gogooku.dataset.splits import Fold, Segment
from gogooku.errors import GogookuError
from gogooku.runs import PREDICTIONS_FILE
from gogooku.settings import get_settings
from gogooku.train.config import RunConfig
from gogooku.train.run import SUMMARY_FILE, train_run

FITS_DIR = "fits"
_LAST = re.compile(r"^last:(\d+)$")
_RANGE = re.compile(r"^(\d+)\.\.(\d+)$")


class WalkForwardError(GogookuError, ValueError):
    """A walk-forward plan that cannot be made, or a run that cannot be (re)started."""


def parse_folds(spec: str, n_folds: int) -> list[int]:
    """The fold indices ``--folds spec`` selects among ``n_folds`` folds (ascending)."""
    text = spec.strip()
    if n_folds < 1:
        raise WalkForwardError("--folds: the dataset has no walk-forward folds")
    have = f"the dataset has folds 0..{n_folds - 1}"
    if text == "all":
        return list(range(n_folds))
    if m := _LAST.match(text):
        n = int(m.group(1))
        if not 1 <= n <= n_folds:
            raise WalkForwardError(f"--folds {spec}: N must be 1..{n_folds} ({have})")
        return list(range(n_folds - n, n_folds))
    if m := _RANGE.match(text):
        a, b = int(m.group(1)), int(m.group(2))
        if a > b:
            raise WalkForwardError(f"--folds {spec}: A..B needs A <= B")
        if b >= n_folds:
            raise WalkForwardError(f"--folds {spec}: fold {b} does not exist ({have})")
        return list(range(a, b + 1))
    raise WalkForwardError(
        f"--folds {spec!r}: expected 'all', 'last:N' or 'A..B' (inclusive fold indices)"
    )


@dataclass(frozen=True)
class FitGroup:
    """Consecutive folds ``folds`` predicted by one fit on ``fold``: the first fold's train and
    valid segments, its test segment extended to the last fold's test end (index: first fold)."""

    folds: tuple[Fold, ...]
    fold: Fold

    @property
    def first(self) -> int:
        return self.folds[0].index


def merge_folds(folds: Sequence[Fold]) -> Fold:
    """One fold for the consecutive ``folds``: the first one's train and valid, test from its
    test start to the last one's test end."""
    first, last = folds[0], folds[-1]
    test = Segment(first.test.lo, last.test.hi, first.test.start, last.test.end)
    return Fold(first.index, first.train, first.val, test)


def group_folds(folds: Sequence[Fold], selected: Sequence[int], refit_every: int) -> list[FitGroup]:
    """The fit groups of ``selected`` (indices into ``folds``): ``refit_every`` consecutive
    selected folds per group, the last group possibly shorter. Test windows of the selected folds
    must not overlap (``step_days`` >= ``test_days``), so every test day has one fold."""
    if refit_every < 1:
        raise WalkForwardError(f"--refit-every {refit_every}: must be at least 1")
    if not selected:
        raise WalkForwardError("--folds selects no fold")
    chosen = [folds[k] for k in selected]
    for a, b in pairwise(chosen):
        if b.index != a.index + 1:
            raise WalkForwardError(f"--folds: folds {a.index} and {b.index} are not consecutive")
        if b.test.lo <= a.test.hi:
            raise WalkForwardError(
                f"folds {a.index} and {b.index}: test windows {a.test.start}..{a.test.end} and "
                f"{b.test.start}..{b.test.end} overlap ([data.splits] step_days < test_days); a "
                "walk-forward run predicts every test day once"
            )
    return [
        FitGroup(tuple(chosen[i : i + refit_every]), merge_folds(chosen[i : i + refit_every]))
        for i in range(0, len(chosen), refit_every)
    ]


def seed_config(cfg: RunConfig, seed: int) -> RunConfig:
    """The run config of seed ``seed`` (0-based): ``[train] seed`` + seed and, when the kind's
    ``[model]`` has a ``seed`` field, ``[model] seed`` + seed."""
    if seed == 0:
        return cfg
    update: dict[str, Any] = {"train": cfg.train.model_copy(update={"seed": cfg.train.seed + seed})}
    if "seed" in type(cfg.model).model_fields:
        update["model"] = cfg.model.model_copy(update={"seed": cfg.model.seed + seed})
    return cfg.model_copy(update=update)


def fit_name(first_fold: int, seed: int) -> str:
    return f"g{first_fold:03d}-s{seed}"


def fit_complete(fit_dir: Path) -> bool:
    """A finished fit: its predictions and training summary are written (the summary last)."""
    return (fit_dir / PREDICTIONS_FILE).is_file() and (fit_dir / SUMMARY_FILE).is_file()


@dataclass(frozen=True)
class FitTask:
    """One fit of a walk-forward run, picklable: the kind, dataset, run config (``cfg``: its
    ``model_dump()``, already seeded), the group's fold, the seed, the sub-run id (``name``)
    under ``root`` (``runs/RUN/fits``) and the GOGOOKU_HOME it reads the dataset from."""

    kind: str
    dataset: str
    cfg: dict[str, Any]
    fold: Fold
    seed: int
    name: str
    root: Path
    home: Path
    threads: int = 1

    @property
    def run_dir(self) -> Path:
        return self.root / self.name


def fit_task(task: FitTask) -> str:
    """Train ``task`` into ``task.root / task.name`` (a leftover unfinished folder is removed
    first; a finished one is kept) and return that folder. Safe on a worker process: it points
    ``GOGOOKU_HOME`` at ``task.home`` when the process's home is another folder. The fit runs
    with ``task.threads`` threads in every native pool (BLAS, OpenMP — LightGBM's
    ``num_threads = 0`` follows it — and torch): float sums depend on the thread count, so the
    same count gives the same predictions in this process and on a Ray worker."""
    if get_settings().home.absolute() != task.home:  # a worker started with another home
        os.environ["GOGOOKU_HOME"] = str(task.home)
    if fit_complete(task.run_dir):
        return str(task.run_dir)
    if task.run_dir.exists():
        shutil.rmtree(task.run_dir)
    cfg = RunConfig.model_validate(task.cfg)
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(task.threads)
    try:
        with threadpool_limits(limits=task.threads):
            run_dir = train_run(
                task.kind,
                task.dataset,
                cfg,
                run_id=task.name,
                fold_index=task.fold.index,
                evaluate=False,
                fold=task.fold,
                root=task.root,
            )
    finally:
        torch.set_num_threads(torch_threads)
    return str(run_dir)
