"""Kinds fitted on one day's feature rows (``inputs = "rows"``): the shared fit and bundle flow.

``fit_predict_tabular(model_cfg, panel, features, ranges, target, run_dir, normalization)``
returns ``Date, Code, pred_{h}d, split`` (h: the kind's ``predicted_horizons``) for every panel row whose date lies in the train, valid
or test range (the frame ``gogooku.runs.write_predictions`` expects): it refuses ranges whose
label windows reach into the next split (``gogooku.dataset.tabular.assert_purged``), then hands
the panel to the kind's :meth:`TabularKind.fit_predict_panel` — by default
``gogooku.dataset.tabular.prepare`` (per-date normalised features, ``[target]``'s labels) and
the kind's :meth:`TabularKind.fit_predict` on those rows. With ``[data.embeddings.ts2vec]`` the
fold's TS2Vec embeddings (``gogooku.train.pretrain``: encoder trained on the training days only)
are joined to the panel first and fitted on as features ``emb_ts2vec_*``; such a run cannot be
bundled.

Which categorical ids a kind fits on is its :meth:`TabularKind.id_handling` (``"drop"`` unless the
kind overrides it: LightGBM's ``[model] categorical_ids``), passed to ``prepare`` explicitly.
A bundle of a rows kind holds the features as training read them — without the ids for
``"drop"``, with them among the normalised features for ``"numeric"``, and with them as
``raw_features`` (appended as integer codes after the normalised columns, ``id_codes``) for
``"categorical"`` — and the files :meth:`TabularKind.model_files` names; its predictor scores an
(n, F') matrix of one day's rows built as in training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from gogooku.bundle.store import BundleError
from gogooku.config import NormalizationConfig
from gogooku.dataset.cache import STATIC_IDS
from gogooku.dataset.tabular import (
    IdHandling,
    TabularData,
    TabularError,
    assert_purged,
    prepare,
)
from gogooku.models.registry import (
    BundleJob,
    BundleParts,
    FitJob,
    ModelKind,
    get_kind,
)
from gogooku.runs import Ranges, write_predictions
from gogooku.target import TargetConfig, pred_column

PANEL_FILE = "panel.parquet"


class TabularKind(ModelKind):
    """A kind fitted on one day's feature rows. Subclasses implement :meth:`fit_predict` (on
    the prepared rows) or :meth:`fit_predict_panel` (on the raw panel), and, to be bundled,
    :meth:`model_files` and :meth:`load`."""

    inputs = "rows"

    def fit(self, job: FitJob) -> dict[str, object]:
        panel = pl.scan_parquet(job.dataset_dir / PANEL_FILE)
        features, summary = list(job.features), {"epochs_run": 0, "stopped": "fit"}
        ts2vec = job.cfg.data.embeddings.ts2vec
        if ts2vec is not None:
            from gogooku.dataset.cache import open_cache
            from gogooku.train.pretrain import embedding_frame, fold_embeddings

            cache = open_cache(job.dataset_dir)
            emb, span, summary["ts2vec"] = fold_embeddings(
                cache, features, job.ranges, job.cfg.data.normalization, ts2vec, job.run_dir
            )
            frame = embedding_frame(cache, emb, span)
            panel = panel.join(frame.lazy(), on=["Date", "Code"], how="left")
            features += frame.columns[2:]
        preds = fit_predict_tabular(
            job.cfg.model,
            panel,
            features,
            job.ranges,
            job.cfg.target,
            job.run_dir,
            job.cfg.data.normalization,
        )
        write_predictions(job.run_dir, preds)
        return summary

    def fit_predict_panel(
        self,
        model_cfg: Any,
        panel: pl.LazyFrame,
        features: list[str],
        ranges: Ranges,
        target: TargetConfig,
        run_dir: Path,
        normalization: NormalizationConfig,
    ) -> pl.DataFrame:
        """``Date, Code, split, pred_{h}d`` of the split rows of ``panel`` (module doc)."""
        data = prepare(
            panel, features, ranges, target, normalization, ids=self.id_handling(model_cfg)
        )
        return self.fit_predict(model_cfg, data, run_dir)

    def id_handling(self, model_cfg: Any) -> IdHandling:
        """How ``prepare`` treats the categorical ids for ``model_cfg``: ``"drop"`` here (a
        code's number is an arbitrary label, meaningless to a model that weighs its magnitude,
        such as the ridge); LightGBM reads its ``[model] categorical_ids``."""
        return "drop"

    def fit_predict(self, model_cfg: Any, data: TabularData, run_dir: Path) -> pl.DataFrame:
        """Fit on ``data``'s train rows; ``Date, Code, split, pred_{h}d`` for all its rows."""
        raise NotImplementedError(f"kind {self.name!r} implements neither fit_predict method")

    def model_files(self, job: BundleJob) -> list[str]:
        """Names of the fitted files in the run folder a bundle copies (a kind without any,
        such as the reference factors, cannot be bundled)."""
        raise BundleError(
            f"run {job.info.run_id}: model kind {self.name!r} has no fitted model to bundle"
        )

    def bundle_parts(self, job: BundleJob) -> BundleParts:
        if job.cfg.data.embeddings.ts2vec is not None:
            raise BundleError(
                f"run {job.info.run_id}: [data.embeddings.ts2vec] is on, and a bundle cannot "
                "compute the TS2Vec embeddings when it scores"
            )
        names = self.model_files(job)
        ids = self.id_handling(job.cfg.model)
        extra: dict[str, Any] = {"window": 1, "static_names": [], "static_cardinalities": []}
        if ids == "categorical":
            extra["raw_features"] = [f for f in job.features if f in STATIC_IDS]
        return BundleParts(
            features=[f for f in job.features if ids == "numeric" or f not in STATIC_IDS],
            model_files={name: job.run_dir / name for name in names},
            extra=extra,
        )


def fit_predict_tabular(
    model_cfg: Any,
    panel: pl.LazyFrame | pl.DataFrame,
    features: list[str],
    ranges: Ranges,
    target: TargetConfig,
    run_dir: Path,
    normalization: NormalizationConfig | None = None,
) -> pl.DataFrame:
    """Fit ``model_cfg`` (a rows kind's ``[model]``) on the train rows of ``panel`` and predict
    train, valid and test rows (module doc); side files go to ``run_dir``."""
    kind = get_kind(model_cfg.kind)
    if not isinstance(kind, TabularKind):
        raise TabularError(f"not a tabular model config: kind {model_cfg.kind!r}")
    lazy = panel.lazy()
    if "Date" not in lazy.collect_schema().names():
        raise TabularError("panel: column 'Date' not found")
    trading_days = lazy.select(pl.col("Date").unique().sort()).collect()["Date"].to_list()
    assert_purged(trading_days, ranges, target.horizons)
    scores = kind.fit_predict_panel(
        model_cfg,
        lazy,
        features,
        ranges,
        target,
        Path(run_dir),
        normalization or NormalizationConfig(),
    )
    cols = [pred_column(h) for h in kind.predicted_horizons(model_cfg, target)]
    return scores.select("Date", "Code", *(pl.col(c).cast(pl.Float64) for c in cols), "split")
