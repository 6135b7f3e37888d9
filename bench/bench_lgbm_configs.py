"""Benchmark: choosing the LightGBM baseline's parameters on validation days only.

    python bench/bench_lgbm_configs.py [--home /tmp/quality_home] [--dataset q300]
                                       [--folds 7,8,9] [--out bench/results/bench_lgbm_configs.json]

Uses the quality benchmark's dataset (``bench/bench_quality.py``; made here when missing). Each candidate of
``CANDIDATES`` (``[model]`` overrides of ``gogooku.models.gbdt.LgbmConfig``) is fitted with the
product's ``fit_predict_lgbm`` (regression on per-date rank-gauss targets, early stopping on the
validation mean daily RankIC(5d)) on each fold of ``configs/quality_data.toml``; per fold the
validation and test mean daily RankIC(5d) of its predictions and the best iteration. The
candidate with the highest validation mean over the folds is the one to ship; the test columns
are reported, not used.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from bench_losses import ROOT, prepared_folds, write_result

SHARED = {"num_boost_round": 2000, "early_stopping_rounds": 300, "num_threads": 2}
PREVIOUS = "lr0.05_31leaves (previous)"
CANDIDATES: dict[str, dict[str, float | int | bool]] = {
    PREVIOUS: {
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": 100,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "lambda_l2": 1.0,
    },
    "lr0.02_7leaves": {
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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/quality_home"))
    parser.add_argument("--dataset", default="q300")
    parser.add_argument("--data-config", type=Path, default=ROOT / "configs" / "quality_data.toml")
    parser.add_argument("--folds", default="7,8,9")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "bench_lgbm_configs.json"
    )
    args = parser.parse_args(argv)
    from gogooku.models.gbdt import LgbmConfig, fit_predict_lgbm, mean_daily_rank_ic

    result: dict = {"dataset": args.dataset, "shared": SHARED, "folds": {}}
    t0 = time.perf_counter()
    folds = [int(f) for f in args.folds.split(",")]
    for index, data in prepared_folds(args.home, args.dataset, args.data_config, folds):
        per_fold = {}
        for name, params in CANDIDATES.items():
            cfg = LgbmConfig(**SHARED, **params)
            with tempfile.TemporaryDirectory() as run_dir:
                started = time.perf_counter()
                scores = fit_predict_lgbm(cfg, data, Path(run_dir))
                summary = json.loads((Path(run_dir) / "lgbm.json").read_text())["5"]
            per_fold[name] = {
                split: round(mean_daily_rank_ic(data.rows(split), pred, "target_5d"), 4)
                for split in ("valid", "test")
                for pred in [scores.filter(pl.col("split") == split)["pred_5d"].to_numpy()]
            } | {
                "best_iteration": summary["best_iteration"],
                "seconds": round(time.perf_counter() - started, 1),
            }
        result["folds"][index] = per_fold
        print(json.dumps({index: per_fold}), file=sys.stderr, flush=True)
    result["candidates"] = CANDIDATES
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["chosen_on_validation"] = max(
        CANDIDATES,
        key=lambda name: np.mean([f[name]["valid"] for f in result["folds"].values()]),
    )
    write_result(result, list(CANDIDATES), args.out, baseline=PREVIOUS)
    return result


if __name__ == "__main__":
    main()
