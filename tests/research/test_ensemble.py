"""``gogooku ensemble``: weights on the simplex grid chosen on validation days only (hand-computed
examples, ties), the run it writes (compare treats it as a model), poisoned test predictions
leave the weights alone, an ensemble of one member ranks as the member."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.config import load_config
from gogooku.evaluate.compare import compare_runs, load_runs
from gogooku.research.ensemble import choose_weights, rank_normalise, run_ensemble, simplex_grid
from gogooku.research.plan import WalkForwardError
from gogooku.research.walkforward import run_walkforward
from gogooku.runs import PREDICTIONS_FILE, load_run, read_predictions
from gogooku.train.config import RunConfig

from ..support.configs import SPLITS

BASE = SPLITS + "\n[target]\nhorizons = [1, 5, 20]\n\n[evaluate]\nbootstrap = 10\n\n[model]\n"


def _day(a: list[float], b: list[float], y: list[float], day: int = 0) -> pl.DataFrame:
    frame = pl.DataFrame(
        {"Date": [day] * len(y), "a": a, "b": b, "y": y},
        schema={"Date": pl.Int32, "a": pl.Float64, "b": pl.Float64, "y": pl.Float64},
    )
    return rank_normalise(frame, ["a", "b"])


def test_simplex_grid_and_rank_normalisation():
    grid = simplex_grid(3, 0.5)
    assert grid.tolist() == [
        [0, 0, 1], [0, 0.5, 0.5], [0, 1, 0], [0.5, 0, 0.5], [0.5, 0.5, 0], [1, 0, 0]
    ]  # fmt: skip
    assert len(simplex_grid(3, 0.1)) == 66  # C(12, 2)
    ranked = _day([10.0, 30.0, 20.0, 20.0], [1, 2, 3, 4], [0, 0, 0, 0])
    assert ranked["a"].to_list() == [-0.5, 0.5, 0.0, 0.0]  # (rank - 1)/(n - 1) - 0.5


def test_weights_hand_computed_two_members():
    # day of 4 stocks, label ranks 1..4; A swaps the top two, B the bottom two.
    # w = (0.5, 0.5): scores (-1/3, -1/3, 1/3, 1/3) -> ranks (1.5, 1.5, 3.5, 3.5), RankIC 2/sqrt(5);
    # any other grid point breaks the ties one way: ranks a permutation with one swap, RankIC 0.8
    frame = _day([1, 2, 4, 3], [2, 1, 3, 4], [1, 2, 3, 4])
    w, score = choose_weights(frame, ["a", "b"], "y", 0.1)
    assert w.tolist() == [0.5, 0.5]
    assert score == pytest.approx(2 / math.sqrt(5))
    # A perfect, B reversed: every w_A > 0.5 ranks as A (RankIC 1); the tie goes to the point
    # nearest equal weights
    frame = _day([1, 2, 3, 4], [4, 3, 2, 1], [1, 2, 3, 4])
    w, score = choose_weights(frame, ["a", "b"], "y", 0.1)
    assert w.tolist() == [0.6, 0.4] and score == pytest.approx(1.0)
    # two days: mean of the daily RankICs; identical members tie everywhere -> equal weights
    two = pl.concat([_day([1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 4, 3], 0),
                     _day([4, 3, 2, 1], [4, 3, 2, 1], [1, 2, 3, 4], 1)])  # fmt: skip
    w, score = choose_weights(two, ["a", "b"], "y", 0.1)
    assert w.tolist() == [0.5, 0.5] and score == pytest.approx((0.8 - 1.0) / 2)


def _walk(home, tmp_path, name, model, **kw):
    path = tmp_path / f"{name}.toml"
    path.write_text(BASE + model)
    cfg = load_config(path, RunConfig)
    return run_walkforward(cfg.model.kind, "tiny", cfg, run_id=name, **kw)


def _poison(run_dir, rng):
    """Replace every test prediction of the run (stitched and per fit) by noise."""
    for path in [run_dir / PREDICTIONS_FILE, *run_dir.glob(f"fits/*/{PREDICTIONS_FILE}")]:
        frame = pl.read_parquet(path)
        test = pl.col("split") == "test"
        noise = pl.Series(rng.normal(size=frame.height))
        frame = frame.with_columns(
            pl.when(test).then(noise).otherwise(pl.col(c)).alias(c)
            for c in frame.columns
            if c.startswith("pred_")
        )
        frame.write_parquet(path)


def test_ensemble_run_one_member_refusals_and_poisoned_tests(home, tmp_path):
    ridge = _walk(home, tmp_path, "ridge", 'kind = "linear"\n')
    _walk(home, tmp_path, "fac", 'kind = "factor"\n', evaluate=False)
    result = CliRunner().invoke(
        app, ["ensemble", "--member", "ridge", "--member", "fac", "--run", "ens"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote ensemble run ens" in result.output and "g000: ridge" in result.output
    run_dir = home / "runs" / "ens"
    info = load_run(run_dir)
    assert info.model == "ensemble" and info.folds == load_run(ridge).folds
    groups = info.params["ensemble"]["groups"]
    assert sorted(groups) == ["g000", "g001", "g002"]
    for entry in groups.values():
        assert sum(entry["weights"].values()) == pytest.approx(1.0)
    validation = json.loads((run_dir / "validation.json").read_text())
    assert [f["fit"] for f in validation["fits"]] == ["g000", "g001", "g002"]
    preds = read_predictions(run_dir)
    assert preds["fold"].unique().sort().to_list() == [0, 1, 2]
    assert preds["pred_5d"].min() >= -0.5 and preds["pred_5d"].max() <= 0.5

    # an ensemble of one member ranks every day as the member: same RankIC and long-short book;
    # compare treats ensembles as models
    one = run_ensemble(["ridge"], run_id="one")
    assert all(
        g["weights"] == {"ridge": 1.0} for g in load_run(one).params["ensemble"]["groups"].values()
    )
    comparison = compare_runs(load_runs(["ridge", "one", "ens"]), "test", replicates=10)
    for h in comparison.horizons:
        pair = h.pairs[0]
        assert (pair["a"], pair["b"]) == ("ridge", "one")
        assert pair["rank_ic_diff"]["estimate"] == pytest.approx(0.0, abs=1e-12)
        a, b = h.per_run["ridge"], h.per_run["one"]
        assert b["rank_ic_mean"] == pytest.approx(a["rank_ic_mean"], abs=1e-12)
        assert b["ls_net_sharpe"] == pytest.approx(a["ls_net_sharpe"], abs=1e-9)

    # members must share their folds and be walk-forward runs
    _walk(home, tmp_path, "short", 'kind = "linear"\n', folds="last:2", evaluate=False)
    with pytest.raises(WalkForwardError, match="ensemble members ridge and short: their folds"):
        run_ensemble(["ridge", "short"], run_id="bad", evaluate=False)
    with pytest.raises(WalkForwardError, match="not a walk-forward run"):
        run_ensemble([str(ridge / "fits" / "g000-s0")], evaluate=False)

    # poisoned test predictions of every member: same weights, other test predictions
    rng = np.random.default_rng(0)
    for name in ("ridge", "fac"):
        _poison(home / "runs" / name, rng)
    again = run_ensemble(["ridge", "fac"], run_id="ens2", evaluate=False)
    assert load_run(again).params["ensemble"]["groups"] == groups
    assert not read_predictions(again)["pred_5d"].equals(preds["pred_5d"])
