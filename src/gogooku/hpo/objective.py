"""One search trial: sample a config, train it on the validation folds, return the mean score.

Trial n with sampled values θ:

1. config = base with θ set (:func:`gogooku.hpo.space.apply_params`; for a candidate list, the
   candidate's overrides), ``train.epochs`` capped at
   ``--max-epochs``, ``train.progress`` off; written to ``DIR/trial_NNN/config.toml``.
2. For each selected fold k (position p among the selected folds), ``train_run`` trains run
   ``hpo-STUDY-NNN-fK-XXXXXX`` under ``$GOGOOKU_HOME/runs/`` with ``evaluate=False`` (the
   evaluator would compute test metrics; the trial only reads validation rows).
3. Pruning. ATFT: after epoch e of fold position p the epoch's validation RankIC of the main
   horizon is reported at step p · E + e (E = the capped ``train.epochs``), so every step means
   the same fold and epoch in every trial. LightGBM and the other tabular kinds have no epochs:
   the whole fit is one step, the fold's validation RankIC reported at step p.
   ``trial.should_prune()`` → :class:`optuna.TrialPruned`.
4. Objective = (1/|K|) Σ_k s_k with s_k the fold's validation score (:mod:`gogooku.hpo.score`:
   ``rank_ic`` or ``sharpe``). A fold whose score is undefined makes the trial fail
   (:class:`ObjectiveError`) — never a substitute value.

``DIR/trial_NNN/`` gets ``config.toml``, ``history.jsonl`` (each epoch row of every fold, or one
row per fold for tabular kinds, tagged ``fold``, ``run_id`` and ``step``) and ``metrics.json``
(state, value, per-fold validation scores, run folders, the error of a failed trial), all written
atomically. A failed trial also keeps its error in the user attribute ``error``.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from pathlib import Path

import optuna

from gogooku.config import dump_config
from gogooku.errors import GogookuError
from gogooku.hpo.score import ObjectiveName, fold_score
from gogooku.hpo.space import CandidateSpace, SearchSpace, apply_params
from gogooku.io import atomic_write_text
from gogooku.models.registry import get_kind
from gogooku.train.config import RunConfig
from gogooku.train.loop import HISTORY_FILE
from gogooku.train.run import train_run

TRIAL_CONFIG = "config.toml"
TRIAL_METRICS = "metrics.json"


class ObjectiveError(GogookuError, ValueError):
    """A trial has no defined objective value (names the trial and the fold)."""


def trial_dir(output_dir: Path, number: int) -> Path:
    return output_dir / f"trial_{number:03d}"


@dataclass(frozen=True)
class SearchJob:
    """What every trial of one ``gogooku hpo`` invocation shares."""

    kind: str
    dataset: str
    base: RunConfig
    space: SearchSpace | CandidateSpace
    folds: tuple[int, ...]
    output_dir: Path
    study_name: str
    max_epochs: int | None = None
    objective: ObjectiveName = "rank_ic"

    def trial_config(self, params: dict) -> RunConfig:
        """Base with ``params`` set (a candidate's overrides), epochs = min(train.epochs,
        max_epochs), progress off."""
        cfg = apply_params(self.base, self.space.overrides(params))
        epochs = (
            cfg.train.epochs if self.max_epochs is None else min(cfg.train.epochs, self.max_epochs)
        )
        train = cfg.train.model_copy(update={"epochs": epochs, "progress": False})
        return cfg.model_copy(update={"train": train})


class _TrialRecord:
    """The trial folder's history and metrics, rewritten atomically as the trial goes on."""

    def __init__(self, job: SearchJob, trial: optuna.Trial) -> None:
        self.dir = trial_dir(job.output_dir, trial.number)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict] = []
        self.folds: list[dict] = []
        self.base = {"trial": trial.number, "study": job.study_name, "objective": job.objective}

    def add_row(self, row: dict) -> None:
        self.rows.append(row)
        text = "".join(json.dumps(r, allow_nan=False) + "\n" for r in self.rows)
        atomic_write_text(self.dir / HISTORY_FILE, text)

    def write(self, state: str, params: dict, value: float | None, error: str | None) -> None:
        out = {**self.base, "state": state, "value": value, "params": params, "folds": self.folds}
        if error is not None:
            out["error"] = error
        atomic_write_text(
            self.dir / TRIAL_METRICS, json.dumps(out, indent=2, allow_nan=False) + "\n"
        )


class Objective:
    """``Objective(job)(trial) -> float``: the callable handed to ``study.optimize``."""

    def __init__(self, job: SearchJob) -> None:
        self.job = job

    def __call__(self, trial: optuna.Trial) -> float:
        job = self.job
        record = _TrialRecord(job, trial)
        trial.set_user_attr("trial_dir", str(record.dir))
        params = job.space.sample(trial)
        try:
            cfg = job.trial_config(params)
            dump_config(cfg, record.dir / TRIAL_CONFIG)
            value = self._run_folds(trial, cfg, record)
        except optuna.TrialPruned:
            record.write("pruned", params, None, None)
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            trial.set_user_attr("error", error)
            record.write("fail", params, None, error)
            raise
        record.write("complete", params, value, None)
        return value

    def _run_folds(self, trial: optuna.Trial, cfg: RunConfig, record: _TrialRecord) -> float:
        job = self.job
        main = cfg.target.main_horizon
        neural = get_kind(job.kind).neural
        values = []
        for pos, fold in enumerate(job.folds):
            run_id = f"hpo-{job.study_name}-{trial.number:03d}-f{fold}-{uuid.uuid4().hex[:6]}"
            first_step = pos * cfg.train.epochs

            def on_epoch(epoch: int, row: dict, fold=fold, run_id=run_id, first=first_step):
                step = first + epoch
                record.add_row({"fold": fold, "run_id": run_id, "step": step, **row})
                score = row["val_rank_ic"].get(str(main))
                if score is not None and math.isfinite(score):
                    trial.report(score, step)
                    if trial.should_prune():
                        raise optuna.TrialPruned(
                            f"pruned at step {step} (fold {fold}, epoch {epoch})"
                        )

            run_dir = train_run(
                job.kind,
                job.dataset,
                cfg,
                run_id,
                fold,
                on_epoch=on_epoch if neural else None,
                evaluate=False,
            )
            scores = fold_score(run_dir, main, job.objective, cfg.evaluate)
            record.folds.append({"fold": fold, "run_id": run_id, "run_dir": str(run_dir), **scores})
            value = scores[job.objective]
            if value is None:
                raise ObjectiveError(
                    f"trial {trial.number}: fold {fold} (run {run_id}) has no defined validation "
                    f"{job.objective} for horizon {main}d"
                )
            values.append(value)
            if not neural:
                record.add_row({"fold": fold, "run_id": run_id, "step": pos, **scores})
                if scores["rank_ic"] is not None:
                    trial.report(scores["rank_ic"], pos)
                    if trial.should_prune():
                        raise optuna.TrialPruned(f"pruned after fold {fold} (step {pos})")
        return sum(values) / len(values)
