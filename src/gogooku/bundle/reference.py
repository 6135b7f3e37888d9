"""The drift reference of a bundle: ``reference.json``, written into each version at creation.

Contents::

    {"train": [start, end], "days": [sampled training dates], "source": "bundle" | "dataset",
     "features": {name: {"edges": [e1..em], "shares": [s0..sm], "n": values,
                         "distinct_per_day": median distinct values of a day}},
     "scores": {"edges", "shares", "n", "valid": [start, end]} | null}

- ``features``: per raw input feature of the model (``BundleInfo.features``, before
  normalisation), the decile edges and bin shares (``gogooku.bundle.livestats``) of its values
  in the dataset's panel over the run's training range, and ``distinct_per_day``, the median
  number of distinct values a training day has (1 for a market-level feature, about the number
  of sectors for a sector-level one: ``gogooku.bundle.drift`` sizes its window with it). At
  most ``REFERENCE_DAYS`` = 250 evenly spaced training dates are read (every date when fewer) —
  enough that a market-level feature (one value a day) has 250 reference values, PSI noise
  ≈ 9/250 — in chunks of ``CHUNK`` = 16 columns: about 130 MB at a time for 4000 stocks.
- ``scores``: the same of the run's main-horizon scores on its validation days
  (``predictions.parquet``, ``split == "valid"``); null when the run has none.

Bundles created before this file existed have no ``reference.json``: ``load_reference``
then computes it from the bundle's dataset and, for the scores, from the run folder
``runs/RUN_ID`` when it still exists (``source: "dataset"``; not cached, the bundle is
immutable). When the dataset's panel is gone too, there is no reference and drift is reported
as "no reference" (null PSI).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from gogooku.bundle.livestats import bin_shares, decile_edges
from gogooku.bundle.store import BundleInfo
from gogooku.dataset.build import dataset_dir
from gogooku.runs import PREDICTIONS_FILE, runs_dir
from gogooku.target import pred_column

REFERENCE_FILE = "reference.json"
REFERENCE_DAYS = 250
CHUNK = 16


def distribution(values: np.ndarray, distinct_per_day: float | None = None) -> dict:
    """``{"edges", "shares", "n"}`` of a sample, and ``distinct_per_day`` when given (module
    doc)."""
    edges = decile_edges(values)
    finite = int(np.isfinite(np.asarray(values, dtype=np.float64)).sum())
    out = {"edges": edges, "shares": bin_shares(values, edges), "n": finite}
    if distinct_per_day is not None:
        out["distinct_per_day"] = distinct_per_day
    return out


def _sampled_days(panel: Path, start, end) -> list:
    days = (
        pl.scan_parquet(panel)
        .filter(pl.col("Date").is_between(start, end))
        .select(pl.col("Date").unique().sort())
        .collect()["Date"]
        .to_list()
    )
    if len(days) <= REFERENCE_DAYS:
        return days
    picks = np.linspace(0, len(days) - 1, REFERENCE_DAYS).round().astype(int)
    return [days[i] for i in sorted(set(picks))]


def feature_reference(panel: Path, features: list[str], start, end) -> tuple[list, dict]:
    """(sampled days, {feature: distribution}) of ``features`` in ``panel`` over start..end."""
    days = _sampled_days(panel, start, end)
    out: dict[str, dict] = {}
    rows = pl.scan_parquet(panel).filter(pl.col("Date").is_in(days))
    for i in range(0, len(features), CHUNK):
        chunk = features[i : i + CHUNK]
        frame = rows.select("Date", *(pl.col(c).cast(pl.Float64) for c in chunk)).collect()
        distinct = frame.group_by("Date").agg(pl.col(chunk).drop_nans().drop_nulls().n_unique())
        for name in chunk:
            per_day = float(distinct[name].median() or 0.0)
            out[name] = distribution(frame[name].fill_null(np.nan).to_numpy(), per_day)
    return days, out


def score_reference(run_dir: Path, main_horizon: int) -> dict | None:
    """Distribution of the run's validation scores of ``main_horizon`` (None: the run stored
    none)."""
    path = run_dir / PREDICTIONS_FILE
    column = pred_column(main_horizon)
    if not path.is_file():
        return None
    scan = pl.scan_parquet(path)
    if not {"split", column} <= set(scan.collect_schema().names()):
        return None  # e.g. a stitched walk-forward run: test days only
    frame = (
        scan.filter(pl.col("split") == "valid")
        .select("Date", pl.col(column).cast(pl.Float64))
        .collect()
    )
    if frame.height == 0:
        return None
    body = distribution(frame[column].fill_null(np.nan).to_numpy())
    body["valid"] = [str(frame["Date"].min()), str(frame["Date"].max())]
    return body


def build_reference(info: BundleInfo | dict, run_dir: Path | None, source: str) -> dict:
    """The reference of a bundle (``info``: its ``BundleInfo`` or the fields of one) from its
    dataset's panel and, when ``run_dir`` is given, the run's validation scores."""
    get = info.get if isinstance(info, dict) else lambda k: getattr(info, k)
    ranges = get("ranges")
    train = ranges["train"] if isinstance(ranges, dict) else ranges.train
    panel = dataset_dir(get("dataset")) / "panel.parquet"
    days, features = feature_reference(panel, list(get("features")), *train)
    scores = score_reference(run_dir, get("main_horizon")) if run_dir is not None else None
    return {
        "train": [str(train[0]), str(train[1])],
        "days": [str(d) for d in days],
        "source": source,
        "features": features,
        "scores": scores,
    }


def reference_source(path: Path, info: BundleInfo) -> str:
    """Where ``load_reference`` gets the bundle's reference: "bundle", "dataset" (computed) or
    "none" (drift is not measured: null PSI)."""
    if (path / REFERENCE_FILE).is_file():
        return "bundle"
    return "dataset" if (dataset_dir(info.dataset) / "panel.parquet").is_file() else "none"


def load_reference(path: Path, info: BundleInfo) -> dict | None:
    """The bundle's ``reference.json``, else one computed from its dataset (and run folder when
    it still exists), else None (module doc)."""
    source = reference_source(path, info)
    if source == "bundle":
        return json.loads((path / REFERENCE_FILE).read_text())
    if source == "none":
        return None
    run_dir = runs_dir() / info.run_id
    return build_reference(info, run_dir if run_dir.is_dir() else None, "dataset")
