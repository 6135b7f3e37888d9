"""Benchmark: choosing the ATFT and APEX run configs on validation days only.

    python bench/bench_network_configs.py [--models atft,apex] [--home /tmp/quality_home]
                                          [--dataset q300] [--folds 7,8,9]
                                          [--out bench/results/bench_network_configs.json]

Uses the quality benchmark's market and dataset (``bench/bench_quality.py``; made here when
missing). Each candidate of ``CANDIDATES[model]`` is ``configs/{model}.toml`` with
``[data.splits]`` replaced by ``configs/quality_data.toml``'s ``[splits]`` (as ``bench_quality``
does) and the candidate's ``[model]`` / ``[train]`` overrides; it is trained with
``gogooku.train.run.train_run`` on each fold as run ``{model}cfg_{candidate}_f{fold}``. A run
folder that already holds ``metrics.json`` and the same resolved config is reused, so an
interrupted benchmark resumes where it stopped. Per fold: validation and test mean daily
RankIC(5d) from the run's ``metrics.json``, the best epoch and the seconds of its epochs
(training and validation, from ``history.jsonl``). The candidate with the highest validation
mean over the folds is the one to ship; the test columns are reported, not used. One JSON
document, keyed by model.
"""

from __future__ import annotations

import json
import sys
import time

from bench_losses import (
    ensure_quality_dataset,
    fold_study_parser,
    summarise_folds,
    write_json,
)

RIDGE = {"linear_skip": True, "linear_skip_init": "ridge", "linear_skip_alpha": 1e5}
# the shipped config before the latest choice (the ratios in the result are over it)
PREVIOUS = {"atft": "ridge_start_lr1e-4 (previous)", "apex": "ridge_start_lr1e-4 (previous)"}
# every candidate sets each field its study varies, so the candidates do not move when
# configs/{model}.toml changes to the chosen one
CANDIDATES: dict[str, dict[str, dict[str, dict]]] = {
    "atft": {
        PREVIOUS["atft"]: {"model": RIDGE, "train": {"lr": 1e-4}},
        "ridge_start_lr3e-5": {"model": RIDGE, "train": {"lr": 3e-5}},
        "ridge_start_lr1e-5": {"model": RIDGE, "train": {"lr": 1e-5}},
    },
    "apex": {
        "no_skip": {
            "model": {"linear_skip": False, "linear_skip_init": "random"},
            "train": {"lr": 1e-3},
            "loss": {"pairwise": 0.0},
        },
        "ridge_start_lr1e-3": {"model": RIDGE, "train": {"lr": 1e-3}, "loss": {"pairwise": 0.0}},
        PREVIOUS["apex"]: {"model": RIDGE, "train": {"lr": 1e-4}, "loss": {"pairwise": 0.0}},
        "ridge_start_lr1e-4_pairwise0.3": {
            "model": RIDGE,
            "train": {"lr": 1e-4},
            "loss": {"pairwise": 0.3, "pairwise_k": 50, "pairwise_margin": 1.0},
        },
    },
}


def candidate_config(base, split, overrides: dict[str, dict]):
    """``base`` with the quality split, progress off and the candidate's ``model`` / ``train`` /
    ``loss`` overrides (validated like a config file)."""
    raw = base.model_dump()
    raw["data"]["splits"] = split.model_dump()
    raw["train"]["progress"] = False
    for section in ("model", "train", "loss"):
        raw[section].update(overrides.get(section, {}))
    return type(base).model_validate(raw)


def choose(model: str, args, split) -> dict:
    """Every candidate of ``model`` trained (or reused) on each fold; the study's summary."""
    from gogooku.config import CONFIGS_DIR
    from gogooku.train.config import load_run_config
    from gogooku.train.run import train_run

    base = load_run_config(CONFIGS_DIR / f"{model}.toml")
    candidates = CANDIDATES[model]
    result: dict = {"dataset": args.dataset, "base": f"configs/{model}.toml", "folds": {}}
    t0 = time.perf_counter()
    for index in (int(f) for f in args.folds.split(",")):
        per_fold = {}
        for name, overrides in candidates.items():
            cfg = candidate_config(base, split, overrides)
            run_id = f"{model}cfg_{name.split(' ')[0]}_f{index}"
            run_dir = args.home / "runs" / run_id
            reused = (run_dir / "metrics.json").is_file() and load_run_config(
                run_dir / "config.toml"
            ) == cfg
            if not reused:
                train_run(model, args.dataset, cfg, run_id=run_id, fold_index=index)
            metrics = json.loads((run_dir / "metrics.json").read_text())["splits"]
            summary = json.loads((run_dir / "train_summary.json").read_text())
            history = [json.loads(r) for r in (run_dir / "history.jsonl").read_text().splitlines()]
            per_fold[name] = {
                split_name: round(
                    metrics[split_name]["horizons"]["5d"]["signal"]["rank_ic_mean"], 4
                )
                for split_name in ("valid", "test")
            } | {
                "best_epoch": summary["best_epoch"],
                "reused": reused,
                "epoch_seconds": round(sum(r["seconds"] for r in history), 1),
            }
            print(json.dumps({model: {index: {name: per_fold[name]}}}), file=sys.stderr, flush=True)
        result["folds"][index] = per_fold
    result["candidates"] = candidates
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return summarise_folds(result, list(candidates), baseline=PREVIOUS[model])


def main(argv: list[str] | None = None) -> dict:
    parser = fold_study_parser(__doc__, "bench_network_configs")
    parser.add_argument("--models", default="atft,apex", help="comma-separated: atft, apex")
    args = parser.parse_args(argv)
    models = args.models.split(",")
    unknown = sorted(set(models) - set(CANDIDATES))
    if unknown:
        parser.error(f"--models: unknown {unknown}; choose from {sorted(CANDIDATES)}")
    ensure_quality_dataset(args.home, args.dataset)
    from gogooku.config import SplitConfig, load_config

    split = load_config(args.data_config, SplitConfig, section="splits")
    document = {model: choose(model, args, split) for model in models}
    write_json(document, args.out)
    return document


if __name__ == "__main__":
    main()
