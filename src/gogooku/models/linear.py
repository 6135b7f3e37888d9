"""Ridge baseline (kind "linear"): one scikit-learn ``Ridge`` per horizon.

Inputs are the per-date normalised features of :class:`gogooku.dataset.tabular.TabularData`
(missing → 0), without the categorical sector and market ids: the kind keeps ``prepare``'s
``ids = "drop"`` (a code's number is an arbitrary label, and one coefficient per column would
weigh it as a magnitude; LightGBM alone has the ``categorical_ids`` choice). The target of horizon h is normalised per date like the features, rank-gauss
z = Φ⁻¹((r − 0.5)/n) over the n known targets of the date (clipped to ±``clip`` of the run's
normalisation), so no single day's scale or outlier dominates. The fit minimises
‖y − Xβ − b‖² + α‖β‖² on the train rows with a known target; the prediction of every row is
Xβ + b. ``linear.json`` in the run folder keeps, per horizon, the input names, β and b (what
``gogooku bundle`` needs to score new rows).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field
from sklearn.linear_model import Ridge

from gogooku.config import NormalizationConfig, StrictModel
from gogooku.dataset.normalize import normalize_frame
from gogooku.dataset.tabular import TabularData, TabularError, target_column
from gogooku.io import atomic_write_text
from gogooku.target import pred_column

PARAMS_FILE = "linear.json"


class LinearConfig(StrictModel):
    """``[model]`` of a ridge run."""

    kind: Literal["linear"] = "linear"
    alpha: float = Field(10.0, ge=0, description="L2 penalty α")


def fit_predict_linear(cfg: LinearConfig, data: TabularData, run_dir: Path) -> pl.DataFrame:
    """Fit one ridge per horizon; ``Date, Code, split, pred_{h}d`` for every row of ``data``;
    writes ``run_dir/linear.json``."""
    spec = NormalizationConfig(method="rank_gauss", clip=data.normalization.clip)
    x_all = data.frame.select(data.inputs).to_numpy()
    preds: list[pl.Series] = []
    params: dict[str, dict] = {}
    for h in data.horizons:
        target = target_column(h)
        rows = data.rows("train", h)
        if rows.height == 0:
            raise TabularError(f"linear: no training row has a known {target}")
        y = normalize_frame(rows, [target], spec).sort("Date", "Code")[target].to_numpy()
        x = rows.sort("Date", "Code").select(data.inputs).to_numpy()
        model = Ridge(alpha=cfg.alpha).fit(x, y.astype(np.float64))
        preds.append(pl.Series(pred_column(h), model.predict(x_all), dtype=pl.Float64))
        params[str(h)] = {
            "inputs": data.inputs,
            "coef": model.coef_.tolist(),
            "intercept": float(model.intercept_),
        }
    atomic_write_text(Path(run_dir) / PARAMS_FILE, json.dumps(params) + "\n")
    return data.frame.select("Date", "Code", "split").with_columns(preds)
