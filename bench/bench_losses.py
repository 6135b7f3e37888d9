"""Benchmark: which cross-sectional loss terms carry the signal (the ATFT/APEX loss defaults).

    python bench/bench_losses.py [--home /tmp/quality_home] [--dataset q300] [--folds 7,8,9]
                                 [--epochs 8] [--out bench/results/bench_losses.json]

Uses the quality benchmark's market and dataset (``bench/bench_quality.py``: seed 7, 300 stocks,
2019-01-04..2022-12-30; fetched and built here when ``--home`` does not hold them yet). For each
fold of ``configs/quality_data.toml`` the tabular rows are prepared as for the baselines
(``gogooku.models.tabular.prepare``: per-date rank-gauss features), and one linear scorer
p = W x + b (the part every network here ends in) is trained with AdamW (lr 1e-3, weight decay
1e-4, 4 days per step, the same seed) on each loss variant of ``VARIANTS`` through
``gogooku.train.losses.compute_loss``. Per variant and fold: the mean daily validation RankIC(5d)
of the best epoch and the test RankIC(5d) of that epoch (the model is chosen on validation only),
plus every epoch's pair. The variants differ only in their ``[loss]`` weights and temperatures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import torch

from gogooku.config import CONFIGS_DIR

ROOT = Path(__file__).resolve().parents[1]
HORIZONS = [1, 5, 10, 20]
PREVIOUS = "old_default_listnet_sharpe0.5"
VARIANTS: dict[str, dict[str, float]] = {
    PREVIOUS: {
        "rank": 0.0,
        "listnet": 0.5,
        "cs_ic": 0.3,
        "sharpe": 0.1,
        "sharpe_temperature": 0.5,
    },
    "default": {"rank": 0.5, "cs_ic": 0.3, "sharpe": 0.1, "sharpe_temperature": 2.0},
    "rank_surrogate_ic_sharpe0.5": {
        "rank": 0.5,
        "cs_ic": 0.3,
        "sharpe": 0.1,
        "sharpe_temperature": 0.5,
    },
    "rank_surrogate_ic": {"rank": 0.5, "cs_ic": 0.3, "sharpe": 0.0},
    "cs_ic_only": {"rank": 0.0, "cs_ic": 1.0, "sharpe": 0.0},
    "listnet_only": {"rank": 0.0, "listnet": 1.0, "cs_ic": 0.0, "sharpe": 0.0},
    "cs_ic_sharpe0.5": {"rank": 0.0, "cs_ic": 0.3, "sharpe": 0.1, "sharpe_temperature": 0.5},
}


def day_cube(frame: pl.DataFrame, inputs: list[str]):
    """(D, N, F) features, (D, N, H) targets, (D, N) mask and the row positions of ``frame``."""
    dates = frame["Date"].unique().sort()
    codes = frame["Code"].unique().sort()
    d = frame["Date"].to_frame().join(dates.to_frame().with_row_index("d"), on="Date")["d"]
    c = frame["Code"].to_frame().join(codes.to_frame().with_row_index("c"), on="Code")["c"]
    d, c = d.to_numpy(), c.to_numpy()
    x = np.zeros((len(dates), len(codes), len(inputs)), np.float32)
    x[d, c] = frame.select(inputs).to_numpy()
    y = np.zeros((len(dates), len(codes), len(HORIZONS)), np.float32)
    targets = frame.select(f"target_{h}d" for h in HORIZONS).to_numpy()
    y[d, c] = np.nan_to_num(targets)
    m = np.zeros(y.shape, bool)
    m[d, c] = np.isfinite(targets)
    return torch.tensor(x), torch.tensor(y), torch.tensor(m), (d, c)


def train_variant(weights: dict[str, float], splits: dict, epochs: int) -> dict:
    from gogooku.models.gbdt import mean_daily_rank_ic
    from gogooku.train.config import LossConfig
    from gogooku.train.losses import compute_loss

    cfg = LossConfig(**{"quantile": 0.0, **weights})
    x, y, m, _, _ = splits["train"]
    torch.manual_seed(0)
    model = torch.nn.Linear(x.shape[-1], len(HORIZONS))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    history = []
    for _ in range(epochs):
        order = torch.randperm(x.shape[0])
        for i in range(0, len(order), 4):
            days = order[i : i + 4]
            loss = compute_loss(model(x[days]), None, (), y[days], m[days], HORIZONS, cfg)
            opt.zero_grad()
            loss.total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        with torch.no_grad():
            scores = {}
            for name in ("valid", "test"):
                xs, _, _, (d, c), frame = splits[name]
                pred = model(xs)[..., 1].numpy()[d, c]
                scores[name] = mean_daily_rank_ic(frame, pred, "target_5d")
        history.append([round(scores["valid"], 4), round(scores["test"], 4)])
    best = max(range(epochs), key=lambda e: history[e][0])
    return {
        "best_epoch": best,
        "valid": history[best][0],
        "test": history[best][1],
        "epochs": history,
    }


def ensure_quality_dataset(home: Path, dataset: str) -> None:
    """Point GOGOOKU_HOME at ``home`` and make the quality benchmark's market (seed 7, 300
    stocks) and dataset ``dataset`` (2019-01-04..2022-12-30) there; no-ops when they exist."""
    os.environ["GOGOOKU_HOME"] = str(home)
    from bench_quality import ensure_dataset, fetch_market

    start, end = date(2019, 1, 4), date(2022, 12, 30)
    fetch_market(300, 7, start - timedelta(days=95), end)
    ensure_dataset(dataset, start, end)


def prepared_folds(home: Path, dataset: str, data_config: Path, folds: list[int]):
    """Yield (fold index, ``TabularData``) of ``folds`` of ``data_config``'s walk-forward split of
    ``dataset`` in ``home``: the baselines' per-date rank-gauss features and raw targets."""
    ensure_quality_dataset(home, dataset)
    from gogooku.config import NormalizationConfig, SplitConfig, load_config
    from gogooku.dataset.build import dataset_dir
    from gogooku.dataset.splits import dataset_dates, walk_forward
    from gogooku.models.tabular import prepare
    from gogooku.runs import Ranges

    directory = dataset_dir(dataset)
    split = load_config(data_config, SplitConfig, section="splits")
    walk = walk_forward(dataset_dates(directory), split)
    columns = json.loads((directory / "features.json").read_text())["columns"]
    features = [c["name"] for c in columns if c["role"] == "feature"]
    panel = pl.scan_parquet(directory / "panel.parquet")
    for index in folds:
        fold = walk[index]
        ranges = Ranges(
            train=(fold.train.start, fold.train.end),
            valid=(fold.val.start, fold.val.end),
            test=(fold.test.start, fold.test.end),
        )
        yield index, prepare(panel, features, ranges, HORIZONS, NormalizationConfig())


def summarise_folds(result: dict, names: list[str], baseline: str) -> dict:
    """Add ``mean_over_folds`` (valid and test per name over ``result["folds"]``) and each
    name's means over the ``baseline`` name's (``valid_over_baseline``, ``test_over_baseline``)
    and ``chosen_on_validation`` (the name with the highest unrounded validation mean) to
    ``result``; returns it."""
    result["chosen_on_validation"] = max(
        names, key=lambda name: np.mean([f[name]["valid"] for f in result["folds"].values()])
    )
    result["mean_over_folds"] = {
        name: {
            split: round(float(np.mean([f[name][split] for f in result["folds"].values()])), 4)
            for split in ("valid", "test")
        }
        for name in names
    }
    base = result["mean_over_folds"][baseline]
    result["baseline"] = baseline
    result["vs_baseline"] = {
        name: {
            f"{split}_over_baseline": round(means[split] / base[split], 3)
            for split in ("valid", "test")
        }
        for name, means in result["mean_over_folds"].items()
    }
    return result


def write_json(document: dict, out: Path) -> None:
    """Write ``document`` to ``out`` atomically and print it (the one JSON document on stdout)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n")
    tmp.replace(out)
    print(json.dumps(document, indent=1))


def write_result(result: dict, names: list[str], out: Path, baseline: str) -> None:
    """``summarise_folds`` then ``write_json``."""
    write_json(summarise_folds(result, names, baseline), out)


def fold_study_parser(doc: str, name: str) -> argparse.ArgumentParser:
    """The options every study over the quality split's folds shares: --home, --dataset,
    --data-config, --folds and --out (default ``bench/results/{name}.json``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/quality_home"))
    parser.add_argument("--dataset", default="q300")
    parser.add_argument("--data-config", type=Path, default=CONFIGS_DIR / "quality_data.toml")
    parser.add_argument("--folds", default="7,8,9")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / f"{name}.json")
    return parser


def main(argv: list[str] | None = None) -> dict:
    parser = fold_study_parser(__doc__, "bench_losses")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result: dict = {"dataset": args.dataset, "epochs": args.epochs, "folds": {}}
    t0 = time.perf_counter()
    folds = [int(f) for f in args.folds.split(",")]
    for index, data in prepared_folds(args.home, args.dataset, args.data_config, folds):
        splits = {}
        for name in ("train", "valid", "test"):
            frame = data.rows(name)
            splits[name] = (*day_cube(frame, data.inputs), frame)
        result["folds"][index] = {
            name: train_variant(weights, splits, args.epochs) for name, weights in VARIANTS.items()
        }
        print(json.dumps({index: result["folds"][index]}), file=sys.stderr, flush=True)
    result["variants"] = VARIANTS
    result["seconds"] = round(time.perf_counter() - t0, 1)
    write_result(result, list(VARIANTS), args.out, baseline=PREVIOUS)
    return result


if __name__ == "__main__":
    main()
