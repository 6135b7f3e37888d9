"""Score a dataset's sealed hold-out once per final config (``gogooku evaluate --final RUN``).

:func:`score_holdout` reads RUN's model kind, dataset and resolved ``config.toml``, refuses a
(dataset, config hash) already in the ledger unless ``again``, fits the model on the final fold
(:func:`gogooku.dataset.splits.final_fold`: test = the hold-out, validation and training of the
config's lengths right before it with its purge/embargo gaps, rolling or expanding as the config
says) into a new run next to RUN (``RUN-final``, ``RUN-final-2``, ...; ``run.json`` params
``holdout: true``, ``source_run: RUN``), evaluates it with ``final=True`` (the run's
``[evaluate]``), and appends the ledger line (``gogooku.research.ledger``).
"""

from __future__ import annotations

import datetime as dt
import getpass
from dataclasses import dataclass
from pathlib import Path

from gogooku.dataset.build import dataset_dir
from gogooku.dataset.holdout import read_holdout
from gogooku.dataset.splits import dataset_dates, final_fold
from gogooku.errors import GogookuError
from gogooku.evaluate.evaluator import evaluate_run
from gogooku.io import code_version
from gogooku.research.ledger import append_entry, config_hash, ledger_path, scored
from gogooku.runs import CONFIG_FILE, load_run, resolve_run_dir
from gogooku.train.config import load_run_config
from gogooku.train.run import train_run


class HoldoutScoringError(GogookuError, ValueError):
    """The hold-out cannot be scored for this run (no hold-out, no config, already scored)."""


@dataclass(frozen=True)
class FinalResult:
    run_dir: Path
    final_dir: Path
    entry: dict
    ledger: Path


def _ci(ci: dict | None) -> list[float | None]:
    ci = ci or {}
    return [ci.get("low"), ci.get("high")]


def holdout_figures(metrics: dict) -> dict[str, dict[str, object]]:
    """Per horizon of the test split: RankIC mean and its CI, ICIR, long-short net Sharpe and
    its CI."""
    out: dict[str, dict[str, object]] = {}
    horizons = metrics["splits"].get("test", {}).get("horizons", {})
    for h, entry in horizons.items():
        sig = entry["signal"]
        ls = entry.get("portfolio", {}).get("long_short", {})
        out[h] = {
            "rank_ic_mean": sig.get("rank_ic_mean"),
            "rank_ic_ci": _ci(sig.get("rank_ic_mean_ci")),
            "rank_icir": sig.get("rank_icir"),
            "long_short_sharpe": ls.get("net", {}).get("sharpe"),
            "long_short_sharpe_ci": _ci(ls.get("sharpe_ci")),
        }
    return out


def _final_run_id(run_dir: Path, run_id: str) -> str:
    rid, n = f"{run_id}-final", 1
    while (run_dir.parent / rid).exists():
        n += 1
        rid = f"{run_id}-final-{n}"
    return rid


def score_holdout(run: str | Path, again: bool = False) -> FinalResult:
    """Fit RUN's kind and config on the final fold, score the hold-out, append to the ledger."""
    run_dir = resolve_run_dir(run)
    info = load_run(run_dir)
    if info.params.get("holdout") is True:
        raise HoldoutScoringError(
            f"run {info.run_id} is itself a final run; pass the run it was made from "
            f"({info.params.get('source_run')})"
        )
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise HoldoutScoringError(f"run {info.run_id}: no {CONFIG_FILE}; its config is unknown")
    cfg = load_run_config(config_path)
    ds_dir = dataset_dir(info.dataset)
    holdout = read_holdout(ds_dir)
    if not holdout.active:
        raise HoldoutScoringError(
            f"dataset {info.dataset!r} has no hold-out (build it with --holdout; see "
            "`gogooku build --help`)"
        )
    chash = config_hash(cfg)
    earlier = scored(info.dataset, chash)
    if earlier and not again:
        first = earlier[0]
        raise HoldoutScoringError(
            f"the hold-out of dataset {info.dataset!r} was already scored {len(earlier)} time(s) "
            f"for this config (hash {chash[:12]}; first {first['when']} by {first['who']}, run "
            f"{first['run']}); scoring it again is recorded: pass --again"
        )
    fold = final_fold(dataset_dates(ds_dir), holdout, cfg.data.splits)
    final_id = _final_run_id(run_dir, info.run_id)
    final_dir = train_run(
        info.model,
        info.dataset,
        cfg,
        run_id=final_id,
        fold_index=fold.index,
        evaluate=False,
        fold=fold,
        root=run_dir.parent,
        params={"holdout": True, "source_run": info.run_id},
    )
    evaluation = evaluate_run(final_dir, final=True)
    entry = {
        "who": getpass.getuser(),
        "when": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "run": info.run_id,
        "final_run": final_id,
        "model": info.model,
        "dataset": info.dataset,
        "holdout": {"start": fold.test.start.isoformat(), "end": fold.test.end.isoformat()},
        "config_hash": chash,
        "code_version": code_version(),
        "figures": holdout_figures(evaluation.metrics),
        "again": bool(again),
    }
    return FinalResult(run_dir, final_dir, entry, append_entry(entry, ledger_path()))
