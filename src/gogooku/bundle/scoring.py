"""Build bundles from runs and score with them through the training code.

``create_bundle(run, name)`` collects what ``bundle.json`` needs from the run folder, its
``config.toml`` and the dataset, and asks the run's model kind (``gogooku.models.registry``) for
the rest (``ModelKind.bundle_parts``: the input features, the fitted model files, extra fields
such as the networks' window and static id cardinalities); it refuses runs whose model files are
missing and kinds with nothing fitted (the reference factors), and writes the version
(``gogooku.bundle.store.write_bundle``) with the drift reference ``reference.json``
(``gogooku.bundle.reference``: training-period feature deciles, validation-score deciles).
``main_horizon`` is the run's ``[target] main_horizon``:
what serving ranks by.

``LoadedBundle`` holds the kind's predictor (``ModelKind.load``) and scores one date:

- ``score_dataset(day)``: ``"rows"`` kinds on the panel rows of that date through
  ``normalize_frame`` — the function training used — with the bundle's ``raw_features`` (a
  LightGBM bundle's categorical ids) appended as integer codes; ``"window"`` kinds on the dataset cache
  (``gogooku.bundle.window.dataset_batch``);
- ``score_rows(rows, edges)``: the same from raw feature rows (``Date``, ``Code`` and the
  feature columns, one date for rows kinds, the ``window`` dates ending at the scored date for
  window kinds). A date's rows must be its whole listed cross-section (normalisation is per date
  across stocks); then the scores equal the trainer's on the CPU up to float rounding.

Both return ``Code`` and ``pred_{h}d`` (Float64) for the stocks listed on the scored date.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from gogooku.bundle.reference import REFERENCE_FILE, build_reference
from gogooku.bundle.store import (
    BundleError,
    BundleInfo,
    feature_hash,
    load_info,
    verify_bundle,
    write_bundle,
)
from gogooku.config import NormalizationConfig
from gogooku.dataset.build import dataset_dir
from gogooku.dataset.cache import open_cache
from gogooku.dataset.normalize import normalize_frame, output_names
from gogooku.dataset.tabular import id_codes
from gogooku.io import atomic_write_json
from gogooku.models.registry import BundleJob, ModelKind, get_kind
from gogooku.runs import CONFIG_FILE, RUN_FILE, load_run, resolve_run_dir
from gogooku.target import pred_column
from gogooku.tracking.config import TRACKING_FILE
from gogooku.train.config import RunConfig, load_run_config


def _metrics_summary(run_dir: Path) -> dict[str, dict[str, float | None]]:
    path = run_dir / "metrics.json"
    if not path.is_file():
        return {}
    splits = json.loads(path.read_text()).get("splits", {})
    return {
        split: {h: e["signal"]["rank_ic_mean"] for h, e in body.get("horizons", {}).items()}
        for split, body in splits.items()
    }


def create_bundle(run: str | Path, name: str | None = None) -> tuple[Path, BundleInfo]:
    """Bundle run ``run`` (id or folder) as the next version of ``name`` (default: the model
    kind); see the module doc."""
    run_dir = resolve_run_dir(run)
    info = load_run(run_dir)
    cfg_path = run_dir / CONFIG_FILE
    if not cfg_path.is_file():
        raise BundleError(f"{cfg_path}: missing (bundles need the run's resolved config)")
    cfg = load_run_config(cfg_path)
    kind = cfg.model.kind
    ds_dir = dataset_dir(info.dataset)
    columns = json.loads((ds_dir / "features.json").read_text())["columns"]
    cache = open_cache(ds_dir)
    loader = cfg.data.loader
    selected = [
        cache.feature_names[i] for i in cache.feature_index(loader.features, loader.feature_blocks)
    ]
    parts = get_kind(kind).bundle_parts(BundleJob(run_dir, cfg, info, ds_dir, selected))
    absent = [str(p) for p in parts.model_files.values() if not p.is_file()]
    if absent:
        raise BundleError(
            f"run {info.run_id}: model file(s) {absent} missing (runs trained before bundles "
            "existed did not save them: retrain the run)"
        )
    files: dict[str, Path] = {CONFIG_FILE: cfg_path, RUN_FILE: run_dir / RUN_FILE}
    for optional in ("metrics.json", TRACKING_FILE):
        if (run_dir / optional).is_file():
            files[optional] = run_dir / optional
    files.update(parts.model_files)
    metadata = ds_dir / "metadata.json"
    schema_hash = (
        json.loads(metadata.read_text()).get("schema_hash") if metadata.is_file() else None
    )
    raw_features = list(parts.extra.get("raw_features", []))
    fields = {
        "run_id": info.run_id,
        "model": kind,
        "dataset": info.dataset,
        "horizons": info.horizons,
        "main_horizon": cfg.target.main_horizon,
        "ranges": info.ranges,
        "features": parts.features,
        "feature_hash": feature_hash(
            columns, hashed_names(parts.features, raw_features), str(ds_dir / "features.json")
        ),
        "normalization": cfg.data.normalization.model_dump(mode="json"),
        "model_files": sorted(parts.model_files),
        "dataset_schema_hash": schema_hash,
        "metrics": _metrics_summary(run_dir),
        "run_code_version": info.code_version,
        "window": 1,
        **parts.extra,
    }
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / REFERENCE_FILE
        atomic_write_json(reference, build_reference(fields, run_dir, "bundle"))
        files[REFERENCE_FILE] = reference
        return write_bundle(name or kind, files, fields)


def hashed_names(features: list[str], raw_features: list[str]) -> list[str]:
    """The columns the feature hash covers: the features, then raw columns not among them."""
    return [*features, *(r for r in raw_features if r not in features)]


@dataclass
class LoadedBundle:
    """A verified bundle with its model kind and predictor in memory; see the module doc."""

    path: Path
    info: BundleInfo
    cfg: RunConfig
    kind: ModelKind
    predictor: Any

    @property
    def normalization(self) -> NormalizationConfig:
        return NormalizationConfig.model_validate(self.info.normalization)

    @property
    def input_names(self) -> list[str]:
        """Columns a scoring row must carry: the features, then raw columns and static ids not
        among them."""
        names = list(self.info.features)
        for extra in (*self.info.raw_features, *self.info.static_names):
            if extra not in names:
                names.append(extra)
        return names

    def check_dataset(self) -> Path:
        """The dataset folder, after checking its feature hash equals the bundle's."""
        ds_dir = dataset_dir(self.info.dataset)
        path = ds_dir / "features.json"
        if not path.is_file():
            raise BundleError(f"{path}: missing (dataset {self.info.dataset!r} not built)")
        columns = json.loads(path.read_text())["columns"]
        names = hashed_names(self.info.features, self.info.raw_features)
        now = feature_hash(columns, names, str(path))
        if now != self.info.feature_hash:
            raise BundleError(
                f"dataset {self.info.dataset!r} feature hash {now} differs from bundle "
                f"{self.info.name}@{self.info.version}'s {self.info.feature_hash}: the features "
                "changed since training; retrain and bundle again"
            )
        return ds_dir

    # -- scoring ---------------------------------------------------------------------------------
    def _frame(self, codes: np.ndarray, values: np.ndarray) -> pl.DataFrame:
        """``Code`` + ``pred_{h}d`` from (n,) codes and (n, H) float scores."""
        return pl.DataFrame(
            {
                "Code": codes.astype(str),
                **{
                    pred_column(h): values[:, j].astype(np.float64)
                    for j, h in enumerate(self.info.horizons)
                },
            }
        ).sort("Code")

    def _rows(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Rows kinds: the normalised features, then the raw columns (a LightGBM bundle's
        categorical ids) as integer codes, as ``gogooku.dataset.tabular.prepare`` built them."""
        spec = self.normalization
        raw = list(self.info.raw_features)
        normed = normalize_frame(rows, self.info.features, spec)
        if raw:
            codes = rows.select("Date", "Code", *id_codes(raw))
            normed = normed.join(codes, on=["Date", "Code"], how="left")
        normed = normed.sort("Date", "Code")
        x = normed.select(*output_names(self.info.features, spec), *raw).to_numpy()
        return self._frame(normed["Code"].to_numpy(), self.predictor.predict(x))

    def _window(self, batch: Any, codes: np.ndarray) -> pl.DataFrame:
        """Scores of the stocks listed on the batch's one day; ``codes`` name its stock axis."""
        mask = batch.mask[0].numpy()
        return self._frame(codes[mask], self.predictor.predict(batch)[mask])

    def score_dataset(self, day: date) -> pl.DataFrame:
        """Scores of every stock listed on ``day`` in the bundle's dataset (see module doc)."""
        ds_dir = self.check_dataset()
        if self.kind.inputs == "window":
            from gogooku.bundle.window import dataset_batch

            return self._window(*dataset_batch(self.info, self.cfg.data.loader, ds_dir, day))
        rows = (
            pl.scan_parquet(ds_dir / "panel.parquet")
            .filter(pl.col("Date") == day)
            .select("Date", "Code", *self.input_names)
            .collect()
        )
        if rows.height == 0:
            raise BundleError(f"{ds_dir / 'panel.parquet'}: no rows on {day}")
        return self._rows(rows)

    def score_rows(
        self, rows: pl.DataFrame, edges: pl.DataFrame | None = None
    ) -> tuple[date, pl.DataFrame]:
        """(scored date, scores) from raw rows ``Date, Code, <input_names>`` (see module doc);
        ``edges`` (``src, dst, weight`` codes) is the graph in force on the scored date."""
        dates = rows["Date"].unique().sort().to_list()
        if len(dates) != self.info.window:
            raise BundleError(
                f"rows: {len(dates)} distinct dates, the model needs {self.info.window}"
            )
        if self.kind.inputs == "window":
            from gogooku.bundle.window import rows_batch

            return dates[-1], self._window(*rows_batch(self.info, rows, edges))
        return dates[-1], self._rows(rows)


def load_bundle(
    path: Path, verify: bool = True, key: bytes | None = None, require_signature: bool = False
) -> LoadedBundle:
    """Verify (unless ``verify`` is False; with ``key`` its signature too, see ``verify_bundle``)
    and load the bundle folder ``path``."""
    if verify:
        problems = verify_bundle(path, key, require_signature)
        if problems:
            raise BundleError(f"bundle {path} fails verification: " + "; ".join(problems))
    info = load_info(path)
    cfg = load_run_config(path / CONFIG_FILE)
    kind = get_kind(info.model)
    return LoadedBundle(path, info, cfg, kind, kind.load(path, info, cfg))
