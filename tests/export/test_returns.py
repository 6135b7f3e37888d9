"""``gogooku export returns``: empyrical and quantstats on the exported book give metrics.json's
figures; pyfolio-layout positions sum to the NAV; a stale evaluation is refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.runs import read_predictions, write_predictions
from gogooku.store.raw import RawStore

from .conftest import RUN

runner = CliRunner()


def _export(home, *args):
    result = runner.invoke(app, ["export", "returns", RUN, *args])
    assert result.exit_code == 0, result.output
    out = home / "runs" / RUN / "export"
    return out, json.loads((out / "returns.json").read_text())


@pytest.mark.parametrize("strategy", ["long_short", "long_only"])
def test_empyrical_and_quantstats_give_the_evaluators_figures(export_home, strategy):
    import empyrical as ep
    import quantstats as qs

    out, manifest = _export(export_home, "--strategy", strategy, "--horizon", "5")
    metrics = json.loads((export_home / "runs" / RUN / "metrics.json").read_text())
    test = metrics["splits"]["test"]
    ppy = manifest["periods_per_year"]
    assert ppy == test["periods_per_year"]
    frame = pd.read_parquet(out / "returns.parquet").set_index("date")
    for column, key in (("ret_net", "net"), ("ret_gross", "gross")):
        expected = test["horizons"]["5d"]["portfolio"][strategy][key]
        returns = frame[column]
        assert len(returns) == expected["n_days"]
        assert ep.annual_return(returns, annualization=ppy) == pytest.approx(
            expected["annual_return"], rel=1e-9
        )
        assert ep.sharpe_ratio(returns, annualization=ppy) == pytest.approx(
            expected["sharpe"], rel=1e-9
        )
        assert ep.max_drawdown(returns) == pytest.approx(expected["max_drawdown"], rel=1e-9)
        assert ep.annual_volatility(returns, annualization=ppy) == pytest.approx(
            expected["annual_volatility"], rel=1e-9
        )
        assert qs.stats.sharpe(returns, periods=ppy) == pytest.approx(expected["sharpe"], rel=1e-9)
        assert qs.stats.max_drawdown(returns) == pytest.approx(expected["max_drawdown"], rel=1e-9)


@pytest.mark.parametrize("strategy", ["long_short", "long_only"])
def test_positions_are_pyfolios_layout_and_sum_to_the_nav(export_home, strategy):
    out, manifest = _export(export_home, "--strategy", strategy, "--horizon", "5")
    returns = pl.read_parquet(out / "returns.parquet")
    positions = pl.read_parquet(out / "positions.parquet")
    assert positions.columns[-1] == "cash" and positions["date"].equals(returns["date"])
    values = positions.drop("date", "cash")
    np.testing.assert_allclose(
        values.sum_horizontal() + positions["cash"], returns["nav"], rtol=1e-12
    )
    held = (values.to_numpy() != 0).sum(axis=1)
    assert held.max() == (5 if strategy == "long_only" else 10)  # top_k = 5 per leg
    if strategy == "long_only":
        assert (values.to_numpy() >= 0).all()
        np.testing.assert_allclose(
            np.abs(values.to_numpy()).sum(axis=1) + positions["cash"], returns["nav"], rtol=1e-12
        )
    else:
        assert (values.to_numpy() < 0).any()
    # a value is shares times the raw close: read the shares back at the stock's close
    day = positions["date"][1].date()
    bars = RawStore(export_home / "raw").scan("equities_bars_daily")
    row = bars.filter(pl.col("Date") == day).collect().sort("Code")
    code = next(c for c in row["Code"] if c in values.columns and values[c][1] != 0)
    close = row.filter(pl.col("Code") == code)["C"][0]
    shares = abs(values[code][1]) / close
    assert shares >= 100 and shares == pytest.approx(round(shares / 100) * 100, rel=1e-9)
    assert manifest["strategy"] == strategy and manifest["benchmark"] == "topix"


def test_benchmark_is_daily_parquets_bench(export_home):
    out, manifest = _export(export_home, "--horizon", "1")
    bench = pl.read_csv(out / "benchmark.csv", try_parse_dates=True)
    daily = pl.read_parquet(export_home / "runs" / RUN / "daily.parquet").filter(
        (pl.col("split") == "test") & (pl.col("horizon") == 1)
    )
    both = bench.join(daily, left_on="date", right_on="Date")
    assert both.height == bench.height == manifest["days"]
    np.testing.assert_allclose(both["benchmark"], both["bench"], rtol=1e-12)


def test_stale_evaluation_is_refused(export_home):
    run_dir = export_home / "runs" / RUN
    preds = read_predictions(run_dir)
    write_predictions(run_dir, preds.with_columns(-pl.col("pred_5d")))
    result = runner.invoke(app, ["export", "returns", RUN, "--horizon", "5"])
    assert result.exit_code == 1
    assert "backtest run again from the predictions differs from" in result.output
    assert not (run_dir / "export").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "momentum"], "unknown strategy 'momentum'; one of long_only, long_short"),
        (["--split", "train"], "split 'train' has no backtest; the evaluator backtests valid"),
        (["--split", "valid", "--horizon", "10"], "no horizon 10; the run predicts [1, 5, 20]"),
    ],
)
def test_bad_arguments_are_clear_errors(export_home, args, message):
    result = runner.invoke(app, ["export", "returns", RUN, *args])
    assert result.exit_code == 1
    assert message in result.output


def test_pyfolio_positions_by_hand():
    import datetime as dt

    from gogooku.export.returns import pyfolio_positions

    days = [dt.date(2024, 1, 4), dt.date(2024, 1, 5), dt.date(2024, 1, 9)]
    daily = pl.DataFrame({"Date": days, "nav": [100.0, 110.0, 90.0]})
    positions = pl.DataFrame(
        {
            "Date": [days[0], days[0], days[2]],
            "Code": ["2000", "1000", "1000"],
            "weight": [0.5, -0.25, 0.1],
        }
    )
    out = pyfolio_positions(daily, positions)
    assert out.columns == ["Date", "1000", "2000", "cash"]
    assert out["1000"].to_list() == [-25.0, 0.0, 9.0]
    assert out["2000"].to_list() == [50.0, 0.0, 0.0]
    assert out["cash"].to_list() == [75.0, 110.0, 81.0]


def test_transactions_trade_the_days_turnover(export_home):
    out, _ = _export(export_home, "--strategy", "long_short", "--horizon", "5")
    returns = pl.read_parquet(out / "returns.parquet")
    trades = pl.read_parquet(out / "transactions.parquet")
    assert trades.columns == ["date", "symbol", "amount", "price"]
    assert (trades["amount"] % 100 == 0).all()  # whole lots
    traded = trades.group_by("date").agg(value=(pl.col("amount").abs() * pl.col("price")).sum())
    days = returns.with_columns(nav_before=pl.col("nav").shift(1)).join(
        traded, on="date", how="left"
    )
    days = days.with_columns(pl.col("value").fill_null(0.0)).slice(1)
    np.testing.assert_allclose(days["value"] / days["nav_before"], days["turnover"], rtol=1e-9)
    assert (days["turnover"] > 0).sum() == 3  # 20 signal days: trades on decisions 6, 11, 16
