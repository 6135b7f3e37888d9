"""Benchmark: choosing a tabular baseline's parameters on validation days only.

    python bench/bench_baseline_configs.py [--models lgbm,linear] [--home /tmp/quality_home]
                                           [--dataset q300] [--folds 3,6,9]
                                           [--out bench/results/bench_baseline_configs.json]

Uses the quality benchmark's dataset (``bench/bench_quality.py``; made here when missing). Each
candidate of ``CANDIDATES[model]`` (``[model]`` overrides of ``gogooku.models.gbdt.LgbmConfig``
or ``gogooku.models.linear.LinearConfig``) is fitted with the product's ``fit_predict_lgbm``
(regression on per-date rank-gauss targets, early stopping on the validation mean daily
RankIC(5d)) or ``fit_predict_linear`` (ridge on the same targets) on each fold of
``configs/quality_data.toml``; per fold the validation and test mean daily RankIC(5d) of its
predictions (and LightGBM's best iteration). The candidate with the highest validation mean
over the folds is the one to ship; the test columns are reported, not used. One JSON document,
keyed by model. Each candidate's record on a fold is kept under ``--home``/baseline_configs/
(named by a hash of the model, fold and parameters) and reused, so an interrupted study resumes
where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from bench_losses import fold_study_parser, prepared_folds, summarise_folds, write_json

SHARED = {
    "lgbm": {"num_boost_round": 4000, "early_stopping_rounds": 300, "num_threads": 2},
    "linear": {},
}
# the shipped config before the latest choice (the ratios in the result are over it)
PREVIOUS = {"lgbm": "lr0.02_7leaves_5seeds (previous)", "linear": "alpha1e1 (previous)"}
LGBM: dict[str, dict[str, float | int | bool]] = {
    PREVIOUS["lgbm"]: {
        "learning_rate": 0.02,
        "num_leaves": 7,
        "min_data_in_leaf": 1000,
        "feature_fraction": 0.5,
        "bagging_fraction": 0.7,
        "lambda_l2": 10.0,
        "seeds": 5,
    },
    "lr0.02_3leaves_5seeds": {
        "learning_rate": 0.02,
        "num_leaves": 3,
        "min_data_in_leaf": 2000,
        "feature_fraction": 0.3,
        "bagging_fraction": 0.7,
        "lambda_l2": 10.0,
        "seeds": 5,
    },
}
LGBM["extra_lr0.02_7leaves_5seeds"] = LGBM[PREVIOUS["lgbm"]] | {"extra_trees": True}
LGBM["extra_lr0.01_3leaves_5seeds"] = {
    "learning_rate": 0.01,
    "num_leaves": 3,
    "min_data_in_leaf": 3000,
    "feature_fraction": 0.3,
    "bagging_fraction": 0.7,
    "lambda_l2": 100.0,
    "extra_trees": True,
    "seeds": 5,
}
LGBM |= {
    f"{name.removesuffix(' (previous)')}_meanstop": p | {"early_stopping_on": "mean"}
    for name, p in LGBM.items()
}
LINEAR = {PREVIOUS["linear"]: {"alpha": 10.0}} | {
    f"alpha{a:.0e}".replace("+0", ""): {"alpha": a} for a in (1e3, 1e4, 3e4, 1e5, 3e5, 1e6)
}
CANDIDATES = {"lgbm": LGBM, "linear": LINEAR}


def fit_candidate(model: str, params: dict, data) -> tuple[pl.DataFrame, dict]:
    """The product's fit of ``model`` with ``params``: scores of every row and a side summary."""
    from gogooku.models.gbdt import LgbmConfig, fit_predict_lgbm
    from gogooku.models.linear import LinearConfig, fit_predict_linear

    with tempfile.TemporaryDirectory() as run_dir:
        if model == "linear":
            return fit_predict_linear(LinearConfig(**params), data, Path(run_dir)), {}
        scores = fit_predict_lgbm(LgbmConfig(**(SHARED["lgbm"] | params)), data, Path(run_dir))
        summary = json.loads((Path(run_dir) / "lgbm.json").read_text())["5"]
    return scores, {"best_iteration": summary["best_iteration"]}


def record_path(records: Path, model: str, index: int, params: dict) -> Path:
    """Where the record of ``model`` with ``params`` (shared settings included) on fold
    ``index`` is kept, named by a hash of both, so a changed candidate is fitted again."""
    key = json.dumps({"model": model, "fold": index, "params": params}, sort_keys=True)
    return records / f"{model}_f{index}_{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"


def choose(model: str, dataset: str, folds, records: Path) -> dict:
    """Every candidate of ``model`` on each prepared fold; the summary of one model's choice.
    A candidate's record on a fold is kept in ``records`` and reused by a later run."""
    from gogooku.models.gbdt import mean_daily_rank_ic
    from gogooku.runs import atomic_write_text

    candidates = CANDIDATES[model]
    result: dict = {"dataset": dataset, "shared": SHARED[model], "folds": {}}
    records.mkdir(parents=True, exist_ok=True)
    for index, data in folds:
        per_fold = {}
        for name, params in candidates.items():
            path = record_path(records, model, index, SHARED[model] | params)
            if path.is_file():
                per_fold[name] = json.loads(path.read_text()) | {"reused": True}
                continue
            started = time.perf_counter()
            scores, side = fit_candidate(model, params, data)
            per_fold[name] = (
                {
                    split: round(mean_daily_rank_ic(data.rows(split), pred, "target_5d"), 4)
                    for split in ("valid", "test")
                    for pred in [scores.filter(pl.col("split") == split)["pred_5d"].to_numpy()]
                }
                | side
                | {"seconds": round(time.perf_counter() - started, 1)}
            )
            atomic_write_text(path, json.dumps(per_fold[name]) + "\n")
        result["folds"][index] = per_fold
        print(json.dumps({model: {index: per_fold}}), file=sys.stderr, flush=True)
    result["candidates"] = candidates
    # fitting time of every record, reused ones included (as measured when they were fitted)
    result["seconds"] = round(
        sum(r["seconds"] for f in result["folds"].values() for r in f.values()), 1
    )
    return summarise_folds(result, list(candidates), baseline=PREVIOUS[model])


def main(argv: list[str] | None = None) -> dict:
    parser = fold_study_parser(__doc__, "bench_baseline_configs")
    parser.add_argument("--models", default="lgbm,linear", help="comma-separated: lgbm, linear")
    # folds 20 days apart share 40 of their 60 validation days; 3, 6 and 9 tile 180 days
    parser.set_defaults(folds="3,6,9")
    args = parser.parse_args(argv)
    models = args.models.split(",")
    unknown = sorted(set(models) - set(CANDIDATES))
    if unknown:
        parser.error(f"--models: unknown {unknown}; choose from {sorted(CANDIDATES)}")
    indices = [int(f) for f in args.folds.split(",")]
    folds = list(prepared_folds(args.home, args.dataset, args.data_config, indices))
    records = args.home / "baseline_configs"
    document = {model: choose(model, args.dataset, folds, records) for model in models}
    write_json(document, args.out)
    return document


if __name__ == "__main__":
    main()
