"""Benchmark: choosing a tabular baseline's parameters on validation days only.

    python bench/bench_baseline_configs.py [--models lgbm,linear] [--home /tmp/quality_home]
                                           [--dataset q300] [--folds 7,8,9]
                                           [--out bench/results/bench_baseline_configs.json]

Uses the quality benchmark's dataset (``bench/bench_quality.py``; made here when missing). Each
candidate of ``CANDIDATES[model]`` (``[model]`` overrides of ``gogooku.models.gbdt.LgbmConfig``
or ``gogooku.models.linear.LinearConfig``) is fitted with the product's ``fit_predict_lgbm``
(regression on per-date rank-gauss targets, early stopping on the validation mean daily
RankIC(5d)) or ``fit_predict_linear`` (ridge on the same targets) on each fold of
``configs/quality_data.toml``; per fold the validation and test mean daily RankIC(5d) of its
predictions (and LightGBM's best iteration). The candidate with the highest validation mean
over the folds is the one to ship; the test columns are reported, not used. One JSON document,
keyed by model.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from bench_losses import fold_study_parser, prepared_folds, summarise_folds, write_json

SHARED = {
    "lgbm": {"num_boost_round": 2000, "early_stopping_rounds": 300, "num_threads": 2},
    "linear": {},
}
# the shipped config before the latest choice (the ratios in the result are over it)
PREVIOUS = {"lgbm": "lr0.02_7leaves (previous)", "linear": "alpha1e1 (previous)"}
LGBM: dict[str, dict[str, float | int | bool]] = {
    "lr0.05_31leaves": {
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": 100,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "lambda_l2": 1.0,
    },
    PREVIOUS["lgbm"]: {
        "learning_rate": 0.02,
        "num_leaves": 7,
        "min_data_in_leaf": 1000,
        "feature_fraction": 0.5,
        "bagging_fraction": 0.7,
        "lambda_l2": 10.0,
    },
    "lr0.02_3leaves": {
        "learning_rate": 0.02,
        "num_leaves": 3,
        "min_data_in_leaf": 2000,
        "feature_fraction": 0.3,
        "bagging_fraction": 0.7,
        "lambda_l2": 10.0,
    },
    "lr0.02_15leaves_bag0.5": {
        "learning_rate": 0.02,
        "num_leaves": 15,
        "min_data_in_leaf": 3000,
        "feature_fraction": 0.3,
        "bagging_fraction": 0.5,
        "lambda_l2": 30.0,
    },
}
LGBM |= {f"lr0.02_7leaves_{k}seeds": LGBM[PREVIOUS["lgbm"]] | {"seeds": k} for k in (3, 5)}
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
        scores = fit_predict_lgbm(LgbmConfig(**SHARED["lgbm"], **params), data, Path(run_dir))
        summary = json.loads((Path(run_dir) / "lgbm.json").read_text())["5"]
    return scores, {"best_iteration": summary["best_iteration"]}


def choose(model: str, dataset: str, folds) -> dict:
    """Every candidate of ``model`` on each prepared fold; the summary of one model's choice."""
    from gogooku.models.gbdt import mean_daily_rank_ic

    candidates = CANDIDATES[model]
    result: dict = {"dataset": dataset, "shared": SHARED[model], "folds": {}}
    t0 = time.perf_counter()
    for index, data in folds:
        per_fold = {}
        for name, params in candidates.items():
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
        result["folds"][index] = per_fold
        print(json.dumps({model: {index: per_fold}}), file=sys.stderr, flush=True)
    result["candidates"] = candidates
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return summarise_folds(result, list(candidates), baseline=PREVIOUS[model])


def main(argv: list[str] | None = None) -> dict:
    parser = fold_study_parser(__doc__, "bench_baseline_configs")
    parser.add_argument("--models", default="lgbm,linear", help="comma-separated: lgbm, linear")
    args = parser.parse_args(argv)
    models = args.models.split(",")
    unknown = sorted(set(models) - set(CANDIDATES))
    if unknown:
        parser.error(f"--models: unknown {unknown}; choose from {sorted(CANDIDATES)}")
    indices = [int(f) for f in args.folds.split(",")]
    folds = list(prepared_folds(args.home, args.dataset, args.data_config, indices))
    document = {model: choose(model, args.dataset, folds) for model in models}
    write_json(document, args.out)
    return document


if __name__ == "__main__":
    main()
