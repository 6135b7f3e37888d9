"""Validation scores of a fold agree with the evaluator's valid-split figures, and the Sharpe
backtest reads no price from the test range."""

from __future__ import annotations

import pytest

from gogooku.evaluate import backtest as bt
from gogooku.evaluate.config import EvaluateConfig
from gogooku.evaluate.evaluator import evaluate_run
from gogooku.hpo.score import fold_score
from gogooku.runs import load_run
from gogooku.train.config import load_run_config
from gogooku.train.run import train_run

from .conftest import LGBM


@pytest.mark.slow
def test_fold_scores_match_the_evaluator_on_validation(home, write_config, monkeypatch):
    cfg = load_run_config(write_config(LGBM))
    run_dir = train_run("lgbm", "tiny", cfg, "score", 1, evaluate=False)
    test_start = load_run(run_dir).ranges.test[0]
    ends = []
    load_market = bt.load_market

    def spy(store, calendar, start, end):
        ends.append(end)
        return load_market(store, calendar, start, end)

    with monkeypatch.context() as m:
        m.setattr(bt, "load_market", spy)
        scores = fold_score(run_dir, 5, "sharpe", EvaluateConfig(top_k=5, cost_bps=10.0))
    assert ends and max(ends) < test_start

    valid = evaluate_run(
        run_dir, EvaluateConfig(top_k=5, cost_bps=10.0, bootstrap=10), write_report=False
    )
    entry = valid.metrics["splits"]["valid"]["horizons"]["5d"]
    assert scores["rank_ic"] == pytest.approx(entry["signal"]["rank_ic_mean"], abs=1e-12)
    sharpe = entry["portfolio"]["long_short"]["net"]["sharpe"]
    assert scores["sharpe"] == pytest.approx(sharpe, rel=1e-9)
