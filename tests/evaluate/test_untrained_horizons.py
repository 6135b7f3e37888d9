"""A model evaluates only the horizons it predicts: LightGBM's ``horizons = "main"`` fits one
model, so its run lists, predicts and is scored on the main horizon alone (no copies of that
score standing in for the other horizons); ``"each"`` fits and reports every horizon."""

from __future__ import annotations

import json

import polars as pl
import pytest

from gogooku.config import load_config
from gogooku.train.config import RunConfig
from gogooku.train.run import train_run

from ..support.configs import SPLITS

LGBM = (
    SPLITS
    + """
[model]
kind = "lgbm"
num_boost_round = 20
early_stopping_rounds = 5
min_data_in_leaf = 20
num_leaves = 7
num_threads = 1
horizons = "{horizons}"

[evaluate]
top_k = 5
bootstrap = 20
"""
)


@pytest.mark.parametrize(("horizons", "expected"), [("main", [5]), ("each", [1, 5, 10, 20])])
def test_lgbm_run_lists_and_evaluates_only_its_fitted_horizons(home, tmp_path, horizons, expected):
    path = tmp_path / "lgbm.toml"
    path.write_text(LGBM.format(horizons=horizons))
    run_dir = train_run("lgbm", "tiny", load_config(path, RunConfig), run_id=horizons)
    assert json.loads((run_dir / "run.json").read_text())["horizons"] == expected
    preds = pl.read_parquet(run_dir / "predictions.parquet")
    assert [c for c in preds.columns if c.startswith("pred_")] == [f"pred_{h}d" for h in expected]
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["main_horizon"] == 5
    for sd in m["splits"].values():
        assert list(sd["horizons"]) == [f"{h}d" for h in expected]
    html = (run_dir / "report.html").read_text()
    for h in (1, 10, 20):
        assert (f"pred_{h}d" in html) == (h in expected)
