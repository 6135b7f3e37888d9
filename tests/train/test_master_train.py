"""MASTER on the tiny dataset with the market block, through the CLI: train, bundle, predict (the
stored scores equal the run's predictions, and so do the scores served from raw rows) and a
one-fold walk-forward."""

from __future__ import annotations

import json

import polars as pl
from typer.testing import CliRunner

from gogooku.bundle.predstore import PredictionStore
from gogooku.bundle.scoring import load_bundle
from gogooku.cli import app
from gogooku.dataset.cache import open_cache
from gogooku.models.market_inputs import market_columns
from gogooku.runs import read_predictions

from ..support.configs import SPLITS

CONFIG = (
    SPLITS
    + """
[data.loader]
window = 5
days_per_batch = 4
seed = 3

[model]
kind = "master"
window = 5
hidden_size = 8
intra_heads = 2
inter_heads = 2
market_blocks = ["market"]

[train]
epochs = 1
lr = 0.003
seed = 5
progress = false

[target]
horizons = [1, 5, 20]
"""
)


def _run(args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def test_master_trains_bundles_predicts_and_walks_forward(apex_home, tmp_path):
    config = tmp_path / "master.toml"
    config.write_text(CONFIG)
    result = _run(
        ["train", "--model", "master", "--dataset", "tiny", "--config", str(config), "--run", "ms"]
    )
    assert "test   5d: RankIC" in result.output
    run_dir = apex_home / "runs" / "ms"
    assert json.loads((run_dir / "run.json").read_text())["model"] == "master"
    preds = read_predictions(run_dir)
    assert set(preds["split"].unique()) == {"valid", "test"}
    assert preds.select(pl.col("pred_5d").is_finite().all()).item()
    per_day = preds.group_by("Date").agg(pl.col("pred_5d").std())
    assert (per_day["pred_5d"] > 0).all(), "scores vary across each day's stocks"

    result = _run(["bundle", "--run", "ms", "--name", "ms"])
    assert "created ms@v0001 (master" in result.output
    bundle = json.loads(next((apex_home / "bundles" / "ms").glob("v0001/bundle.json")).read_text())
    cache = open_cache(apex_home / "datasets" / "tiny")
    market = [cache.feature_names[i] for i in market_columns(cache, ["market"])]
    assert bundle["raw_features"] == market and market
    _run(["promote", "ms", "v0001"])
    day = preds.filter(pl.col("split") == "test")["Date"].max()
    result = _run(["predict", "--bundle", "ms", "--date", str(day)])
    expected = preds.filter(pl.col("Date") == day).sort("Code")
    assert f"stored {expected.height} scores of ms@v0001" in result.output
    rows = PredictionStore().read_day("ms", "v0001", day)
    stored = pl.DataFrame(
        {"Code": [r[0] for r in rows], "pred_5d": [json.loads(r[2])["5"] for r in rows]}
    ).sort("Code")
    assert stored["Code"].to_list() == expected["Code"].to_list()
    assert (stored["pred_5d"] - expected["pred_5d"]).abs().max() <= 1e-6
    # serving from raw rows (the window's dates, raw market columns among the inputs)
    loaded = load_bundle(next((apex_home / "bundles" / "ms").glob("v0001")))
    panel = pl.read_parquet(apex_home / "datasets" / "tiny" / "panel.parquet")
    dates = panel.filter(pl.col("Date") <= day)["Date"].unique().sort()[-loaded.info.window :]
    rows = panel.filter(pl.col("Date").is_in(dates)).select("Date", "Code", *loaded.input_names)
    scored_day, from_rows = loaded.score_rows(rows)
    assert scored_day == day and from_rows["Code"].to_list() == expected["Code"].to_list()
    assert (from_rows["pred_5d"] - expected["pred_5d"]).abs().max() <= 1e-5

    args = ["walkforward", "--model", "master", "--dataset", "tiny", "--config", str(config)]
    _run([*args, "--folds", "last:1", "--run", "wf", "--threads", "1"])
    stitched = pl.read_parquet(apex_home / "runs" / "wf" / "predictions.parquet")
    assert stitched["fold"].n_unique() == 1 and stitched.height > 0
