"""``gogooku walkforward`` on the tiny dataset (3 folds of 20 test days under SPLITS): the run
folder, stitched predictions, per-fold evaluation, resume and refusals; determinism."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.config import load_config
from gogooku.research.walkforward import BY_SEED_FILE, run_walkforward
from gogooku.runs import PREDICTIONS_FILE, check_predictions, load_run, read_predictions
from gogooku.train.config import RunConfig

from ..support.configs import SPLITS

BASE = SPLITS + "\n[target]\nhorizons = [1, 5, 20]\n\n[evaluate]\nbootstrap = 10\n\n[model]\n"
MODELS = {
    "linear": 'kind = "linear"\n',
    "linear_a5": 'kind = "linear"\nalpha = 5.0\n',
    "factor": 'kind = "factor"\n',
    "lgbm": 'kind = "lgbm"\nnum_boost_round = 8\nmin_data_in_leaf = 20\nnum_threads = 1\n',
}


@pytest.fixture
def config_for(tmp_path):
    def write(kind: str):
        path = tmp_path / f"{kind}.toml"
        path.write_text(BASE + MODELS[kind])
        return path

    return write


def _invoke(*args: str):
    return CliRunner().invoke(app, ["walkforward", *args])


def test_walkforward_run_resume_and_refusals(home, config_for):
    config = str(config_for("linear"))
    args = ["--model", "linear", "--dataset", "tiny", "--config", config, "--run", "wf"]
    result = _invoke(*args, "--refit-every", "2")
    assert result.exit_code == 0, result.output
    run_dir = home / "runs" / "wf"
    assert f"wrote walk-forward run wf at {run_dir}" in result.output
    assert "RankIC 5d" in result.output and "all" in result.output

    fits = run_dir / "fits"
    assert sorted(p.name for p in fits.iterdir()) == ["g000-s0", "g002-s0"]
    info = load_run(run_dir)
    assert [(f.fold, f.group) for f in info.folds] == [(0, 0), (1, 0), (2, 2)]
    assert info.params["walkforward"] == {
        "folds": [0, 1, 2],
        "seeds": 1,
        "refit_every": 2,
        "executor": "local",
        "scheme": "rolling",
    }
    # fold 1 was predicted by fold 0's fit: its ranges are that fit's train/valid
    assert info.folds[1].ranges.train == info.folds[0].ranges.train == info.ranges.train
    assert info.ranges.test == (info.folds[0].ranges.test[0], info.folds[2].ranges.test[1])

    preds = read_predictions(run_dir)  # check_predictions with the folds
    check_predictions(preds, info)
    assert preds.columns == [
        "Date", "Code", "pred_1d", "pred_5d", "pred_20d", "split", "fold", "n_seeds"
    ]  # fmt: skip
    per_fold = preds.group_by("fold").agg(pl.col("Date").n_unique()).sort("fold")
    assert per_fold.rows() == [(0, 20), (1, 20), (2, 20)]
    assert (run_dir / BY_SEED_FILE).is_file()
    # a stitched day is exactly the covering fit's test prediction
    fit = read_predictions(fits / "g000-s0").filter(pl.col("split") == "test")
    day = preds.filter(pl.col("fold") == 1).select("Date", "Code", "pred_5d")
    assert (
        day.join(fit, on=["Date", "Code"], suffix="_fit")
        .filter(pl.col("pred_5d") != pl.col("pred_5d_fit"))
        .is_empty()
    )

    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows = metrics["splits"]["test"]["folds"]
    assert [r["fold"] for r in rows] == [0, 1, 2] and [r["n_dates"] for r in rows] == [20] * 3
    assert set(rows[0]["horizons"]["5d"]) == {"rank_ic_mean", "rank_icir", "ls_net_mean"}
    assert rows[0]["horizons"]["5d"]["ls_net_mean"] is not None
    assert "Walk-forward folds (test)" in (run_dir / "report.html").read_text()

    # an existing run is refused without --resume
    again = _invoke(*args, "--refit-every", "2")
    assert again.exit_code == 1
    assert "already exists: pass --resume" in again.output

    # resume redoes only the fit whose predictions are gone
    kept = {p: p.stat().st_mtime_ns for p in (fits / "g000-s0").iterdir()}
    (fits / "g002-s0" / PREDICTIONS_FILE).unlink()
    resumed = _invoke(*args, "--refit-every", "2", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert {p: p.stat().st_mtime_ns for p in (fits / "g000-s0").iterdir()} == kept
    assert (fits / "g002-s0" / PREDICTIONS_FILE).is_file()
    assert read_predictions(run_dir).equals(preds)

    # a different plan or config is refused on resume
    other = _invoke(*args, "--refit-every", "1", "--resume")
    assert other.exit_code == 1 and "the plan differs" in other.output
    changed = str(config_for("linear_a5"))
    other = _invoke(*args[:4], "--config", changed, "--run", "wf", "--refit-every", "2", "--resume")
    assert other.exit_code == 1 and "differs from" in other.output and "[model]" in other.output
    # [tracking] says where a run is logged, not what is fitted: a resume may change it
    tracked = _invoke(*args, "--refit-every", "2", "--resume", "--set", "tracking.experiment=x")
    assert tracked.exit_code == 0, tracked.output


def test_fold_selection_errors_name_the_option(home, config_for):
    config = str(config_for("linear"))
    result = _invoke(
        "--model", "linear", "--dataset", "tiny", "--config", config, "--folds", "1..7"
    )
    assert result.exit_code == 1
    assert "--folds 1..7: fold 7 does not exist" in result.output
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


@pytest.mark.parametrize(("kind", "seeds"), [("linear", 1), ("factor", 1), ("lgbm", 2)])
def test_sequential_runs_are_bit_identical(home, config_for, kind, seeds):
    cfg = load_config(config_for(kind), RunConfig)
    frames = []
    for run in ("a", "b"):
        run_dir = run_walkforward(
            kind, "tiny", cfg, folds="last:2", seeds=seeds, run_id=run, evaluate=False
        )
        frames.append(pl.read_parquet(run_dir / PREDICTIONS_FILE))
    assert frames[0].equals(frames[1])
    assert frames[0]["fold"].unique().sort().to_list() == [1, 2]
    assert set(frames[0]["n_seeds"]) == {seeds}
