"""Build bundles from runs and score with them through the training code.

``create_bundle(run, name)`` collects what ``bundle.json`` needs from the run folder, its
``config.toml`` and the dataset, refuses runs without a fitted model file, and writes the version
(``gogooku.bundle.store.write_bundle``). Model files per kind:

- neural kinds (any kind of ``gogooku.models.registry``: atft, apex, ...): ``model.pt`` = the
  run's ``checkpoints/best.pt`` (EMA weights); rebuilt with ``build_model(cfg.model, F', horizons,
  static_cardinalities)`` where F' = ``len(output_names(features, normalization))`` and the
  cardinalities (largest static id + 1 per column, over the whole cache, as the trainer computes
  them) are stored in ``bundle.json``; creation loads the weights once (strict) to prove they fit.
  APEX: the pruned variant's kept features (``feature_selection.csv``) and, with the market
  gate, the raw ``market_blocks`` columns (``raw_features``) that ``MarketColumns`` appends
  after the normalised inputs; rebuilt with ``build_apex(..., n_market)``;
- ``lgbm``: ``lgbm_{h}d.txt`` per fitted horizon, and with ``seeds = k`` also
  ``lgbm_{h}d.s1.txt`` … ``lgbm_{h}d.s{k-1}.txt`` (one file per booster; the score is their mean);
- ``linear``: ``linear.json`` (per horizon: inputs, coefficients β, intercept b; score = Xβ + b);
- ``factor`` runs (fixed formulas, no fitted state) are refused.

``LoadedBundle`` scores one date:

- ``score_dataset(day)``: neural kinds through ``DayBatchLoader`` on the dataset cache (the
  trainer's evaluation loader: every listed stock, ``normalize="cached"``); tabular kinds on the
  panel rows of that date through ``normalize_frame`` — the functions training used;
- ``score_rows(rows, edges)``: the same from raw feature rows (``Date``, ``Code`` and the
  feature columns, one date for tabular kinds, the ``window`` dates ending at the scored date for
  neural kinds). A date's rows must be its whole listed cross-section (normalisation is per date
  across stocks); then the scores equal the trainer's on the CPU up to float rounding.

Both return ``Code`` and ``pred_{h}d`` (Float64) for the stocks listed on the scored date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import lightgbm as lgb
import numpy as np
import polars as pl
import torch

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
from gogooku.dataset.cache import STATIC_IDS, open_cache
from gogooku.dataset.loader import DayBatch, DayBatchLoader
from gogooku.dataset.normalize import normalize_cross_section, normalize_frame, output_names
from gogooku.models.gbdt import lgbm_file, predict_mean
from gogooku.models.registry import build_model, neural_kinds
from gogooku.runs import load_run, pred_column, resolve_run_dir
from gogooku.train.config import RunConfig, load_run_config

CONFIG_FILE = "config.toml"
NEURAL_FILE = "model.pt"
LINEAR_FILE = "linear.json"


def _fitted_horizons(cfg: RunConfig, horizons: list[int]) -> dict[int, int]:
    """Output horizon → horizon of the LightGBM model that scores it."""
    if cfg.model.horizons == "main":
        return dict.fromkeys(horizons, cfg.model.main_horizon)
    return {h: h for h in horizons}


def _metrics_summary(run_dir: Path) -> dict[str, dict[str, float | None]]:
    path = run_dir / "metrics.json"
    if not path.is_file():
        return {}
    splits = json.loads(path.read_text()).get("splits", {})
    return {
        split: {h: e["signal"]["rank_ic_mean"] for h, e in body.get("horizons", {}).items()}
        for split, body in splits.items()
    }


def _cardinalities(cache) -> list[int]:
    return [int(np.asarray(cache.static[..., s]).max()) + 1 for s in range(cache.static.shape[-1])]


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
    files: dict[str, Path] = {CONFIG_FILE: cfg_path, "run.json": run_dir / "run.json"}
    if (run_dir / "metrics.json").is_file():
        files["metrics.json"] = run_dir / "metrics.json"
    extra: dict[str, object] = {"window": 1, "static_names": [], "static_cardinalities": []}
    if kind in neural_kinds():
        features = selected
        best = run_dir / "checkpoints" / "best.pt"
        model_files = {NEURAL_FILE: best}
        extra = {
            "window": loader.window,
            "static_names": list(cache.static_names),
            "static_cardinalities": _cardinalities(cache),
            "has_graph": cache.edge_graph is not None,
        }
        if kind == "apex":
            features, extra["raw_features"] = _apex_inputs(cfg, cache, run_dir, features)
    elif kind == "lgbm":
        features = [f for f in selected if f not in STATIC_IDS]
        fitted = sorted(set(_fitted_horizons(cfg, info.horizons).values()))
        names = [lgbm_file(h, i) for h in fitted for i in range(cfg.model.seeds)]
        model_files = {name: run_dir / name for name in names}
    elif kind == "linear":
        features = [f for f in selected if f not in STATIC_IDS]
        model_files = {LINEAR_FILE: run_dir / LINEAR_FILE}
    else:
        raise BundleError(
            f"run {info.run_id}: model kind {kind!r} has no fitted model to bundle (bundles hold "
            f"neural kinds {neural_kinds()}, lgbm and linear)"
        )
    absent = [str(p) for p in model_files.values() if not p.is_file()]
    if absent:
        raise BundleError(
            f"run {info.run_id}: model file(s) {absent} missing (runs trained before bundles "
            "existed did not save them: retrain the run)"
        )
    files.update(model_files)
    metadata = ds_dir / "metadata.json"
    schema_hash = (
        json.loads(metadata.read_text()).get("schema_hash") if metadata.is_file() else None
    )
    fields = {
        "run_id": info.run_id,
        "model": kind,
        "dataset": info.dataset,
        "horizons": info.horizons,
        "main_horizon": cfg.loss.main_horizon,
        "ranges": info.ranges,
        "features": features,
        "feature_hash": feature_hash(
            columns,
            hashed_names(features, extra.get("raw_features", [])),
            str(ds_dir / "features.json"),
        ),
        "normalization": cfg.data.normalization.model_dump(mode="json"),
        "model_files": sorted(model_files),
        "dataset_schema_hash": schema_hash,
        "metrics": _metrics_summary(run_dir),
        "run_code_version": info.code_version,
        **extra,
    }
    if kind in neural_kinds():
        _neural_model(
            cfg, BundleInfo.model_construct(**fields), torch.load(best, weights_only=True)
        )
    return write_bundle(name or kind, files, fields)


def hashed_names(features: list[str], raw_features: list[str]) -> list[str]:
    """The columns the feature hash covers: the features, then raw columns not among them."""
    return [*features, *(r for r in raw_features if r not in features)]


def _apex_inputs(
    cfg: RunConfig, cache, run_dir: Path, features: list[str]
) -> tuple[list[str], list[str]]:
    """APEX's (normalised features, raw market columns): the pruned variant reads only the
    features its ``feature_selection.csv`` kept; the market gate appends the raw columns of
    ``market_blocks`` (``gogooku.models.apex.market_columns``, as ``apex_trainer`` does)."""
    from gogooku.models.apex import market_columns
    from gogooku.models.pruning import SELECTION_FILE

    if cfg.model.prune is not None:
        path = run_dir / SELECTION_FILE
        if not path.is_file():
            raise BundleError(f"{path}: missing (the pruned APEX's kept features)")
        kept = set(pl.read_csv(path).filter(pl.col("kept"))["feature"].to_list())
        features = [f for f in features if f in kept]
    raw: list[str] = []
    if cfg.model.market_gate:
        raw = [cache.feature_names[i] for i in market_columns(cache, cfg.model.market_blocks)]
    return features, raw


def _neural_model(cfg: RunConfig, info: BundleInfo, state: dict) -> torch.nn.Module:
    spec = NormalizationConfig.model_validate(info.normalization)
    n_inputs = len(output_names(info.features, spec))
    if info.raw_features:
        from gogooku.models.apex import build_apex

        model = build_apex(
            cfg.model, n_inputs, info.horizons, info.static_cardinalities, len(info.raw_features)
        )
    else:
        model = build_model(cfg.model, n_inputs, info.horizons, info.static_cardinalities)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise BundleError(
            f"run {info.run_id}: the saved weights do not fit the model rebuilt from its config: "
            f"{str(exc).splitlines()[0]}"
        ) from None
    return model.eval()


@dataclass
class LoadedBundle:
    """A verified bundle with its model in memory; see the module doc."""

    path: Path
    info: BundleInfo
    cfg: RunConfig
    model: object

    @property
    def normalization(self) -> NormalizationConfig:
        return NormalizationConfig.model_validate(self.info.normalization)

    @property
    def neural(self) -> bool:
        return self.info.model not in ("lgbm", "linear")

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

    def _tabular(self, rows: pl.DataFrame) -> pl.DataFrame:
        spec = self.normalization
        normed = normalize_frame(rows, self.info.features, spec).sort("Date", "Code")
        x = normed.select(output_names(self.info.features, spec)).to_numpy()
        if self.info.model == "lgbm":
            boosters: dict[int, list[lgb.Booster]] = self.model
            source = _fitted_horizons(self.cfg, self.info.horizons)
            scores = {h: predict_mean(boosters[h], x) for h in set(source.values())}
            values = np.stack([scores[source[h]] for h in self.info.horizons], axis=1)
        else:
            params: dict[str, dict] = self.model
            values = np.stack(
                [
                    x @ np.asarray(params[str(h)]["coef"]) + params[str(h)]["intercept"]
                    for h in self.info.horizons
                ],
                axis=1,
            )
        return self._frame(normed["Code"].to_numpy(), values)

    @torch.no_grad()
    def _neural(self, batch: DayBatch, codes: np.ndarray) -> pl.DataFrame:
        """Scores of the stocks listed on the batch's one day; ``codes`` name its stock axis."""
        out = self.model(batch)
        mask = batch.mask[0].numpy()
        values = out.point[0].float().numpy()[mask]
        return self._frame(codes[mask], values)

    def score_dataset(self, day: date) -> pl.DataFrame:
        """Scores of every stock listed on ``day`` in the bundle's dataset (see module doc)."""
        ds_dir = self.check_dataset()
        if not self.neural:
            rows = (
                pl.scan_parquet(ds_dir / "panel.parquet")
                .filter(pl.col("Date") == day)
                .select("Date", "Code", *self.info.features)
                .collect()
            )
            if rows.height == 0:
                raise BundleError(f"{ds_dir / 'panel.parquet'}: no rows on {day}")
            return self._tabular(rows)
        cache = open_cache(ds_dir)
        lcfg = self.cfg.data.loader.model_copy(
            update={
                "features": self.info.features,
                "feature_blocks": None,
                "targets": None,
                "shuffle": False,
                "require_labels": False,
                "stocks_per_day": None,
            }
        )
        loader = DayBatchLoader(cache, lcfg, self.normalization, [day], "cpu")
        if self.info.raw_features:
            from gogooku.models.apex import MarketColumns

            loader = MarketColumns(loader, cache, cache.feature_index(self.info.raw_features))
        batch = next(iter(loader))
        return self._neural(batch, np.asarray(cache.codes).astype(str)[batch.codes[0].numpy()])

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
        day = dates[-1]
        if not self.neural:
            return day, self._tabular(rows)
        spec = self.normalization
        codes = rows["Code"].unique().sort()
        pos = pl.DataFrame({"Code": codes}).with_row_index("_n")
        day_pos = pl.DataFrame({"Date": dates}).with_row_index("_t")
        keyed = rows.join(day_pos, on="Date").join(pos, on="Code")
        t_i, n_i = keyed["_t"].to_numpy(), keyed["_n"].to_numpy()
        length, n = len(dates), codes.len()
        raw = np.full((length, n, len(self.info.features)), np.nan, dtype=np.float32)
        raw[t_i, n_i] = _float_block(keyed, self.info.features)
        listed = np.zeros((length, n), dtype=bool)
        listed[t_i, n_i] = True
        x = normalize_cross_section(raw, listed, spec)
        if self.info.raw_features:
            market = np.full((length, n, len(self.info.raw_features)), np.nan, dtype=np.float32)
            market[t_i, n_i] = _float_block(keyed, self.info.raw_features)
            x = np.concatenate([x, market], axis=-1)
        static = np.zeros((n, len(self.info.static_names)), dtype=np.int64)
        last = keyed.filter(pl.col("_t") == length - 1)
        if self.info.static_names:
            ids = last.select(pl.col(s).fill_null(0).cast(pl.Int16) for s in self.info.static_names)
            static[last["_n"].to_numpy()] = ids.to_numpy()
        graph = None
        if edges is not None:
            mapped = edges.join(pos, left_on="src", right_on="Code").join(
                pos.rename({"_n": "_d"}), left_on="dst", right_on="Code"
            )
            src, dst = mapped["_n"].to_numpy(), mapped["_d"].to_numpy()
            keep = listed[-1][src] & listed[-1][dst]
            index = torch.from_numpy(np.stack([src[keep], dst[keep]]).astype(np.int64))
            graph = [
                (index, torch.from_numpy(mapped["weight"].to_numpy()[keep].astype(np.float32)))
            ]
        mask = torch.from_numpy(listed[-1:].copy())
        h = len(self.info.horizons)
        batch = DayBatch(
            x=torch.from_numpy(x[None]),
            y=torch.full((1, n, h), float("nan")),
            mask=mask,
            y_mask=torch.zeros((1, n, h), dtype=torch.bool),
            x_mask=torch.from_numpy(listed[None]),
            static=torch.from_numpy(static[None]),
            codes=torch.arange(n).unsqueeze(0),
            dates=[day],
            edges=graph,
        )
        return day, self._neural(batch, codes.to_numpy().astype(str))


def _float_block(frame: pl.DataFrame, names: list[str]) -> np.ndarray:
    """(rows, len(names)) float32 of ``frame``'s columns, NaN where null."""
    cols = (pl.col(n).cast(pl.Float32).fill_null(float("nan")) for n in names)
    return frame.select(cols).to_numpy().astype(np.float32)


def load_bundle(path: Path, verify: bool = True) -> LoadedBundle:
    """Verify (unless ``verify`` is False) and load the bundle folder ``path``."""
    if verify:
        problems = verify_bundle(path)
        if problems:
            raise BundleError(f"bundle {path} fails verification: " + "; ".join(problems))
    info = load_info(path)
    cfg = load_run_config(path / CONFIG_FILE)
    if info.model == "lgbm":
        model: object = {
            h: [lgb.Booster(model_file=str(path / lgbm_file(h, i))) for i in range(cfg.model.seeds)]
            for h in sorted(set(_fitted_horizons(cfg, info.horizons).values()))
        }
    elif info.model == "linear":
        model = json.loads((path / LINEAR_FILE).read_text())
    else:
        state = torch.load(path / NEURAL_FILE, map_location="cpu", weights_only=True)
        model = _neural_model(cfg, info, state)
    return LoadedBundle(path, info, cfg, model)
