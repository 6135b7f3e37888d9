"""``gogooku runs list``: one row per run folder under ``$GOGOOKU_HOME/runs``.

A row holds the run id, model kind, dataset, kind of run (``run``, or ``walkforward`` with its
number of folds), the train and test periods (a walk-forward run: its first fit's train period
and the stitched test period), the creation time, whether it was evaluated, and from
``metrics.json`` the test split's figures at its ``main_horizon``: ``rank_ic`` (mean daily RankIC),
``rank_icir`` (its mean / std) and ``ls_sharpe`` (the long-short book's net Sharpe). A folder
whose run.json or metrics.json cannot be read is listed with its ``problem``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from gogooku.errors import GogookuError
from gogooku.runs import RunError, load_run, runs_dir
from gogooku.tracking.record import METRICS_FILE

SORT_FIELDS = ("created_at", "run_id", "model", "dataset", "rank_ic", "rank_icir", "ls_sharpe")
FIGURES = ("rank_ic", "rank_icir", "ls_sharpe")
SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "model": pl.String(),
    "dataset": pl.String(),
    "kind": pl.String(),
    "n_folds": pl.Int64(),
    "train": pl.String(),
    "test": pl.String(),
    "created_at": pl.String(),
    "evaluated": pl.Boolean(),
    "main_horizon": pl.Int64(),
    "rank_ic": pl.Float64(),
    "rank_icir": pl.Float64(),
    "ls_sharpe": pl.Float64(),
    "problem": pl.String(),
}


class RunsListError(GogookuError, ValueError):
    """A bad option of ``gogooku runs list``."""


def _figures(run_dir: Path) -> dict[str, object]:
    """evaluated, main_horizon and the test figures of ``metrics.json`` (or its problem)."""
    path = run_dir / METRICS_FILE
    out: dict[str, object] = {"evaluated": False}
    if not path.is_file():
        return out
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        main = int(metrics["main_horizon"])
        entry = metrics["splits"]["test"]["horizons"][f"{main}d"]
        ls_net = (entry.get("portfolio") or {}).get("long_short", {}).get("net", {})
        figures = {
            "rank_ic": entry["signal"].get("rank_ic_mean"),
            "rank_icir": entry["signal"].get("rank_icir"),
            "ls_sharpe": ls_net.get("sharpe"),
        }
    # a hand-edited or truncated metrics.json: any shape error is the row's problem
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return {**out, "problem": f"{path.name}: unreadable ({type(exc).__name__}: {exc})"}
    return {"evaluated": True, "main_horizon": main, **figures}


def run_row(run_dir: Path) -> dict[str, object]:
    """The listing's row of one run folder (a problem instead of figures when unreadable)."""
    try:
        info = load_run(run_dir)
    except RunError as exc:
        return {"run_id": run_dir.name, "evaluated": False, "problem": str(exc)}
    train, test = info.ranges.train, info.ranges.test
    return {
        "run_id": info.run_id,
        "model": info.model,
        "dataset": info.dataset,
        "kind": "run" if info.folds is None else "walkforward",
        "n_folds": None if info.folds is None else len(info.folds),
        "train": f"{train[0]}..{train[1]}",
        "test": f"{test[0]}..{test[1]}",
        "created_at": info.created_at.isoformat(),
        **_figures(run_dir),
    }


def list_runs(
    model: str | None = None,
    dataset: str | None = None,
    since: dt.date | None = None,
    sort: str = "created_at",
    limit: int | None = None,
    root: Path | None = None,
) -> pl.DataFrame:
    """The rows (``SCHEMA``) of the run folders under ``root`` (default ``$GOGOOKU_HOME/runs``):
    only ``model``'s and ``dataset``'s, created on or after ``since`` (UTC date); sorted by
    ``sort`` (created_at newest first, figures highest first, names A→Z; missing values last; ties
    newest first);
    the first ``limit``. Every folder is a row (hidden ones aside); one without a readable
    run.json keeps only its problem, and a filter on what it cannot tell leaves it out."""
    if sort not in SORT_FIELDS:
        raise RunsListError(f"--sort {sort!r}: expected one of {', '.join(SORT_FIELDS)}")
    if limit is not None and limit < 1:
        raise RunsListError(f"--limit {limit}: must be at least 1")
    folder = root or runs_dir()
    paths = sorted(folder.iterdir()) if folder.is_dir() else []
    rows = [run_row(p) for p in paths if p.is_dir() and not p.name.startswith(".")]
    frame = pl.DataFrame(rows, schema=SCHEMA)
    if model is not None:
        frame = frame.filter(pl.col("model") == model)
    if dataset is not None:
        frame = frame.filter(pl.col("dataset") == dataset)
    if since is not None:
        created = pl.col("created_at").str.to_datetime(time_zone="UTC").dt.date()
        frame = frame.filter(created >= since)
    keys = [sort] if sort == "created_at" else [sort, "created_at"]  # ties: newest first
    descending = [k == "created_at" or k in FIGURES for k in keys]
    frame = frame.sort(keys, descending=descending, nulls_last=True, maintain_order=True)
    return frame if limit is None else frame.head(limit)
