"""Study: choose a run config among a fixed list of candidates, on validation days only.

    python studies/configs.py studies/STUDY.toml [--home /tmp/quality_home] [--dataset q300]
                              [--folds 3,6,9] [--study-name STUDY]
                              [--out studies/results/STUDY.json] [--stocks 300] [--years 4]
                              [--max-epochs E]

A study definition (``studies/linear.toml``, ``lgbm.toml``, ``atft.toml``, ``apex.toml``,
``losses.toml``) has a ``[study]`` table — ``model`` (the kind), ``base`` (a run config, relative
to the repository root), ``folds`` and ``baseline`` (the candidate the ratios are over) — and a
``gogooku hpo`` candidate list (``[[search.candidates]]``, ``docs/hpo.md``).

1. The quality market and dataset (``studies/market.py``; made when ``--home`` lacks them;
   ``--stocks``, ``--years``, ``--data-config`` and ``--max-epochs`` make a smoke run).
2. Base = ``base`` with its ``[data]`` tables replaced by those of ``--data-config``
   (``configs/quality_data.toml``: ``[splits]``; ``gogooku.train.config.with_data``) and progress off.
3. The search is ``gogooku hpo``'s (``gogooku.hpo``): one Optuna study ``STUDY`` in
   ``--home``/hpo/STUDY/ (``study.db``, trial folders, ``summary.json``, ``report.html``,
   ``best_config.toml``), every candidate tried once in the listed order, no pruning; each trial
   trains every fold through ``gogooku.train.run.train_run`` (``evaluate=False``) and its
   objective is the mean over the folds of the validation RankIC of the main horizon. The study
   resumes: a re-run trains only the candidates without a trial.
4. After the search, the test mean daily RankIC of each fold's run (main horizon, the
   evaluator's ``daily_ic``) is read for the report; the choice is the search's best trial,
   made before any test row is read.

One JSON document (printed and written to ``--out``): per fold and candidate the validation and
test RankIC, each candidate's means over the folds, the ratios of those means over the
baseline's, ``chosen_on_validation`` and the trials' seconds.
"""

from __future__ import annotations

import argparse
import json
import time
import tomllib
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from gogooku.io import atomic_write_text
from market import DATA_CONFIG, END, ROOT, STOCKS, ensure_quality_dataset


def test_rank_ic(run_dir: Path, horizon: int) -> float:
    """Mean daily RankIC of the run's test predictions of ``horizon`` (read after the choice)."""
    from gogooku.evaluate.metrics import daily_ic
    from gogooku.runs import load_run, pred_column, read_predictions
    from gogooku.settings import get_settings

    info = load_run(run_dir)
    target = f"target_{horizon}d"
    preds = read_predictions(run_dir).filter(pl.col("split") == "test")
    targets = (
        pl.scan_parquet(get_settings().datasets_dir / info.dataset / "panel.parquet")
        .select("Date", "Code", target)
        .filter(pl.col("Date").is_between(*info.ranges.test))
        .collect()
    )
    rows = preds.select("Date", "Code", pred=pl.col(pred_column(horizon))).join(
        targets.rename({target: "target"}), on=["Date", "Code"], how="left"
    )
    return float(daily_ic(rows, "pred", "target")["rank_ic"].mean())


def search(definition: Path, doc: dict, args) -> tuple[object, object]:
    """Run the candidate study of ``doc`` (read from ``definition``); returns (Optuna study,
    ``SearchJob``)."""
    from gogooku.hpo.objective import SearchJob
    from gogooku.hpo.report import write_outputs
    from gogooku.hpo.space import CandidateSpace, load_space
    from gogooku.hpo.study import (
        default_storage,
        enqueue_candidates,
        make_pruner,
        open_study,
        run_search,
        select_folds,
    )
    from gogooku.train.config import load_run_config, with_data

    study = doc["study"]
    base = with_data(load_run_config(ROOT / study["base"]), args.data_config)
    base = base.model_copy(update={"train": base.train.model_copy(update={"progress": False})})
    space = load_space(base, doc["search"], str(definition))
    if not isinstance(space, CandidateSpace):
        raise SystemExit(f"{definition}: [search] must list [[search.candidates]]")
    folds = [int(f) for f in args.folds.split(",")] if args.folds else study["folds"]
    out = args.home / "hpo" / args.study_name
    job = SearchJob(
        kind=study["model"],
        dataset=args.dataset,
        base=base,
        space=space,
        folds=select_folds(args.dataset, base, folds),
        output_dir=out,
        study_name=args.study_name,
        max_epochs=args.max_epochs,
    )
    storage = default_storage(out)
    optuna_study = open_study(job, storage, make_pruner("none", 1))
    waiting = enqueue_candidates(optuna_study, space)
    if waiting:
        run_search(optuna_study, job, waiting)
    write_outputs(optuna_study, job, storage)
    return optuna_study, job


def report(optuna_study, job, study: dict) -> dict:
    """Validation (the objective's) and test RankIC per fold and candidate; means; ratios."""
    from gogooku.hpo.objective import TRIAL_METRICS, trial_dir
    from gogooku.hpo.report import best_trial

    horizon = job.base.target.main_horizon
    names = job.space.names
    by_name = {t.params["candidate"]: t for t in optuna_study.get_trials() if t.params}
    folds: dict[int, dict] = {fold: {} for fold in job.folds}
    seconds = {}
    for name in names:
        trial = by_name[name]
        metrics = json.loads((trial_dir(job.output_dir, trial.number) / TRIAL_METRICS).read_text())
        if metrics["state"] != "complete":
            raise SystemExit(f"candidate {name!r}: trial {trial.number} {metrics['state']}")
        for fold in metrics["folds"]:
            folds[fold["fold"]][name] = {
                "valid": round(fold["rank_ic"], 4),
                "test": round(test_rank_ic(Path(fold["run_dir"]), horizon), 4),
                "run": fold["run_id"],
            }
        seconds[name] = round((trial.datetime_complete - trial.datetime_start).total_seconds(), 1)
    means = {
        name: {
            split: round(float(np.mean([f[name][split] for f in folds.values()])), 4)
            for split in ("valid", "test")
        }
        for name in names
    }
    base = means[study["baseline"]]
    return {
        "dataset": job.dataset,
        "model": job.kind,
        "base": study["base"],
        "study": job.study_name,
        "hpo_dir": str(job.output_dir),
        "horizon": f"{horizon}d",
        "folds": folds,
        "candidates": {c.name: c.values for c in job.space.candidates},
        "chosen_on_validation": best_trial(optuna_study).params["candidate"],
        "mean_over_folds": means,
        "baseline": study["baseline"],
        "vs_baseline": {
            name: {
                f"{split}_over_baseline": round(m[split] / base[split], 3)
                for split in ("valid", "test")
            }
            for name, m in means.items()
        },
        "trial_seconds": seconds,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("definition", type=Path, help="studies/STUDY.toml")
    parser.add_argument("--home", type=Path, default=Path("/tmp/quality_home"))
    parser.add_argument("--dataset", default="q300")
    parser.add_argument("--data-config", type=Path, default=DATA_CONFIG)
    parser.add_argument("--folds", default=None, help="e.g. 3,6,9 (default: the study's)")
    parser.add_argument("--study-name", default=None, help="default: the definition's stem")
    parser.add_argument("--out", type=Path, default=None, help="studies/results/STUDY.json")
    parser.add_argument("--stocks", type=int, default=STOCKS, help="market size (smoke runs)")
    parser.add_argument("--years", type=int, default=4, help="panel years ending on 2022-12-30")
    parser.add_argument("--max-epochs", type=int, default=None, help="cap (smoke runs)")
    args = parser.parse_args(argv)
    stem = args.definition.stem
    args.study_name = args.study_name or stem
    out = args.out or ROOT / "studies" / "results" / f"{stem}.json"
    doc = tomllib.loads(args.definition.read_text(encoding="utf-8"))
    start = date(END.year - args.years + 1, 1, 4)
    ensure_quality_dataset(args.home, args.dataset, args.stocks, start)
    t0 = time.perf_counter()
    optuna_study, job = search(args.definition, doc, args)
    document = report(optuna_study, job, doc["study"])
    document["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(document, indent=1)
    print(text)
    atomic_write_text(out, text + "\n")
    return document


if __name__ == "__main__":
    main()
