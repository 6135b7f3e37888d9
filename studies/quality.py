"""Study: model quality on the synthetic market (issues #8 and #9 quality bars).

    python studies/quality.py [--stocks 300] [--years 4] [--market-version 2]
                              [--home /tmp/quality_home]
                              [--dataset q300] [--models oracle,linear,lgbm,atft,apex,master]
                              [--out studies/results/quality.json]

1. Market: ``gogooku fetch --source synthetic --seed 7`` of ``--stocks`` stocks from 95 calendar
   days before the panel start (the warm-up of the first features) to ``--end`` (2022-12-30); the
   panel starts on January 4 of ``end.year − years + 1``. A store that already holds the range
   is not fetched again (the fetch is a no-op then); ``studies/market.py``.
2. Dataset: every registered block built into ``--dataset`` (reused when its
   ``metadata.json`` already has the same start and end).
3. Split: ``[splits]`` of ``configs/quality_data.toml`` (two years of training, 60 validation
   days, 120 test days, purged) replaces ``[data.splits]`` of each model's run config
   (``configs/oracle.toml``, ``linear.toml``, ``lgbm.toml``, ``atft.toml``, ``apex.toml``,
   ``master.toml``), and every model
   trains on the LAST fold, through ``gogooku.train.run.train_run`` (run folder, predictions,
   evaluator). On a smaller ``--years`` the training span shrinks until one fold fits.
4. One JSON document (printed and written to ``--out``): per model the test mean daily
   RankIC at 1/5/10/20 days with its block-bootstrap 95 % interval, rank ICIR (mean / std of
   daily RankIC), the top-K long-short net Sharpe after costs (evaluator defaults: top 50,
   10 bp) with its interval, the test RankIC(5d) as a share of the oracle's, the validation
   RankIC(5d) (the only figure configs were chosen on), wall seconds of ``train_run``
   (training + prediction + evaluation), training samples (listed stock-days with a finite
   ``target_5d`` in the training days) and samples/s = samples × passes / training seconds
   (ATFT: from ``history.jsonl``, every epoch; tabular models: one pass over the fit wall time);
   for ATFT also the epochs run, the best epoch and the smallest mean per-day cross-sectional
   std of the validation predictions over the epochs and of the test predictions per day.
   The bars:

   - ``bar_8_atft``: ATFT test RankIC(5d) ≥ 0.5 × oracle's and ≥ LightGBM's, and its test
     predictions' per-day std never below ``train.collapse_std``;
   - ``bar_9_lgbm``: LightGBM test RankIC(5d) ≥ 0.5 × oracle's;
   - ``bar_9_apex``: APEX (enhanced, ``configs/apex.toml``) test long-short net Sharpe(5d) ≥
     LightGBM's (point estimates; the intervals are in the JSON).

The comparison models ARE the baselines of this study, trained in the same run.
``--merge FILE`` (repeatable) adds the models of earlier results of this study (same
dataset, split and fold — checked) that are not trained now (``--models``; a model trained now
or in an earlier ``--merge`` file wins), e.g. to retrain only ATFT after a change of its config;
``merged_from`` lists what came from where, and the bars are computed over the union.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path

import polars as pl

from gogooku.config import CONFIGS_DIR
from gogooku.io import atomic_write_text
from market import (
    DATA_CONFIG,
    END,
    MARKET_VERSION,
    ROOT,
    SEED,
    STOCKS,
    WARM_UP,
    ensure_dataset,
    fetch_market,
)

MODELS = {
    "oracle": ("factor", "oracle.toml"),
    "linear": ("linear", "linear.toml"),
    "lgbm": ("lgbm", "lgbm.toml"),
    "atft": ("atft", "atft.toml"),
    "apex": ("apex", "apex.toml"),
    "master": ("master", "master.toml"),
}
HORIZONS = ("1d", "5d", "10d", "20d")
MAIN = "5d"


def quality_split(dataset: str, data_config: Path):
    """``[splits]`` of ``data_config``; the training span shrinks when no fold fits the dataset.
    Returns (split config, index of its last fold, that fold)."""
    from gogooku.config import SplitConfig, load_config
    from gogooku.dataset.build import dataset_dir
    from gogooku.dataset.splits import dataset_dates, walk_forward

    split = load_config(data_config, SplitConfig, section="splits")
    dates = dataset_dates(dataset_dir(dataset))
    rest = 2 * split.gap + split.val_days + split.test_days
    fitting = len(dates) - split.first_day - rest
    if fitting < split.train_days:
        if fitting < 60:
            raise SystemExit(
                f"{data_config}: dataset {dataset!r} has {len(dates)} days; the split needs "
                f"{split.first_day + rest + 60} at least (first_day + gaps + val + test + 60)"
            )
        split = split.model_copy(update={"train_days": fitting})
    folds = walk_forward(dates, split)
    return split, len(folds) - 1, folds[-1]


def train_samples(dataset: str, fold) -> int:
    from gogooku.dataset.build import dataset_dir

    return (
        pl.scan_parquet(dataset_dir(dataset) / "panel.parquet")
        .filter(
            pl.col("Date").is_between(fold.train.start, fold.train.end)
            & pl.col(f"target_{MAIN}").is_finite()
        )
        .select(pl.len())
        .collect()
        .item()
    )


def _test_pred_std(run_dir: Path) -> float:
    """Smallest per-day cross-sectional std of the test predictions (main horizon)."""
    preds = pl.read_parquet(run_dir / "predictions.parquet")
    daily = (
        preds.filter(pl.col("split") == "test").group_by("Date").agg(pl.col(f"pred_{MAIN}").std())
    )
    return float(daily[f"pred_{MAIN}"].min())


def summarise(run_dir: Path) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics["splits"]["test"]["horizons"]
    out: dict = {"test": {}}
    for h in (h for h in HORIZONS if h in test):  # a run may predict fewer horizons (lgbm: 5d)
        sig, ls = test[h]["signal"], test[h]["portfolio"]["long_short"]
        ci = sig.get("rank_ic_mean_ci") or {}
        sharpe_ci = ls.get("sharpe_ci") or {}
        out["test"][h] = {
            "rank_ic": sig["rank_ic_mean"],
            "rank_ic_ci95": [ci.get("low"), ci.get("high")],
            "rank_icir": sig["rank_icir"],
            "long_short_net_sharpe": ls["net"]["sharpe"],
            "long_short_net_sharpe_ci95": [sharpe_ci.get("low"), sharpe_ci.get("high")],
        }
    out["test_rank_ic_5d_vs_oracle"] = test[MAIN]["vs_oracle"]["rank_ic_vs_oracle"]
    out["valid_rank_ic_5d"] = metrics["splits"]["valid"]["horizons"][MAIN]["signal"]["rank_ic_mean"]
    out["n_test_days"] = test[MAIN]["signal"]["n_days"]
    out["test_pred_std_min"] = _test_pred_std(run_dir)
    return out


def run_model(name: str, dataset: str, split, fold_index: int, prefix: str, samples: int) -> dict:
    from gogooku.train.config import load_run_config, with_data
    from gogooku.train.run import train_run

    kind, file = MODELS[name]
    cfg = with_data(load_run_config(CONFIGS_DIR / file), split)
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"progress": False})})
    t0 = time.perf_counter()
    run_dir = train_run(kind, dataset, cfg, run_id=f"{prefix}_{name}", fold_index=fold_index)
    wall = time.perf_counter() - t0
    result = {"config": f"configs/{file}", "run": str(run_dir), "wall_s": round(wall, 1)}
    result.update(summarise(run_dir))
    result["train_samples"] = samples
    history = run_dir / "history.jsonl"
    if history.is_file():
        rows = [json.loads(s) for s in history.read_text().splitlines()]
        seen = sum(r["samples"] for r in rows)
        result["samples_per_s"] = round(seen / sum(r["train_seconds"] for r in rows), 1)
        summary = json.loads((run_dir / "train_summary.json").read_text())
        result["epochs_run"] = summary["epochs_run"]
        result["best_epoch"] = summary["best_epoch"]
        result["stopped"] = summary["stopped"]
        result["valid_pred_std_min"] = min(r["pred_std"][MAIN[:-1]] for r in rows)
        result["collapse_std"] = cfg.train.collapse_std
    else:
        result["samples_per_s"] = round(samples / wall, 1)
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=STOCKS)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--end", type=date.fromisoformat, default=END)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--market-version", type=int, default=MARKET_VERSION, choices=(1, 2))
    parser.add_argument("--home", type=Path, default=Path("/tmp/quality_home"))
    parser.add_argument("--dataset", default="q300")
    parser.add_argument("--data-config", type=Path, default=DATA_CONFIG)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument(
        "--merge", type=Path, action="append", default=[], help="earlier result(s) to add"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "studies" / "results" / "quality.json")
    args = parser.parse_args(argv)
    models = args.models.split(",")
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"--models: unknown {unknown}; expected some of {', '.join(MODELS)}")
    os.environ["GOGOOKU_HOME"] = str(args.home)
    start = date(args.end.year - args.years + 1, 1, 4)
    result: dict = {
        "market": {
            "seed": args.seed,
            "stocks": args.stocks,
            "years": args.years,
            "market_version": args.market_version,
        },
        "home": str(args.home),
        "dataset": args.dataset,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
    }
    result["fetch"] = fetch_market(
        args.stocks, args.seed, start - WARM_UP, args.end, args.market_version
    )
    result["build"] = ensure_dataset(args.dataset, start, args.end)
    split, fold_index, fold = quality_split(args.dataset, args.data_config)
    result["split"] = {
        "config": str(args.data_config.relative_to(ROOT))
        if args.data_config.is_relative_to(ROOT)
        else str(args.data_config),
        "fold": fold_index,
        "train": [str(fold.train.start), str(fold.train.end), fold.train.days],
        "valid": [str(fold.val.start), str(fold.val.end), fold.val.days],
        "test": [str(fold.test.start), str(fold.test.end), fold.test.days],
        "purge_days": split.purge,
    }
    samples = train_samples(args.dataset, fold)
    prefix = f"quality_{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    result["models"] = {
        name: run_model(name, args.dataset, split, fold_index, prefix, samples) for name in models
    }
    result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    for path in args.merge:
        earlier = json.loads(path.read_text())
        for key in ("dataset", "split", "market"):
            if earlier[key] != result[key]:
                raise SystemExit(f"--merge {path}: {key} {earlier[key]} != {result[key]}")
        kept = {k: v for k, v in earlier["models"].items() if k not in result["models"]}
        result.setdefault("merged_from", {})[str(path)] = sorted(kept)
        result["models"] = {**kept, **result["models"]}
    ric = {name: m["test"][MAIN]["rank_ic"] for name, m in result["models"].items()}
    if "oracle" in ric and "lgbm" in ric:
        result["bar_9_lgbm"] = bool(ric["lgbm"] >= 0.5 * ric["oracle"])
    if {"lgbm", "apex"} <= ric.keys():
        sharpe = {m: result["models"][m]["test"][MAIN]["long_short_net_sharpe"] for m in ric}
        result["bar_9_apex"] = bool(sharpe["apex"] >= sharpe["lgbm"])
    if {"oracle", "lgbm", "atft"} <= ric.keys():
        atft = result["models"]["atft"]
        result["bar_8_atft"] = bool(
            ric["atft"] >= 0.5 * ric["oracle"]
            and ric["atft"] >= ric["lgbm"]
            and atft["test_pred_std_min"] > atft["collapse_std"]
        )
    text = json.dumps(result, indent=2)
    print(text)
    atomic_write_text(args.out, text + "\n")
    return result


if __name__ == "__main__":
    main()
