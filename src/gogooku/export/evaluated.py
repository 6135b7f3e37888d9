"""What both exports read from a run folder, checked once: run.json, predictions.parquet and the
evaluator's metrics.json and daily.parquet; and how they write their files.

Files go to ``runs/RUN/export/`` (or ``--out``), each written atomically, Parquet and CSV side by
side, with a JSON manifest per export naming every file and the timing convention. Dates are
``date`` columns: midnight timestamps in Parquet (pandas reads them as ``datetime64``, the index
type Alphalens and pyfolio need), ISO dates in CSV.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from gogooku.errors import GogookuError
from gogooku.evaluate.evaluator import DAILY_FILE, METRICS_FILE
from gogooku.io import atomic_write_parquet, atomic_write_text
from gogooku.runs import PREDICTIONS_FILE, SPLITS, RunInfo, load_run, resolve_run_dir

EXPORT_DIR = "export"


class ExportError(GogookuError, ValueError):
    """A run cannot be exported as asked (names the run, file, split, horizon or strategy)."""


@dataclass(frozen=True)
class EvaluatedRun:
    """A run folder with predictions and an evaluation: ``metrics`` is metrics.json, ``daily``
    daily.parquet."""

    run_dir: Path
    info: RunInfo
    metrics: dict
    daily: pl.DataFrame

    def horizon(self, horizon: int | None) -> int:
        """``horizon``, checked against the run's, or metrics.json's ``main_horizon``."""
        h = (
            int(self.metrics.get("main_horizon", self.info.horizons[0]))
            if horizon is None
            else horizon
        )
        if h not in self.info.horizons:
            raise ExportError(
                f"run {self.info.run_id}: no horizon {h}; the run predicts {self.info.horizons}"
            )
        return h

    def split(self, split: str) -> dict:
        """metrics.json's entry of ``split`` (an error names the splits the run has)."""
        if split not in SPLITS:
            raise ExportError(f"unknown split {split!r}; one of {', '.join(SPLITS)}")
        entry = self.metrics.get("splits", {}).get(split)
        if entry is None:
            have = ", ".join(self.metrics.get("splits", {})) or "none"
            raise ExportError(
                f"run {self.info.run_id}: no evaluated {split} split (evaluated: {have})"
            )
        return entry

    def daily_of(self, split: str, horizon: int) -> pl.DataFrame:
        """daily.parquet's rows of ``split`` × ``horizon``, sorted by Date."""
        rows = self.daily.filter((pl.col("split") == split) & (pl.col("horizon") == horizon))
        if rows.height == 0:
            raise ExportError(
                f"{self.run_dir / DAILY_FILE}: no rows for split {split!r}, horizon {horizon}; "
                f"re-evaluate the run (gogooku evaluate --run {self.info.run_id})"
            )
        return rows.sort("Date")


def load_evaluated(run: str | Path) -> EvaluatedRun:
    """The run ``run`` (an id under $GOGOOKU_HOME/runs or a folder), refused without
    predictions.parquet, metrics.json or daily.parquet."""
    try:
        run_dir = resolve_run_dir(run)
        info = load_run(run_dir)
    except GogookuError as exc:
        raise ExportError(str(exc)) from None
    if not (run_dir / PREDICTIONS_FILE).is_file():
        raise ExportError(f"run {info.run_id}: no {run_dir / PREDICTIONS_FILE}; nothing to export")
    missing = [name for name in (METRICS_FILE, DAILY_FILE) if not (run_dir / name).is_file()]
    if missing:
        raise ExportError(
            f"run {info.run_id} is not evaluated (no {', '.join(missing)} in {run_dir}); run "
            f"`gogooku evaluate --run {info.run_id}` first"
        )
    try:
        metrics = json.loads((run_dir / METRICS_FILE).read_text(encoding="utf-8"))
        daily = pl.read_parquet(run_dir / DAILY_FILE)
    except (ValueError, OSError, pl.exceptions.PolarsError) as exc:
        raise ExportError(f"run {info.run_id}: unreadable evaluation in {run_dir}: {exc}") from None
    return EvaluatedRun(run_dir=run_dir, info=info, metrics=metrics, daily=daily)


def output_dir(run: EvaluatedRun, out: Path | None) -> Path:
    return Path(out) if out is not None else run.run_dir / EXPORT_DIR


def write_tables(out: Path, tables: dict[str, pl.DataFrame]) -> list[str]:
    """Each ``name → frame`` as ``name.parquet`` and ``name.csv`` (Datetime ``date`` columns as
    ISO dates in the CSV); the written file names."""
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for name, frame in tables.items():
        atomic_write_parquet(out / f"{name}.parquet", frame)
        csv = frame.with_columns(pl.col(pl.Datetime).dt.date()).write_csv()
        atomic_write_text(out / f"{name}.csv", csv)
        names += [f"{name}.parquet", f"{name}.csv"]
    return names


def write_manifest(out: Path, name: str, manifest: dict) -> Path:
    path = out / name
    atomic_write_text(path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return path


def as_timestamp(column: str) -> pl.Expr:
    """A Date column as the midnight timestamp pandas reads as ``datetime64[ns]``."""
    return pl.col(column).cast(pl.Datetime("ns"))
