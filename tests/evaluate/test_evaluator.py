"""The evaluator on a small synthetic market: range refusal, metrics.json schema, joins, CLI."""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings

import numpy as np
import pandas as pd
import plotly
import polars as pl
import pytest
from scipy.stats import spearmanr
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.evaluate.config import EvaluateConfig
from gogooku.evaluate.evaluator import SCHEMA_VERSION, EvaluationError, evaluate_run
from gogooku.models.factor import FactorConfig, predict_factor
from gogooku.runs import Ranges, create_run, write_predictions
from gogooku.settings import get_settings
from gogooku.target import TargetConfig

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import empyrical as ep

D = dt.date
# Deliberately unpurged (valid starts the day after train ends) to exercise the label warnings.
RANGES = Ranges(
    train=(D(2020, 4, 1), D(2020, 7, 31)),
    valid=(D(2020, 8, 1), D(2020, 9, 30)),
    test=(D(2020, 10, 1), D(2020, 12, 31)),
)


def _run_factor(factor: str, run_id: str) -> None:
    """A run of the reference factor with its textbook sign (what ``gogooku train --model factor``
    writes, here on the ranges above, which no walk-forward fold would produce)."""
    run_dir, info = create_run(f"factor_{factor}", "t1", [1, 5, 10, 20], RANGES, run_id=run_id)
    panel = pl.scan_parquet(get_settings().datasets_dir / "t1" / "panel.parquet")
    cfg = FactorConfig(factor=factor, choose_sign=False)
    write_predictions(
        run_dir, predict_factor(cfg, panel, RANGES, TargetConfig(horizons=info.horizons), run_dir)
    )


def test_evaluation_refuses_test_dates_inside_the_training_range(_isolated_home):
    ranges = Ranges(
        train=(D(2020, 4, 1), D(2020, 9, 30)),
        valid=(D(2020, 10, 1), D(2020, 10, 31)),
        test=(D(2020, 9, 15), D(2020, 12, 31)),
    )
    run_dir, _ = create_run("m", "t1", [1], ranges, run_id="leaky")
    write_predictions(
        run_dir,
        pl.DataFrame(
            {"Date": [D(2020, 10, 5)], "Code": ["13010"], "pred_1d": [0.1], "split": ["valid"]}
        ),
    )
    with pytest.raises(
        EvaluationError,
        match=r"test range 2020-09-15..2020-12-31 overlaps the training range "
        r"2020-04-01..2020-09-30 on 2020-09-15..2020-09-30",
    ):
        evaluate_run(run_dir)
    result = CliRunner().invoke(app, ["evaluate", "--run", "leaky"])
    assert result.exit_code == 1
    assert "2020-09-15..2020-09-30" in result.output
    assert not (run_dir / "metrics.json").exists()


def _finite_or_null(value: object) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _finite_or_null(v)
    elif isinstance(value, list):
        for v in value:
            _finite_or_null(v)
    elif isinstance(value, float):
        assert math.isfinite(value)


def test_metrics_json_schema_and_values(synthetic_home):
    _run_factor("reversal", "rev")
    ev = evaluate_run(
        synthetic_home / "runs" / "rev", EvaluateConfig(top_k=5, bootstrap=100), write_report=False
    )
    m = json.loads((synthetic_home / "runs" / "rev" / "metrics.json").read_text())
    assert m == ev.metrics
    assert m["schema_version"] == SCHEMA_VERSION
    assert set(m) == {
        "schema_version",
        "run",
        "evaluated_at",
        "code_version",
        "config",
        "conventions",
        "main_horizon",
        "oracle_available",
        "market",
        "benchmark",
        "warnings",
        "splits",
    }
    assert m["market"] == {"name": "XTKS", "jpx": True, "lot_size": 100}
    assert m["benchmark"] == m["splits"]["test"]["benchmark"] == m["splits"]["valid"]["benchmark"]
    assert m["benchmark"] == {"name": "topix", "weighting": "index", "reason": None}
    assert "benchmark" not in m["splits"]["train"]
    assert m["run"]["run_id"] == "rev" and m["run"]["horizons"] == [1, 5, 10, 20]
    assert m["main_horizon"] == 5  # no config.toml: 5, a horizon of the run
    assert m["config"]["top_k"] == 5 and m["oracle_available"] is True
    assert set(m["splits"]) == {"train", "valid", "test"}
    _finite_or_null(m)
    for split, sd in m["splits"].items():
        assert 230 < sd["periods_per_year"] < 260
        # every split of the synthetic year spans months, not a year: flagged
        assert sd["short_span"] is True and sd["span_days"] == sd["n_dates"] < 240
        assert set(sd["horizons"]) == {"1d", "5d", "10d", "20d"}
        for entry in sd["horizons"].values():
            sig = entry["signal"]
            for key in ("ic_mean", "rank_ic_mean", "rank_icir", "rank_ic_t_stat", "hit_rate"):
                assert isinstance(sig[key], float), key
            assert 0.9 < sig["coverage"] <= 1.0  # young listings lack ret_prev_5d
            assert len(sig["deciles"]["mean_return"]) == 10
            assert (
                sig["rank_ic_mean_ci"]["low"]
                <= sig["rank_ic_mean"]
                <= sig["rank_ic_mean_ci"]["high"]
            )
            assert sig["rank_icir_ci"]["estimate"] == pytest.approx(sig["rank_icir"])
            assert sig["rank_icir_ci"]["low"] <= sig["rank_icir"] <= sig["rank_icir_ci"]["high"]
            assert set(entry["ic_decay"]) == {"1d", "5d", "10d", "20d"}
            assert "rank_ic_vs_oracle" in entry["vs_oracle"]
            assert ("portfolio" in entry) == (split != "train")
            if split != "train":
                assert set(entry["portfolio"]) == {"long_only", "long_short"}
                lo = entry["portfolio"]["long_only"]
                assert lo["n_long_mean"] > 0 and lo["n_short_mean"] == 0
                assert lo["cost_drag"] > 0
                q = lo["qlib_excess"]
                assert q["with_cost"]["mean"] < q["without_cost"]["mean"]
                assert set(entry["vs_oracle"]["sharpe_vs_oracle"]) == {"long_only", "long_short"}
                assert entry["oracle"]["portfolio"]["long_short"]["n_short_mean"] > 0
    # 1-day labels of training days up to 2020-07-31 reach 2020-08-04, past the valid start.
    assert any(w.startswith("valid: 1d labels") for w in m["warnings"])


def test_metrics_match_an_independent_computation(synthetic_home):
    _run_factor("reversal", "rev2")
    ev = evaluate_run(
        synthetic_home / "runs" / "rev2", EvaluateConfig(top_k=5, bootstrap=100), write_report=False
    )
    panel = pl.read_parquet(synthetic_home / "datasets" / "t1" / "panel.parquet")
    test_panel = panel.filter(pl.col("Date").is_between(D(2020, 10, 1), D(2020, 12, 31)))
    test = test_panel.drop_nulls(["ret_prev_5d", "target_5d"])
    daily = [
        spearmanr(-g["ret_prev_5d"].to_numpy(), g["target_5d"].to_numpy()).statistic
        for _, g in test.group_by("Date")
    ]
    sig = ev.metrics["splits"]["test"]["horizons"]["5d"]["signal"]
    assert sig["rank_ic_mean"] == pytest.approx(float(np.mean(daily)), abs=1e-12)
    assert sig["n_days"] == len(daily)
    decay = test_panel.drop_nulls(["ret_prev_5d", "target_20d"])
    daily_20 = [
        spearmanr(-g["ret_prev_5d"].to_numpy(), g["target_20d"].to_numpy()).statistic
        for _, g in decay.group_by("Date")
    ]
    decay_20 = ev.metrics["splits"]["test"]["horizons"]["5d"]["ic_decay"]["20d"]
    assert decay_20 == pytest.approx(float(np.mean(daily_20)), abs=1e-12)
    assert sig["coverage"] == pytest.approx(
        test_panel["ret_prev_5d"].is_not_null().sum() / test_panel.height
    )
    ppy = ev.metrics["splits"]["test"]["periods_per_year"]
    net = ev.series[("test", 5)].backtests["long_only"].daily.sort("Date")["ret_net"].to_pandas()
    port = ev.metrics["splits"]["test"]["horizons"]["5d"]["portfolio"]["long_only"]["net"]
    assert port["sharpe"] == pytest.approx(ep.sharpe_ratio(net, annualization=ppy), rel=1e-10)
    assert port["max_drawdown"] == pytest.approx(ep.max_drawdown(pd.Series(net)), rel=1e-10)


@pytest.mark.slow
def test_cli_oracle_run_evaluate_and_compare(synthetic_home):
    runner = CliRunner()
    _run_factor("oracle", "oracle")
    _run_factor("momentum", "mom")
    for run_id in ("oracle", "mom"):
        result = runner.invoke(
            app, ["evaluate", "--run", run_id, "--top-k", "5", "--bootstrap", "100"]
        )
        assert result.exit_code == 0, result.output
    run_dir = synthetic_home / "runs" / "oracle"
    # plotly.js is the home's one copy, referenced once by a relative path
    assert (run_dir / "report.html").stat().st_size < 1_000_000
    html = (run_dir / "report.html").read_text()
    assert html.count("window.PlotlyConfig") == 1
    src = f'src="../../assets/plotly-{plotly.__version__}.min.js"'
    assert (
        src in html
        and (synthetic_home / "assets" / f"plotly-{plotly.__version__}.min.js").is_file()
    )
    m = json.loads((run_dir / "metrics.json").read_text())
    by_horizon: dict[str, list[float]] = {}
    for split, sd in m["splits"].items():
        for h, entry in sd["horizons"].items():
            ic = entry["signal"]["rank_ic_mean"]
            by_horizon.setdefault(h, []).append(ic)
            # 24 stocks: a 20-day horizon has about two independent windows in validation
            assert ic > (0 if h in ("1d", "5d") else -0.05), (split, h)
            # The oracle run is its own oracle: it recovers exactly all of it (a share of a
            # negative oracle RankIC is undefined).
            ratio = entry["vs_oracle"]["rank_ic_vs_oracle"]
            assert ratio == (pytest.approx(1.0) if ic > 0 else None), (split, h)
    assert all(sum(ics) / len(ics) > 0.02 for ics in by_horizon.values()), by_horizon
    out = synthetic_home / "cmp.html"
    result = runner.invoke(app, ["compare", "oracle", "mom", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "RankIC" in result.output and "oracle" in result.output and "mom" in result.output
    assert out.stat().st_size < 1_000_000  # plotly.js is the home's one copy, not inlined
    assert f'src="assets/plotly-{plotly.__version__}.min.js"' in out.read_text()
    as_json = runner.invoke(app, ["compare", "oracle", "mom", "--out", str(out), "--json"])
    doc = json.loads(as_json.stdout)
    assert doc["runs"] == ["oracle", "mom"] and doc["html"] == str(out)
    ric = next(r for r in doc["rows"] if r["metric"] == "RankIC" and r["horizon"] == "5d")
    assert (
        ric["values"]["oracle"] == m["splits"]["test"]["horizons"]["5d"]["signal"]["rank_ic_mean"]
    )
    result = runner.invoke(app, ["evaluate", "--run", "mom", "--bootstrap", "100", "--json"])
    assert json.loads(result.output) == json.loads(
        (synthetic_home / "runs" / "mom" / "metrics.json").read_text()
    )
    missing = runner.invoke(app, ["compare", "oracle", "nope"])
    assert missing.exit_code == 1 and "no run 'nope'" in missing.output


def test_constant_predictions_evaluate_with_null_rank_ic_and_no_oracle(synthetic_home):
    # Without the oracle table the store looks like real J-Quants data.
    import shutil

    shutil.rmtree(synthetic_home / "raw" / "synthetic_oracle")
    ranges = Ranges(
        train=(D(2020, 4, 1), D(2020, 7, 31)),
        valid=(D(2020, 8, 1), D(2020, 9, 30)),
        test=(D(2020, 10, 1), D(2020, 12, 31)),
    )
    panel = pl.read_parquet(
        synthetic_home / "datasets" / "t1" / "panel.parquet", columns=["Date", "Code"]
    )
    preds = panel.filter(pl.col("Date") >= D(2020, 10, 1)).with_columns(
        pred_5d=pl.lit(0.0), split=pl.lit("test")
    )
    run_dir, _ = create_run("const", "t1", [5], ranges, run_id="const")
    write_predictions(run_dir, preds)
    ev = evaluate_run(run_dir, EvaluateConfig(top_k=5, bootstrap=50))
    m = ev.metrics
    assert m["oracle_available"] is False
    assert set(m["splits"]) == {"test"}
    entry = m["splits"]["test"]["horizons"]["5d"]
    assert "oracle" not in entry and "vs_oracle" not in entry
    sig = entry["signal"]
    assert sig["constant_prediction"] is True
    assert sig["rank_ic_mean"] is None and sig["ic_mean"] is None and sig["hit_rate"] is None
    assert sig["rank_ic_mean_ci"]["low"] is None
    assert entry["ic_decay"] == {"1d": None, "5d": None, "10d": None, "20d": None}
    # The book still trades (ties broken by Code) and the report is written.
    assert entry["portfolio"]["long_only"]["n_long_mean"] > 0
    assert (run_dir / "report.html").is_file()


def test_train_only_run_has_signal_metrics_and_a_report_without_portfolios(synthetic_home):
    ranges = Ranges(
        train=(D(2020, 4, 1), D(2020, 7, 31)),
        valid=(D(2020, 8, 1), D(2020, 9, 30)),
        test=(D(2020, 10, 1), D(2020, 12, 31)),
    )
    panel = pl.read_parquet(synthetic_home / "datasets" / "t1" / "panel.parquet")
    preds = panel.filter(pl.col("Date") <= D(2020, 7, 31)).select(
        "Date", "Code", pred_1d=pl.col("target_1d").cast(pl.Float64), split=pl.lit("train")
    )
    run_dir, _ = create_run("peek", "t1", [1], ranges, run_id="peek")
    write_predictions(run_dir, preds)
    ev = evaluate_run(run_dir, EvaluateConfig(top_k=5, bootstrap=50))
    entry = ev.metrics["splits"]["train"]["horizons"]["1d"]
    # Predictions equal to the realised target: RankIC 1 on every day with a label.
    assert entry["signal"]["rank_ic_mean"] == pytest.approx(1.0)
    assert entry["signal"]["hit_rate"] == 1.0
    assert "portfolio" not in entry
    html = (run_dir / "report.html").read_text()
    # IC distribution, IC over time, turnover, quantile returns, deciles, IC decay; no book
    assert html.count('class="plotly-graph-div"') == 6
    assert 'id="drawdown"' not in html and "id='long-only'" not in html


def test_the_runs_evaluate_section_and_label_kind_decide_the_scoring(synthetic_home):
    """Predictions equal to the sector-relative label: RankIC 1 against that label (what
    ``[target] label = "sector"`` scores against), below 1 against the raw return; the run's
    ``[evaluate]`` sets the book size, the quantiles and the benchmark of excess and beta."""
    panel = pl.read_parquet(synthetic_home / "datasets" / "t1" / "panel.parquet")
    preds = panel.filter(pl.col("Date").is_between(*RANGES.test)).select(
        "Date",
        "Code",
        pred_5d=pl.col("target_5d_sector").cast(pl.Float64),
        split=pl.lit("test"),
    )
    run_dir, _ = create_run("peek", "t1", [5], RANGES, run_id="sector")
    write_predictions(run_dir, preds.drop_nulls("pred_5d"))
    raw = evaluate_run(run_dir, EvaluateConfig(top_k=5, bootstrap=50), write_report=False)
    (run_dir / "config.toml").write_text(
        '[target]\nhorizons = [5]\nlabel = "sector"\n\n'
        '[evaluate]\ntop_k = 7\nquantiles = 5\nbenchmark = "equal_weight"\nbootstrap = 50\n'
    )
    ev = evaluate_run(run_dir, write_report=False)
    config = ev.metrics["config"]
    assert (config["top_k"], config["n_quantiles"], config["label"]) == (7, 5, "sector")
    entry = ev.metrics["splits"]["test"]["horizons"]["5d"]
    assert entry["signal"]["rank_ic_mean"] == pytest.approx(1.0)
    raw_ic = raw.metrics["splits"]["test"]["horizons"]["5d"]["signal"]["rank_ic_mean"]
    assert raw_ic < 0.99
    assert len(entry["signal"]["deciles"]["mean_return"]) == 5
    book = entry["portfolio"]["long_only"]
    # equal_weight: the universe equal-weighted, the backtest's own equal-weight series.
    assert book["benchmark"] == "universe"
    assert ev.metrics["benchmark"] == {
        "name": "universe",
        "weighting": "equal",
        "reason": "[evaluate] benchmark = equal_weight",
    }
    for key in ("annual_return", "mean_daily", "annual_volatility"):
        assert book["excess"][key] == pytest.approx(book["excess_vs_ew"][key], abs=1e-12)
    # The default (auto) takes TOPIX on the synthetic market, which stores it.
    assert raw.metrics["benchmark"] == {"name": "topix", "weighting": "index", "reason": None}
    assert (
        raw.metrics["splits"]["test"]["horizons"]["5d"]["portfolio"]["long_only"]["benchmark"]
        == "topix"
    )
