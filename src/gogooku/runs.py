"""Run folders: ``$GOGOOKU_HOME/runs/RUN/`` with ``run.json`` and ``predictions.parquet``.

A run is what a model (or a reference factor) produced for one dataset: its metadata
(:class:`RunInfo`, written to ``run.json``) and its predictions (``Date``, ``Code``, ``pred_{h}d``
for every horizon of the run, ``split`` in train/valid/test). The evaluator reads only this folder,
the dataset and the raw store, and writes ``metrics.json``, ``daily.parquet`` and
``report.html`` next to them.

Every prediction row must carry the split whose date range contains its ``Date``: a row labelled
``test`` dated inside the training range is refused on write, so a mislabelled leak cannot reach
the evaluator. A walk-forward run (``RunInfo.folds``, ``gogooku walkforward``) holds test rows
only, each with the ``fold`` whose test range contains its date (and ``n_seeds``).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gogooku.errors import GogookuError
from gogooku.io import atomic_write_parquet, atomic_write_text, code_version
from gogooku.settings import get_settings
from gogooku.target import pred_column

RUN_FILE = "run.json"
CONFIG_FILE = "config.toml"  # the run's resolved run config
PREDICTIONS_FILE = "predictions.parquet"
SPLITS: tuple[str, ...] = ("train", "valid", "test")
Split = Literal["train", "valid", "test"]


class RunError(GogookuError, ValueError):
    """A run folder, its run.json or its predictions do not follow the run contract."""


class Ranges(BaseModel):
    """Inclusive ``[start, end]`` date ranges of the train, valid and test splits."""

    model_config = ConfigDict(extra="forbid")

    train: tuple[dt.date, dt.date]
    valid: tuple[dt.date, dt.date]
    test: tuple[dt.date, dt.date]

    @model_validator(mode="after")
    def _ordered(self) -> Ranges:
        for split in SPLITS:
            start, end = getattr(self, split)
            if start > end:
                raise ValueError(f"range {split!r}: start {start} is after end {end}")
        return self

    def of(self, split: str) -> tuple[dt.date, dt.date]:
        return getattr(self, split)


class FoldRanges(BaseModel):
    """One fold of a walk-forward run (``gogooku walkforward``): its index, the ranges of the fit
    that predicted it (train and valid of its refit group's first fold; test = this fold's own
    test window) and that group's first fold."""

    model_config = ConfigDict(extra="forbid")

    fold: int = Field(ge=0)
    ranges: Ranges
    group: int = Field(ge=0)


class RunInfo(BaseModel):
    """Contents of ``run.json``.

    ``horizons`` are the label horizons in trading days for which the run has ``pred_{h}d``
    columns; ``params`` holds model or factor parameters (free-form, JSON-serialisable).
    ``folds`` is set on a stitched walk-forward run only: its predictions are test rows carrying
    the ``fold`` whose test window holds their date (and ``n_seeds``, the seeds averaged).
    """

    model_config = ConfigDict(extra="forbid")

    run_id: str
    model: str
    dataset: str
    horizons: list[int] = Field(min_length=1)
    created_at: dt.datetime
    code_version: str
    ranges: Ranges
    params: dict[str, object] = Field(default_factory=dict)
    folds: list[FoldRanges] | None = None

    @field_validator("horizons")
    @classmethod
    def _positive_unique(cls, value: list[int]) -> list[int]:
        if any(h < 1 for h in value) or len(set(value)) != len(value):
            raise ValueError(f"horizons must be distinct positive integers, got {value}")
        return sorted(value)

    @field_validator("folds")
    @classmethod
    def _distinct_folds(cls, value: list[FoldRanges] | None) -> list[FoldRanges] | None:
        if value is not None:
            indices = [f.fold for f in value]
            if not value or len(set(indices)) != len(indices):
                raise ValueError(f"folds must be a non-empty list of distinct folds, got {indices}")
        return value


def runs_dir() -> Path:
    return get_settings().runs_dir


def resolve_run_dir(run: str | Path) -> Path:
    """A run id (folder under ``$GOGOOKU_HOME/runs``) or a path to a run folder."""
    path = Path(run)
    if (path / RUN_FILE).is_file():
        return path
    candidate = runs_dir() / str(run)
    if (candidate / RUN_FILE).is_file():
        return candidate
    raise RunError(f"no run {run!r}: neither {path / RUN_FILE} nor {candidate / RUN_FILE} exists")


def create_run(
    model: str,
    dataset: str,
    horizons: list[int],
    ranges: Ranges | dict[str, tuple[dt.date, dt.date]],
    params: dict[str, object] | None = None,
    run_id: str | None = None,
    root: Path | None = None,
    folds: list[FoldRanges] | None = None,
) -> tuple[Path, RunInfo]:
    """Create ``runs/RUN/`` with its ``run.json`` and return (folder, info).

    The default run id is ``<model>-<UTC timestamp>-<6 hex>``; an existing folder is refused.
    ``folds`` makes a walk-forward run (:class:`FoldRanges`).
    """
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rid = run_id or f"{model}-{created:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    info = RunInfo(
        run_id=rid,
        model=model,
        dataset=dataset,
        horizons=horizons,
        created_at=created,
        code_version=code_version(),
        ranges=ranges if isinstance(ranges, Ranges) else Ranges(**ranges),
        params=params or {},
        folds=folds,
    )
    run_dir = (root or runs_dir()) / rid
    if run_dir.exists():
        raise RunError(f"run folder {run_dir} already exists")
    run_dir.mkdir(parents=True)
    write_run_info(run_dir, info)
    return run_dir, info


def write_run_info(run_dir: Path, info: RunInfo) -> None:
    exclude = {"folds"} if info.folds is None else None  # a plain run's run.json stays as it was
    atomic_write_text(run_dir / RUN_FILE, info.model_dump_json(indent=2, exclude=exclude) + "\n")


def load_run(run_dir: Path) -> RunInfo:
    """Read and validate ``run_dir/run.json``."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise RunError(f"{path}: no run.json")
    try:
        return RunInfo.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise RunError(f"{path}: invalid run.json: {exc}") from None


def split_expr(ranges: Ranges) -> pl.Expr:
    """The split whose range contains ``Date`` (null when none does; train wins ties)."""
    expr = pl.lit(None, dtype=pl.String)
    for split in reversed(SPLITS):
        start, end = ranges.of(split)
        expr = pl.when(pl.col("Date").is_between(start, end)).then(pl.lit(split)).otherwise(expr)
    return expr


def check_predictions(frame: pl.DataFrame, info: RunInfo, source: str = "predictions") -> None:
    """Raise :class:`RunError` unless ``frame`` follows the predictions contract of ``info``."""
    required = {"Date": pl.Date, "Code": pl.String, "split": pl.String}
    for col, dtype in required.items():
        if col not in frame.columns:
            raise RunError(f"{source}: missing column {col!r}")
        if frame.schema[col] != dtype:
            raise RunError(f"{source}: column {col!r} is {frame.schema[col]}, expected {dtype}")
    for h in info.horizons:
        col = pred_column(h)
        if col not in frame.columns:
            raise RunError(f"{source}: missing column {col!r} for horizon {h}")
        if not frame.schema[col].is_float():
            raise RunError(f"{source}: column {col!r} is {frame.schema[col]}, expected a float")
    bad_split = frame.filter(~pl.col("split").is_in(SPLITS) | pl.col("split").is_null())
    if bad_split.height:
        raise RunError(
            f"{source}: column 'split' has values outside {SPLITS}: "
            f"{bad_split['split'].unique().to_list()[:5]}"
        )
    dup = frame.select("Date", "Code").is_duplicated()
    if dup.any():
        first = frame.filter(dup).row(0, named=True)
        raise RunError(
            f"{source}: duplicate (Date, Code) rows, e.g. {first['Date']} {first['Code']}"
        )
    for split in SPLITS:
        start, end = info.ranges.of(split)
        outside = frame.filter((pl.col("split") == split) & ~pl.col("Date").is_between(start, end))
        if outside.height:
            dates = outside["Date"].unique().sort()
            raise RunError(
                f"{source}: {outside.height} rows labelled {split!r} lie outside its range "
                f"{start}..{end} (dates {dates[0]}..{dates[-1]})"
            )
    if info.folds is not None:
        _check_fold_rows(frame, info.folds, source)


FOLD_COLUMNS: dict[str, pl.DataType] = {"fold": pl.Int32(), "n_seeds": pl.Int32()}


def _check_fold_rows(frame: pl.DataFrame, folds: list[FoldRanges], source: str) -> None:
    """A walk-forward run's rows: test only, each with a known ``fold`` whose test range holds
    its date."""
    if "fold" not in frame.columns:
        raise RunError(
            f"{source}: missing column 'fold' (a walk-forward run's rows name their fold)"
        )
    if not frame.schema["fold"].is_integer():
        raise RunError(f"{source}: column 'fold' is {frame.schema['fold']}, expected an integer")
    not_test = frame.filter(pl.col("split") != "test")
    if not_test.height:
        raise RunError(
            f"{source}: a walk-forward run holds test rows only; {not_test.height} rows are "
            f"labelled {sorted(not_test['split'].unique().to_list())}"
        )
    known = {f.fold: f.ranges.test for f in folds}
    unknown = frame.filter(~pl.col("fold").is_in(list(known)) | pl.col("fold").is_null())
    if unknown.height:
        raise RunError(
            f"{source}: rows of folds {unknown['fold'].unique().to_list()[:5]} not in run.json's "
            f"folds {sorted(known)}"
        )
    for k, (start, end) in known.items():
        outside = frame.filter((pl.col("fold") == k) & ~pl.col("Date").is_between(start, end))
        if outside.height:
            dates = outside["Date"].unique().sort()
            raise RunError(
                f"{source}: {outside.height} rows of fold {k} lie outside its test range "
                f"{start}..{end} (dates {dates[0]}..{dates[-1]})"
            )


def write_predictions(run_dir: Path, frame: pl.DataFrame) -> Path:
    """Validate ``frame`` against the run's ``run.json`` and write ``predictions.parquet`` atomically
    (``Date, Code, pred_{h}d…, split``; a walk-forward run's also ``fold`` and ``n_seeds``)."""
    info = load_run(run_dir)
    check_predictions(frame, info, source=f"{Path(run_dir) / PREDICTIONS_FILE}")
    cols = ["Date", "Code", *(pred_column(h) for h in info.horizons), "split"]
    if info.folds is not None:  # a walk-forward run keeps its fold (and n_seeds) columns
        cols += [c for c in FOLD_COLUMNS if c in frame.columns]
    out = frame.select(cols).sort("Date", "Code")
    path = Path(run_dir) / PREDICTIONS_FILE
    return atomic_write_parquet(path, out)


def read_predictions(run_dir: Path) -> pl.DataFrame:
    """Read and validate ``predictions.parquet`` of a run."""
    info = load_run(run_dir)
    path = Path(run_dir) / PREDICTIONS_FILE
    if not path.is_file():
        raise RunError(f"{path}: no predictions.parquet")
    frame = pl.read_parquet(path)
    check_predictions(frame, info, source=str(path))
    return frame
