"""The prediction job scores like the trainer: stored scores equal predictions.parquet."""

from __future__ import annotations

import json

import polars as pl
import pytest

from gogooku.bundle.job import predict
from gogooku.bundle.predstore import PredictionStore
from gogooku.bundle.scoring import create_bundle, load_bundle
from gogooku.bundle.store import promote
from gogooku.config import load_config
from gogooku.dataset.cache import STATIC_IDS
from gogooku.train.config import RunConfig
from gogooku.train.run import train_run

from ..support.world import run_config


@pytest.mark.parametrize("run", ["lg", "ln", "at", "ap"])
def test_stored_scores_equal_training_predictions(world_home, run):
    create_bundle(run, run)
    promote(run, "v0001")
    trained = pl.read_parquet(world_home / "runs" / run / "predictions.parquet")
    day = trained.filter(pl.col("split") == "test")["Date"].max()
    result = predict(run, day)
    expected = trained.filter(pl.col("Date") == day).sort("Code")
    assert result.rows == expected.height and result.listed == 24
    horizons = json.loads((world_home / "runs" / run / "run.json").read_text())["horizons"]
    rows = PredictionStore().read_day(run, "v0001", day)
    stored = pl.DataFrame(
        {
            "Code": [r[0] for r in rows],
            **{f"pred_{h}d": [json.loads(r[2])[str(h)] for r in rows] for h in horizons},
        }
    ).sort("Code")
    assert stored["Code"].to_list() == expected["Code"].to_list()
    for h in horizons:
        diff = (stored[f"pred_{h}d"] - expected[f"pred_{h}d"]).abs().max()
        assert diff <= 1e-6, (run, h, diff)
    assert all(r[3] is not None and r[5] for r in rows)  # sector and company name
    again = predict(run, day)
    assert again.rows == result.rows
    assert len(PredictionStore().read_day(run, "v0001", day)) == result.rows


@pytest.mark.parametrize("ids", ["numeric", "categorical"])
def test_lgbm_bundle_with_ids_scores_like_its_run(home, ids):
    """A LightGBM run that keeps the categorical ids: the bundle carries them as training read
    them (normalised among the features, or raw codes after them) and its scores equal the run's
    test predictions on every test day, from the dataset and from raw rows."""
    config = home / "lc.toml"
    config.write_text(run_config("lg", categorical_ids=f'"{ids}"'))
    run = f"lc_{ids}"
    train_run("lgbm", "tiny", load_config(config, RunConfig), run_id=run, evaluate=False)
    path, info = create_bundle(run, run)
    if ids == "categorical":
        assert info.raw_features == list(STATIC_IDS)
        assert not set(STATIC_IDS) & set(info.features)
    else:
        assert info.raw_features == [] and set(STATIC_IDS) <= set(info.features)
    bundle = load_bundle(path)
    trained = pl.read_parquet(home / "runs" / run / "predictions.parquet")
    test = trained.filter(pl.col("split") == "test")
    assert test["pred_5d"].n_unique() > 1
    panel = pl.read_parquet(home / "datasets" / "tiny" / "panel.parquet")
    for day in test["Date"].unique().sort().to_list():
        expected = test.filter(pl.col("Date") == day).sort("Code")
        scored = bundle.score_dataset(day)
        rows = panel.filter(pl.col("Date") == day).select("Date", "Code", *bundle.input_names)
        _, from_rows = bundle.score_rows(rows)
        for got in (scored, from_rows):
            assert got["Code"].to_list() == expected["Code"].to_list()
            for h in info.horizons:
                diff = (got[f"pred_{h}d"] - expected[f"pred_{h}d"]).abs().max()
                assert diff <= 1e-9, (ids, day, h, diff)
