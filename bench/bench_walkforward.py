"""Benchmark: walk-forward runs of the shipped models over every fold of the quality market,
sequential against Ray on this machine, and the stitched out-of-sample comparison.

    python bench/bench_walkforward.py [--home /tmp/quality_home] [--dataset q300]
        [--models oracle,ridge,lgbm,atft,apex] [--ray-models oracle,ridge,lgbm]
        [--test-days 60] [--out FILE]

The quality market and dataset are ``studies/market.py``'s (made when ``--home`` lacks them).
Each model runs its ``configs/<model>.toml`` with the quality split
(``configs/quality_data.toml``: rolling 504 training days, 60 validation days, purge 21) whose
test block and step are both ``--test-days``, so the folds' test windows tile the last days
without overlap; every fold is fitted (``--folds all``).

- **sequential**: ``run_walkforward(executor="local", threads=<all cores>)`` per model: wall and
  CPU seconds (``time.process_time`` of this process: every thread of every fit).
- **ray**: right after their sequential runs (so both see the same machine), the
  ``--ray-models`` again with ``executor="ray"`` on a local Ray instance, one thread
  per fit so the 2 cores run two fits at once; wall seconds (Ray's start included, reported
  apart) and the largest absolute difference of its stitched predictions from the sequential
  run's (threads differ, so float sums may; ``tests/core/test_parallel.py`` checks bit
  equality at equal threads).
- **oos**: ``gogooku compare`` of the sequential runs on their common test days (the ridge is
  run A of every pair): per run RankIC(5d) mean, ICIR, long-short net Sharpe; per pair the mean
  daily RankIC difference with its block-bootstrap 95 % interval, the Diebold–Mariano t (Newey–
  West) and the long-short Sharpe difference with its interval.

Prints JSON (progress lines on stderr). Timings are only comparable within one run of this script.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "studies"))

from market import DATA_CONFIG, ensure_quality_dataset  # noqa: E402

MODELS = {
    "oracle": ("factor", "oracle.toml"),
    "ridge": ("linear", "linear.toml"),
    "lgbm": ("lgbm", "lgbm.toml"),
    "atft": ("atft", "atft.toml"),
    "apex": ("apex", "apex.toml"),
}


def model_config(name: str, test_days: int):
    from gogooku.config import CONFIGS_DIR
    from gogooku.train.config import load_run_config, with_data

    _, file = MODELS[name]
    cfg = with_data(load_run_config(CONFIGS_DIR / file), DATA_CONFIG)
    splits = cfg.data.splits.model_copy(update={"test_days": test_days, "step_days": test_days})
    data = cfg.data.model_copy(update={"splits": splits})
    train = cfg.train.model_copy(update={"progress": False})
    return cfg.model_copy(update={"data": data, "train": train})


def walk(name: str, dataset: str, test_days: int, executor: str, threads: int) -> dict:
    from gogooku.research.walkforward import run_walkforward
    from gogooku.settings import get_settings

    run_id = f"bench-wf-{name}-{executor}"
    old = get_settings().runs_dir / run_id
    if old.exists():
        shutil.rmtree(old)
    kind, _ = MODELS[name]
    t0, c0 = time.perf_counter(), time.process_time()
    run_dir = run_walkforward(
        kind,
        dataset,
        model_config(name, test_days),
        folds="all",
        executor=executor,
        run_id=run_id,
        threads=threads,
    )
    out = {
        "run": run_id,
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s_this_process": round(time.process_time() - c0, 1),
        "threads_per_fit": threads,
    }
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics["splits"]["test"]
    out["folds"] = len(test.get("folds", []))
    out["test_days"] = test["n_dates"]
    out["period"] = [test["first_date"], test["last_date"]]
    return out


def max_abs_diff(a: str, b: str) -> float:
    from gogooku.settings import get_settings

    runs = get_settings().runs_dir
    x = pl.read_parquet(runs / a / "predictions.parquet")
    y = pl.read_parquet(runs / b / "predictions.parquet")
    cols = [c for c in x.columns if c.startswith("pred_")]
    joined = x.join(y, on=["Date", "Code"], suffix="_b")
    return max(float((joined[c] - joined[f"{c}_b"]).abs().max()) for c in cols)


def oos_table(run_ids: list[str]) -> dict:
    from gogooku.evaluate.compare import compare_runs, load_runs

    return compare_runs(load_runs(run_ids), "test").to_json()


def run_on_ray(result: dict, ray_models: list[str], args: argparse.Namespace) -> None:
    """The ``ray_models`` again on a local Ray instance, one thread per fit."""
    from gogooku.parallel import ray_session

    t0 = time.perf_counter()
    with ray_session():
        result["ray_start_s"] = round(time.perf_counter() - t0, 1)
        for name in ray_models:
            entry = walk(name, args.dataset, args.test_days, "ray", 1)
            entry["max_abs_diff_vs_sequential"] = max_abs_diff(
                f"bench-wf-{name}-local", f"bench-wf-{name}-ray"
            )
            result["ray"][name] = entry
            print(json.dumps({f"{name} ray": entry}), file=sys.stderr, flush=True)
    result["load_avg_1m_after_ray"] = round(os.getloadavg()[0], 2)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/quality_home"))
    parser.add_argument("--dataset", default="q300")
    parser.add_argument("--models", default="oracle,ridge,lgbm,atft,apex")
    parser.add_argument("--ray-models", default="oracle,ridge,lgbm")
    parser.add_argument("--test-days", type=int, default=60)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    ensure_quality_dataset(args.home, args.dataset)
    cores = os.cpu_count() or 1
    models = args.models.split(",")
    result: dict[str, object] = {
        "dataset": args.dataset,
        "test_days_per_fold": args.test_days,
        "cores": cores,
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
        "sequential": {},
        "ray": {},
    }
    ray_models = [m for m in args.ray_models.split(",") if m in models]
    # the timed pairs first (sequential, then Ray), the other models' sequential runs after
    for name in [*ray_models, *(m for m in models if m not in ray_models)]:
        result["sequential"][name] = walk(name, args.dataset, args.test_days, "local", cores)
        print(json.dumps({name: result["sequential"][name]}), file=sys.stderr, flush=True)
        if ray_models and name == ray_models[-1]:
            run_on_ray(result, ray_models, args)
    order = ["ridge", *(m for m in models if m != "ridge")] if "ridge" in models else models
    result["oos"] = oos_table([f"bench-wf-{m}-local" for m in order])
    result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    text = json.dumps(result, indent=2)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return result


if __name__ == "__main__":
    main()
