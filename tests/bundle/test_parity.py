"""The prediction job scores like the trainer: stored scores equal predictions.parquet."""

from __future__ import annotations

import json

import polars as pl
import pytest

from gogooku.bundle.job import predict
from gogooku.bundle.predstore import PredictionStore
from gogooku.bundle.scoring import create_bundle
from gogooku.bundle.store import promote


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
