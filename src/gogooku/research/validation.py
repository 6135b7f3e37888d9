"""The validation record of a walk-forward run: what its configs and models are chosen on.

Every fit of a walk-forward run has its own validation days (before its test window, after its
training window, purged on both sides). ``validation_record`` scores each fit's validation
predictions against the labels of the run's ``[target] label`` at the main horizon — the mean
daily RankIC over the fit's validation days — and the record's ``rank_ic_mean`` is the mean over
the fits. The test days of the stitched run are reported, never chosen on; a choice between runs
(the demo's served model, a study's config) reads this file.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from gogooku.evaluate.evaluator import load_targets
from gogooku.evaluate.metrics import daily_ic, ic_summary
from gogooku.io import atomic_write_text
from gogooku.runs import read_predictions
from gogooku.settings import get_settings
from gogooku.target import TargetConfig, pred_column

VALIDATION_FILE = "validation.json"


def validation_record(
    fit_dirs: list[Path], dataset: str, target: TargetConfig, horizon: int
) -> dict[str, object]:
    """Per fit (folder name, first and last validation day, days, mean daily RankIC at
    ``horizon``) and ``rank_ic_mean``, the mean of the fits' means (null when none has one)."""
    labels, _ = load_targets(get_settings(), dataset, target.label)
    column, label = pred_column(horizon), f"target_{horizon}d"
    fits = []
    for fit_dir in fit_dirs:
        valid = read_predictions(fit_dir).filter(pl.col("split") == "valid")
        joined = valid.select("Date", "Code", column).join(labels, on=["Date", "Code"], how="left")
        summary = ic_summary(daily_ic(joined, column, label))
        fits.append(
            {
                "fit": fit_dir.name,
                "first_date": valid["Date"].min().isoformat(),
                "last_date": valid["Date"].max().isoformat(),
                "n_dates": valid["Date"].n_unique(),
                "rank_ic_mean": summary["rank_ic_mean"],
            }
        )
    scores = [f["rank_ic_mean"] for f in fits if f["rank_ic_mean"] is not None]
    return {
        "horizon": horizon,
        "label": target.label,
        "rank_ic_mean": sum(scores) / len(scores) if scores else None,
        "fits": fits,
    }


def write_validation(run_dir: Path, record: dict[str, object]) -> Path:
    return atomic_write_text(Path(run_dir) / VALIDATION_FILE, json.dumps(record, indent=2) + "\n")


def read_validation(run_dir: Path) -> dict[str, object]:
    return json.loads((Path(run_dir) / VALIDATION_FILE).read_text(encoding="utf-8"))
