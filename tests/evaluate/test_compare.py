"""``daily.parquet`` and ``gogooku compare`` on the small synthetic market: disjoint periods are
refused, a partial overlap is a warning with the common period, identical runs differ by exactly
0, hold-out runs are marked, and the JSON document's shape."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.evaluate.config import EvaluateConfig
from gogooku.evaluate.evaluator import DAILY_FILE, evaluate_run
from gogooku.runs import Ranges, create_run, write_predictions
from gogooku.settings import get_settings

D = dt.date
RANGES = Ranges(
    train=(D(2020, 4, 1), D(2020, 7, 31)),
    valid=(D(2020, 8, 1), D(2020, 9, 30)),
    test=(D(2020, 10, 1), D(2020, 12, 31)),
)
ENV = {"COLUMNS": "250"}  # Rich wraps tables at 80 columns otherwise


def _predictions(start: dt.date, end: dt.date, noise: float, seed: int) -> pl.DataFrame:
    """pred_5d = the realised 5-day target plus Gaussian noise (a cheap signal of known quality)
    on start..end; split by RANGES."""
    panel = pl.read_parquet(
        get_settings().datasets_dir / "t1" / "panel.parquet", columns=["Date", "Code", "target_5d"]
    ).filter(pl.col("Date").is_between(start, end))
    rng = np.random.default_rng(seed)
    pred = panel["target_5d"].fill_null(0.0).to_numpy() + noise * rng.normal(size=panel.height)
    split = (
        pl.when(pl.col("Date") <= RANGES.train[1])
        .then(pl.lit("train"))
        .when(pl.col("Date") <= RANGES.valid[1])
        .then(pl.lit("valid"))
        .otherwise(pl.lit("test"))
    )
    return panel.select("Date", "Code", pred_5d=pl.Series(pred), split=split)


def _run(run_id: str, start, end, noise: float = 0.05, seed: int = 0, **params) -> None:
    run_dir, _ = create_run("noisy", "t1", [5], RANGES, params=params, run_id=run_id)
    write_predictions(run_dir, _predictions(start, end, noise, seed))
    evaluate_run(run_dir, EvaluateConfig(top_k=5, bootstrap=50), write_report=False)


def _test_days(run_id: str) -> pl.Series:
    daily = pl.read_parquet(get_settings().runs_dir / run_id / DAILY_FILE)
    return daily.filter((pl.col("split") == "test") & pl.col("rank_ic").is_not_null())["Date"]


def _finite_or_null(value: object) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _finite_or_null(v)
    elif isinstance(value, list):
        for v in value:
            _finite_or_null(v)
    elif isinstance(value, float):
        assert math.isfinite(value)


def test_daily_parquet_holds_the_series_behind_the_metrics(synthetic_home):
    _run("tt", D(2020, 6, 1), D(2020, 12, 31))
    run_dir = synthetic_home / "runs" / "tt"
    daily = pl.read_parquet(run_dir / DAILY_FILE)
    assert daily.schema == pl.Schema(
        {
            "split": pl.String,
            "horizon": pl.Int32,
            "Date": pl.Date,
            "rank_ic": pl.Float64,
            "ls_net": pl.Float64,
            "lo_net": pl.Float64,
            "bench": pl.Float64,
        }
    )
    assert daily.select("split", "horizon", "Date").is_duplicated().sum() == 0
    assert daily["split"].unique(maintain_order=True).to_list() == ["train", "valid", "test"]
    train = daily.filter(pl.col("split") == "train")
    assert train["ls_net"].null_count() == train.height  # no backtest on train
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for split in ("train", "valid", "test"):
        ric = daily.filter(pl.col("split") == split)["rank_ic"].drop_nulls()
        sig = metrics["splits"][split]["horizons"]["5d"]["signal"]
        assert ric.mean() == pytest.approx(sig["rank_ic_mean"], rel=1e-12)
        assert ric.len() == sig["n_days_valid"]
    test = daily.filter(pl.col("split") == "test")
    port = metrics["splits"]["test"]["horizons"]["5d"]["portfolio"]
    assert test["ls_net"].drop_nulls().len() == port["long_short"]["net"]["n_days"]
    # bench is the [evaluate] benchmark (TOPIX): lo_net − bench is the long-only excess.
    excess = (test["lo_net"] - test["bench"]).drop_nulls()
    assert excess.len() == port["long_only"]["excess"]["n_days"]


def test_compare_refuses_disjoint_periods_naming_both(synthetic_home):
    _run("oct", D(2020, 10, 1), D(2020, 10, 31))
    _run("dec", D(2020, 12, 1), D(2020, 12, 31), seed=1)
    result = CliRunner().invoke(app, ["compare", "oct", "dec"], env=ENV)
    assert result.exit_code == 1
    assert "disjoint" in result.output
    for rid in ("oct", "dec"):
        days = _test_days(rid)
        assert f"{rid} {days.min()}..{days.max()}" in result.output


def test_compare_warns_on_a_partial_overlap_and_prints_the_common_period(synthetic_home):
    _run("early", D(2020, 10, 1), D(2020, 11, 30))
    _run("late", D(2020, 11, 1), D(2020, 12, 31), seed=1)
    early, late = _test_days("early"), _test_days("late")
    common = sorted(set(early.to_list()) & set(late.to_list()))
    period = f"{common[0]}..{common[-1]}"
    out = synthetic_home / "cmp.html"
    result = CliRunner().invoke(app, ["compare", "early", "late", "--out", str(out)], env=ENV)
    assert result.exit_code == 0, result.output
    assert "warning" in result.stderr and period in result.stderr
    assert f"early {early.min()}..{early.max()}" in result.stderr
    assert f"loses {early.len() - len(common)}" in result.stderr
    assert f"loses {late.len() - len(common)}" in result.stderr
    assert f"common test period: {period} ({len(common)} days)" in result.stdout
    assert "Δ RankIC" in result.stdout and "DM t" in result.stdout
    assert f"common period {period}" in out.read_text()


def test_compare_warns_when_the_runs_benchmarks_differ(synthetic_home):
    _run("tpx", D(2020, 10, 1), D(2020, 12, 31))
    _run("uni", D(2020, 10, 1), D(2020, 12, 31), seed=1)
    metrics = synthetic_home / "runs" / "uni" / "metrics.json"
    data = json.loads(metrics.read_text())
    data["splits"]["test"]["benchmark"] = {"name": "universe", "weighting": "cap", "reason": None}
    metrics.write_text(json.dumps(data))
    result = CliRunner().invoke(app, ["compare", "tpx", "uni"], env=ENV)
    assert result.exit_code == 0, result.output
    assert (
        "test: the runs' long-only excess is over different benchmarks: tpx TOPIX, "
        "uni universe (cap-weighted)"
    ) in result.stderr


def test_identical_runs_differ_by_zero_and_json_shape(synthetic_home):
    _run("a", D(2020, 10, 1), D(2020, 12, 31), noise=0.05, seed=3)
    _run("a2", D(2020, 10, 1), D(2020, 12, 31), noise=0.05, seed=3, holdout=True)
    _run("b", D(2020, 10, 1), D(2020, 12, 31), noise=0.5, seed=4)
    runner = CliRunner()
    out = synthetic_home / "cmp.html"
    args = ["compare", "a", "a2", "b", "--out", str(out), "--bootstrap", "50"]
    table = runner.invoke(app, args, env=ENV)
    assert table.exit_code == 0, table.output
    assert "warning" not in table.stderr
    assert "a2 (hold-out)" in table.stdout
    html = out.read_text()
    assert "a2 (hold-out)" in html and "Paired: B − A" in html

    result = runner.invoke(app, [*args, "--json"], env=ENV)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    _finite_or_null(doc)
    assert set(doc) >= {
        "split",
        "runs",
        "holdout",
        "reference",
        "all_pairs",
        "period",
        "warnings",
        "horizons",
        "rows",
        "html",
    }
    assert doc["runs"] == ["a", "a2", "b"] and doc["holdout"] == ["a2"]
    assert doc["reference"] == "a" and doc["all_pairs"] is False and doc["warnings"] == []
    days = _test_days("a")
    assert doc["period"] == [days.min().isoformat(), days.max().isoformat()]
    (h5,) = doc["horizons"]
    assert h5["horizon"] == "5d" and h5["n_days"] == days.len()
    assert h5["lost_days"] == {"a": 0, "a2": 0, "b": 0}
    assert set(h5["per_run"]) == {"a", "a2", "b"}
    assert h5["per_run"]["a"] == h5["per_run"]["a2"]
    assert set(h5["per_run"]["a"]) >= {"rank_ic_mean", "rank_icir", "ls_net_sharpe"}
    assert h5["per_run"]["a"]["rank_ic_mean"] > h5["per_run"]["b"]["rank_ic_mean"]
    same, other = h5["pairs"]
    assert (same["a"], same["b"], other["a"], other["b"]) == ("a", "a2", "a", "b")
    assert same["rank_ic_diff"]["estimate"] == 0.0
    assert (same["rank_ic_diff"]["low"], same["rank_ic_diff"]["high"]) == (0.0, 0.0)
    assert (same["ls_sharpe_diff"]["low"], same["ls_sharpe_diff"]["high"]) == (0.0, 0.0)
    assert same["ls_sharpe_diff"]["estimate"] == 0.0
    assert same["dm_t"] is None and same["dm_p"] is None
    # b is the noisier signal: lower RankIC, a clearly negative DM statistic.
    ric = other["rank_ic_diff"]
    assert ric["low"] <= ric["estimate"] <= ric["high"] < 0
    assert other["dm_t"] < -2 and 0 <= other["dm_p"] < 0.05
    assert other["nw_lag"] == max(4, math.floor(4 * (days.len() / 100) ** (2 / 9)))
    assert ric["estimate"] == pytest.approx(
        h5["per_run"]["b"]["rank_ic_mean"] - h5["per_run"]["a"]["rank_ic_mean"]
    )
    ric_row = next(r for r in doc["rows"] if r["metric"] == "RankIC")
    assert set(ric_row["values"]) == {"a", "a2", "b"}

    every = json.loads(runner.invoke(app, [*args, "--json", "--all-pairs"], env=ENV).stdout)
    pairs = [(p["a"], p["b"]) for p in every["horizons"][0]["pairs"]]
    assert pairs == [("a", "a2"), ("a", "b"), ("a2", "b")] and every["reference"] is None


def test_compare_names_a_run_without_daily_series(synthetic_home):
    _run("old", D(2020, 10, 1), D(2020, 10, 31))
    (synthetic_home / "runs" / "old" / DAILY_FILE).unlink()
    result = CliRunner().invoke(app, ["compare", "old"], env=ENV)
    assert result.exit_code == 1
    assert (
        "daily.parquet missing" in result.output and "gogooku evaluate --run old" in result.output
    )
