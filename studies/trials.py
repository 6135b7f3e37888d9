"""Study: the research ideas of issue #25 tried on a network, walked forward on the zoo market.

    python studies/trials.py --kind apex|atft|master [--seeds 7,8] [--switches 8] [--home /tmp/trials]
        [--stocks 200] [--years 3] [--train-days 252] [--test-days 120] [--threads 1]
        [--out-dir studies/results]

Per market seed s, in its own home ``--home/seed{s}``: the zoo's market (``bench/bench_zoo.py``:
market version 2, ``--stocks`` stocks, panel from January 4 of ``2022 − years + 1`` to
2022-12-30) and the dataset ``zoo`` built with every block plus the opt-in graph embeddings
(``gemb``; reused when present). The config is ``configs/<kind>.toml`` with the zoo's split
(``market.zoo_split``, as ``bench/bench_zoo.py``: the quality split with ``--train-days``
training days and ``--test-days`` test days and step), ``progress = false`` and ``data.loader.feature_blocks`` =
every block but ``gemb``, so ``full`` is the zoo's model. The trials are
``studies/trials/<kind>.toml`` plus ``gemb`` (``feature_blocks`` = every block).
``gogooku.research.ablation.run_ablation`` walks ``full``, every trial and — for the seeds of
``--switches`` — the variant without each switch forward over every fold, ``--threads`` threads
per fit; a trial is adopted only if it beats ``full`` on validation (``gogooku.research.trials``).
Writes ``--out-dir/trials_<kind>_seed<s>.json`` (the ablation record plus the market, split and
the wall and CPU seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

from gogooku.io import atomic_write_text
from market import END, MARKET_VERSION, ROOT, WARM_UP, fetch_market, zoo_split

DATASET = "zoo"
GEMB = "gemb"


def ensure_zoo(home: Path, stocks: int, start: date, seed: int) -> list[str]:
    """The zoo market and dataset (every block and ``gemb``) in ``home``; returns its blocks in
    ``features.json`` order."""
    from gogooku.dataset.build import build_dataset, dataset_dir

    os.environ["GOGOOKU_HOME"] = str(home)
    fetch_market(stocks, seed, start - WARM_UP, END)
    index = dataset_dir(DATASET) / "features.json"
    if not index.is_file():
        build_dataset(
            DATASET, start, END, blocks=["default", GEMB], incremental=False, show_progress=False
        )
    columns = json.loads(index.read_text())["columns"]
    blocks = [c["block"] for c in columns if c["role"] == "feature"]
    if GEMB not in blocks:
        raise SystemExit(f"{index}: the dataset has no {GEMB} block; delete it to rebuild")
    return list(dict.fromkeys(blocks))


def study(kind: str, seed: int, args: argparse.Namespace) -> dict:
    from gogooku.config import CONFIGS_DIR
    from gogooku.research.ablation import run_ablation, variants
    from gogooku.research.trials import read_trials
    from gogooku.train.config import load_run_config, with_data

    start = date(END.year - args.years + 1, 1, 4)
    blocks = ensure_zoo(args.home / f"seed{seed}", args.stocks, start, seed)
    split, n_folds = zoo_split(DATASET, args.test_days, args.train_days)
    cfg = with_data(load_run_config(CONFIGS_DIR / f"{kind}.toml"), split)
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"progress": False})})
    without = [b for b in blocks if b != GEMB]
    loader = cfg.data.loader.model_copy(update={"feature_blocks": without})
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"loader": loader})})
    switches = seed in args.switches
    source = ROOT / "studies" / "trials" / f"{kind}.toml"
    taken = {"full", GEMB, *(variants(cfg.model) if switches else ())}
    trials = read_trials(source, taken)
    trials[GEMB] = {"data": {"loader": {"feature_blocks": blocks}}}
    t0, c0 = time.perf_counter(), time.process_time()
    record, _ = run_ablation(
        DATASET,
        cfg,
        f"{kind}-s{seed}",
        folds="all",
        threads=args.threads,
        on_variant=lambda name, update: print(f"seed {seed} {kind} {name}: {update}", flush=True),
        trials=trials,
        switches=switches,
        trials_source=source.relative_to(ROOT),
    )
    return {
        "study": "trials",
        "command": " ".join(["python", *sys.argv]),
        "market": {
            "version": MARKET_VERSION,
            "seed": seed,
            "stocks": args.stocks,
            "start": start.isoformat(),
            "end": END.isoformat(),
        },
        "split": {**split.model_dump(mode="json"), "folds": n_folds},
        "threads": args.threads,
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s": round(time.process_time() - c0, 1),
        **record,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("apex", "atft", "master"), required=True)
    parser.add_argument("--seeds", default="7,8")
    parser.add_argument("--switches", default="", help="seeds that also ablate the switches")
    parser.add_argument("--home", type=Path, default=Path("/tmp/trials_home"))
    parser.add_argument("--stocks", type=int, default=200)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--train-days", type=int, default=252)
    parser.add_argument("--test-days", type=int, default=120)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "studies" / "results")
    args = parser.parse_args()
    args.switches = {int(s) for s in args.switches.split(",") if s}
    for seed in (int(s) for s in args.seeds.split(",")):
        out = study(args.kind, seed, args)
        path = args.out_dir / f"trials_{args.kind}_seed{seed}.json"
        atomic_write_text(path, json.dumps(out, indent=2) + "\n")
        print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
