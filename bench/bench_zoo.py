"""Benchmark: the model zoo — every model kind's shipped config walked forward over all folds of
the quality market (version 2) for several market seeds, compared on the stitched record.

    python bench/bench_zoo.py [--seeds 7,8] [--stocks 300] [--years 4] [--home /tmp/zoo_home]
        [--models oracle,ridge,lgbm,atft,apex,apex_pruned,ensemble] [--test-days 60]
        [--train-days N] [--threads N] [--resume] [--out bench/results/bench_zoo.json]
    python bench/render_zoo.py bench/results/bench_zoo.json     # the table in docs/models.md

Per market seed s: the synthetic market of ``--stocks`` stocks (``studies/market.py``, market
version 2, panel from January 4 of ``2022 − years + 1`` to 2022-12-30) and its dataset in
``--home/seed{s}`` (reused when present). Every model of ``--models`` (rows of ``ZOO``; a new
kind is one row) runs ``run_walkforward`` over every fold of its ``configs/<file>`` with the
quality split (``configs/quality_data.toml``: rolling 504 training days — ``--train-days``, or
fewer when the dataset is too short for one fold —, 60 validation days, purge 21) whose test
block and step are ``--test-days``, so the test windows tile the last days, every fit with
``--threads`` threads (default: all cores; 1 on a shared machine, where OpenMP threads that
wait on busy cores slow LightGBM down). ``ensemble`` is
``gogooku ensemble`` of ridge, LightGBM and the network (``network`` rows) with the highest
validation RankIC(5d) (``validation.json``: the choice reads validation days only).

Prints (and with ``--out`` writes) JSON: ``models`` (per row kind, config, what it is, paper)
and per seed the folds, test days and period and per model: the stitched test mean daily
RankIC(5d) and long-short net Sharpe(5d) with the evaluator's block-bootstrap 95 % intervals
(``metrics.json``), the validation RankIC(5d), and ``vs_ridge`` / ``vs_lgbm``: ``gogooku
compare``'s paired rows (mean daily RankIC difference with its paired block-bootstrap 95 %
interval, Diebold–Mariano t and p, long-short net Sharpe difference with its interval) on the
common test days; wall and CPU seconds (``time.process_time`` of this process: every thread
of every fit) per fold (an ensemble's own cost: its members' are in their rows).

The full zoo takes hours on 2 cores; timings are comparable only within one run of this script.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from gogooku.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "studies"))

from market import END, MARKET_VERSION, STOCKS, ensure_quality_dataset, zoo_split  # noqa: E402

MAIN = "5d"


@dataclass(frozen=True)
class Model:
    kind: str
    config: str | None  # configs/<config>; None for the ensemble (made from other rows' runs)
    what: str
    paper: str
    network: bool = False  # an ensemble member candidate ("the best network")


ZOO: dict[str, Model] = {
    "oracle": Model("factor", "oracle.toml", "the market's expected returns (the ceiling)", "—"),
    "ridge": Model("linear", "linear.toml", "ridge per horizon", "Hoerl & Kennard 1970"),
    "lgbm": Model("lgbm", "lgbm.toml", "gradient-boosted trees", "Ke et al. 2017 (LightGBM)"),
    "atft": Model(
        "atft",
        "atft.toml",
        "LSTM encoder + SAN + ridge-started linear skip (GAT and attention shipped off)",
        "Lim et al. 2021; Brody et al. 2022; Ye et al. 2024",
        network=True,
    ),
    "apex": Model(
        "apex",
        "apex.toml",
        "market-gated attention across the day's stocks",
        "MASTER-style gate (Li et al. 2024)",
        network=True,
    ),
    "apex_pruned": Model(
        "apex",
        "apex_pruned.toml",
        "APEX on the features kept by validation permutation importance",
        "Breiman 2001 (permutation importance)",
        network=True,
    ),
    "master": Model(
        "master",
        "master.toml",
        "MASTER's intra- and inter-stock attention (its gate and temporal aggregation shipped off)",
        "Li et al. 2024 (MASTER)",
        network=True,
    ),
    "ensemble": Model(
        "ensemble",
        None,
        "ridge + LightGBM + best network, weights chosen on validation",
        "Caruana et al. 2004 (ensemble selection)",
    ),
}


def model_config(name: str, split):
    from gogooku.config import CONFIGS_DIR
    from gogooku.train.config import load_run_config, with_data

    cfg = with_data(load_run_config(CONFIGS_DIR / ZOO[name].config), split)
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"progress": False})})


def fresh(run_id: str) -> str:
    from gogooku.settings import get_settings

    old = get_settings().runs_dir / run_id
    if old.exists():
        shutil.rmtree(old)
    return run_id


def best_network(runs: dict[str, str]) -> str | None:
    """The network row whose run has the highest validation RankIC (validation.json)."""
    from gogooku.research.validation import read_validation
    from gogooku.runs import resolve_run_dir

    scores = {
        name: read_validation(resolve_run_dir(run))["rank_ic_mean"]
        for name, run in runs.items()
        if ZOO[name].network
    }
    scored = {k: v for k, v in scores.items() if v is not None}
    return max(scored, key=scored.__getitem__) if scored else None


def walk(
    name: str,
    seed: int,
    dataset: str,
    split,
    runs: dict[str, str],
    threads: int | None,
    resume: bool = False,
) -> dict:
    """Walk model ``name`` forward (or, with ``resume``, reuse its finished run: one whose
    ``zoo_cost.json`` exists, written after the run's last fold) and return its run and cost."""
    from gogooku.research.ensemble import run_ensemble
    from gogooku.research.walkforward import run_walkforward
    from gogooku.settings import get_settings

    run_id = f"zoo-{name}-s{seed}"
    cost_file = get_settings().runs_dir / run_id / "zoo_cost.json"
    if resume and cost_file.exists():
        runs[name] = run_id
        return {**json.loads(cost_file.read_text()), "resumed": True}
    fresh(run_id)
    extra: dict[str, object] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    if ZOO[name].kind == "ensemble":
        net = best_network(runs)
        members = [m for m in ("ridge", "lgbm", net) if m in runs]
        run_ensemble([runs[m] for m in members], run_id=run_id)
        extra["members"] = members
    else:
        cfg = model_config(name, split)
        run_walkforward(ZOO[name].kind, dataset, cfg, folds="all", run_id=run_id, threads=threads)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    runs[name] = run_id
    cost = {"run": run_id, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), **extra}
    cost_file.write_text(json.dumps(cost) + "\n")
    return cost


def figures(run_id: str) -> dict:
    """The stitched test RankIC(5d) and long-short net Sharpe(5d) with their intervals, the
    validation RankIC(5d) and the test folds of a run."""
    from gogooku.research.validation import read_validation
    from gogooku.runs import resolve_run_dir

    run_dir = resolve_run_dir(run_id)
    test = json.loads((run_dir / "metrics.json").read_text())["splits"]["test"]
    sig = test["horizons"][MAIN]["signal"]
    ls = test["horizons"][MAIN]["portfolio"]["long_short"]
    ric_ci, sharpe_ci = sig.get("rank_ic_mean_ci") or {}, ls.get("sharpe_ci") or {}
    return {
        "folds": len(test.get("folds", [])),
        "test_days": test["n_dates"],
        "period": [test["first_date"], test["last_date"]],
        "rank_ic_5d": sig["rank_ic_mean"],
        "rank_ic_5d_ci95": [ric_ci.get("low"), ric_ci.get("high")],
        "ls_net_sharpe_5d": ls["net"]["sharpe"],
        "ls_net_sharpe_5d_ci95": [sharpe_ci.get("low"), sharpe_ci.get("high")],
        "valid_rank_ic_5d": read_validation(run_dir)["rank_ic_mean"],
    }


def paired(reference: str, runs: dict[str, str]) -> dict[str, dict]:
    """``gogooku compare`` of ``reference`` (run A) against every other run at 5d."""
    from gogooku.evaluate.compare import compare_runs, load_runs

    ids = [runs[reference], *(r for n, r in runs.items() if n != reference)]
    comparison = compare_runs(load_runs(ids), "test").to_json()
    (horizon,) = [h for h in comparison["horizons"] if h["horizon"] == MAIN]
    name_of = {r: n for n, r in runs.items()}
    keep = ("n_days", "rank_ic_diff", "dm_t", "dm_p", "ls_sharpe_diff")
    return {name_of[p["b"]]: {k: p[k] for k in keep} for p in horizon["pairs"]}


def run_seed(seed: int, args: argparse.Namespace, models: list[str]) -> dict:
    home = args.home / f"seed{seed}"
    start = date(END.year - args.years + 1, 1, 4)
    ensure_quality_dataset(home, args.dataset, args.stocks, start, END, seed=seed)
    split, n_folds = zoo_split(args.dataset, args.test_days, args.train_days)
    out: dict = {"home": str(home), "folds": n_folds, "train_days": split.train_days, "models": {}}
    runs: dict[str, str] = {}
    for name in models:
        entry = walk(name, seed, args.dataset, split, runs, args.threads, args.resume)
        entry.update(figures(entry["run"]))
        entry["wall_s_per_fold"] = round(entry["wall_s"] / entry["folds"], 2)
        entry["cpu_s_per_fold"] = round(entry["cpu_s"] / entry["folds"], 2)
        out["models"][name] = entry
        print(json.dumps({f"seed {seed} {name}": entry}), file=sys.stderr, flush=True)
    for ref, key in (("ridge", "vs_ridge"), ("lgbm", "vs_lgbm")):
        if ref in runs and len(runs) > 1:
            for name, row in paired(ref, runs).items():
                out["models"][name][key] = row
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="7,8", help="market seeds, comma-separated")
    parser.add_argument("--stocks", type=int, default=STOCKS)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--home", type=Path, default=Path("/tmp/zoo_home"))
    parser.add_argument("--dataset", default="zoo")
    parser.add_argument("--models", default=",".join(ZOO))
    parser.add_argument("--test-days", type=int, default=60)
    parser.add_argument("--train-days", type=int, default=None, help="default: the split's 504")
    parser.add_argument("--threads", type=int, default=None, help="per fit (default: all cores)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse every model run that finished in an earlier, interrupted run of this script",
    )
    args = parser.parse_args(argv)
    models = args.models.split(",")
    unknown = sorted(set(models) - set(ZOO))
    if unknown:
        parser.error(f"--models: unknown {unknown}; expected some of {', '.join(ZOO)}")
    if "ensemble" in models:  # it is made from the other rows' runs
        models = [m for m in models if m != "ensemble"] + ["ensemble"]
    seeds = [int(s) for s in args.seeds.split(",")]
    result: dict = {
        "market": {
            "version": MARKET_VERSION,
            "stocks": args.stocks,
            "years": args.years,
            "end": END.isoformat(),
            "seeds": seeds,
        },
        "test_days_per_fold": args.test_days,
        "cores": os.cpu_count(),
        "threads_per_fit": args.threads or os.cpu_count(),
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
        "models": {name: asdict(ZOO[name]) for name in models},
        "seeds": {str(seed): run_seed(seed, args, models) for seed in seeds},
        "load_avg_1m_end": None,
    }
    result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    text = json.dumps(result, indent=2)
    if args.out is not None:
        atomic_write_text(args.out, text + "\n")
    print(text)
    return result


if __name__ == "__main__":
    main()
