"""Study: ridge with and without the fold's TS2Vec embeddings (issue #25, item 1).

    python studies/ts2vec.py [--home /tmp/quality_home_v2] [--dataset q300]
                             [--seeds 0,1] [--runs /tmp/ts2vec_runs]
                             [--out studies/results/ts2vec.json]

On the quality study's dataset and split (``studies/quality.py``: ``[splits]`` of
``configs/quality_data.toml``, the LAST fold), trains ``configs/linear.toml`` as is and with
``[data.embeddings.ts2vec]`` at its defaults (``docs/training.md``) for each encoder seed of
``--seeds``, through ``gogooku.train.run.train_run`` (run folders under ``--runs``, so the
shared home's ``runs/`` is left alone). Per run: validation RankIC(5d) — the figure a choice may
rest on — and the test figures of ``studies/quality.py``'s ``summarise``, wall seconds of the
run, and for the embedding runs the pretraining's steps, loss per epoch, wall and CPU seconds, and
the paired block-bootstrap 95 % interval of their mean daily RankIC(5d) minus the ridge's on the
validation and the test days.
The dataset must already be built (``studies/quality.py --home HOME`` builds it).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from gogooku.config import CONFIGS_DIR, Ts2VecConfig
from gogooku.io import atomic_write_text
from market import DATA_CONFIG, MARKET_VERSION, ROOT
from quality import quality_split, summarise


def run(dataset: str, split, fold_index: int, runs: Path, name: str, ts2vec) -> dict:
    from gogooku.train.config import load_run_config, with_data
    from gogooku.train.run import train_run

    cfg = with_data(load_run_config(CONFIGS_DIR / "linear.toml"), split)
    data = cfg.data.model_copy(
        update={"embeddings": cfg.data.embeddings.model_copy(update={"ts2vec": ts2vec})}
    )
    cfg = cfg.model_copy(update={"data": data})
    t0, cpu0 = time.perf_counter(), time.process_time()
    run_dir = train_run("linear", dataset, cfg, run_id=name, fold_index=fold_index, root=runs)
    out = {
        "run": str(run_dir),
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s": round(time.process_time() - cpu0, 1),
    }
    out.update(summarise(run_dir))
    summary = json.loads((run_dir / "train_summary.json").read_text())
    if "ts2vec" in summary:
        out["ts2vec"] = summary["ts2vec"] | {"config": ts2vec.model_dump()}
    return out


def paired(base: Path, other: Path) -> dict:
    """Per split, the paired block-bootstrap interval of mean daily RankIC(5d) of ``other``
    minus ``base`` (the same days; ``gogooku.evaluate.paired.mean_difference_ci``)."""
    import polars as pl

    from gogooku.evaluate.paired import mean_difference_ci

    def daily(run_dir: Path, split: str) -> pl.DataFrame:
        return (
            pl.read_parquet(run_dir / "daily.parquet")
            .filter((pl.col("split") == split) & (pl.col("horizon") == 5))
            .filter(pl.col("rank_ic").is_finite())
            .select("Date", "rank_ic")
        )

    out = {}
    for split in ("valid", "test"):
        both = daily(base, split).join(daily(other, split), on="Date", suffix="_b").sort("Date")
        out[split] = mean_difference_ci(
            both["rank_ic"].to_numpy(), both["rank_ic_b"].to_numpy(), horizon=5
        )
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/quality_home_v2"))
    parser.add_argument("--dataset", default="q300")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--runs", type=Path, default=Path("/tmp/ts2vec_runs"))
    parser.add_argument("--out", type=Path, default=ROOT / "studies" / "results" / "ts2vec.json")
    args = parser.parse_args(argv)
    os.environ["GOGOOKU_HOME"] = str(args.home)
    split, fold_index, fold = quality_split(args.dataset, DATA_CONFIG)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    result: dict = {
        "home": str(args.home),
        "dataset": args.dataset,
        "market_version": MARKET_VERSION,
        "split": {
            "fold": fold_index,
            "train": [str(fold.train.start), str(fold.train.end), fold.train.days],
            "valid": [str(fold.val.start), str(fold.val.end), fold.val.days],
            "test": [str(fold.test.start), str(fold.test.end), fold.test.days],
        },
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
        "runs": {},
    }
    args.runs.mkdir(parents=True, exist_ok=True)
    variants = {"ridge": None}
    for seed in (int(s) for s in args.seeds.split(",")):
        variants[f"ridge_ts2vec_seed{seed}"] = Ts2VecConfig(seed=seed)
    for name, ts2vec in variants.items():
        result["runs"][name] = run(
            args.dataset, split, fold_index, args.runs, f"ts2vec_{stamp}_{name}", ts2vec
        )
    base = Path(result["runs"]["ridge"]["run"])
    for name, out in result["runs"].items():
        if name != "ridge":
            out["rank_ic_5d_minus_ridge"] = paired(base, Path(out["run"]))
    result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    text = json.dumps(result, indent=2)
    print(text)
    atomic_write_text(args.out, text + "\n")
    return result


if __name__ == "__main__":
    main()
