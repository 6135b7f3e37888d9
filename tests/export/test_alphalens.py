"""``gogooku export alphalens``: alphalens-reloaded on the export reproduces the evaluator's daily
RankIC on the same days, and the timing adaptation is the one the labels use."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app

from .conftest import RUN

runner = CliRunner()


def _export(home, *args):
    result = runner.invoke(app, ["export", "alphalens", RUN, *args])
    assert result.exit_code == 0, result.output
    return home / "runs" / RUN / "export"


@pytest.mark.parametrize("horizon", [1, 5])
def test_alphalens_ic_is_the_evaluators_daily_rank_ic(export_home, horizon):
    import alphalens as al

    out = _export(export_home, "--horizon", str(horizon))
    factor_table = pd.read_parquet(out / "factor.parquet")
    factor = factor_table.set_index(["date", "asset"])["factor"]
    prices = pd.read_parquet(out / "prices.parquet").set_index("date")
    data = al.utils.get_clean_factor_and_forward_returns(
        factor, prices, periods=(horizon,), filter_zscore=None, quantiles=None, bins=1
    )
    ic = al.performance.factor_information_coefficient(data).iloc[:, 0].dropna()
    signal_of = factor_table.drop_duplicates("date").set_index("date")["signal_date"]
    alphalens_ic = pl.DataFrame(
        {"Date": signal_of.loc[ic.index].dt.date.to_list(), "alphalens": ic.to_numpy()}
    )
    daily = pl.read_parquet(export_home / "runs" / RUN / "daily.parquet").filter(
        (pl.col("split") == "test")
        & (pl.col("horizon") == horizon)
        & pl.col("rank_ic").is_not_null()
    )
    assert daily.height > 10
    assert sorted(alphalens_ic["Date"].to_list()) == daily["Date"].sort().to_list()
    both = daily.join(alphalens_ic, on="Date")
    np.testing.assert_allclose(both["alphalens"], both["rank_ic"], rtol=0, atol=1e-9)


def test_factor_is_dated_at_the_trade_day_and_prices_give_the_label(export_home, tmp_path):
    out = tmp_path / "al"
    _export(export_home, "--horizon", "5", "--out", str(out))
    assert not (export_home / "runs" / RUN / "export").exists()
    factor = pl.read_csv(
        out / "factor.csv", try_parse_dates=True, schema_overrides={"asset": pl.String}
    )
    prices = pl.read_parquet(out / "prices.parquet")
    days = prices["date"].dt.date().to_list()
    row = factor.row(0, named=True)
    t = days.index(row["date"])
    # the trade day is the session right after the signal date
    assert days[t - 1] == row["signal_date"]
    panel = pl.read_parquet(export_home / "datasets" / "tiny" / "panel.parquet")
    label = panel.filter((pl.col("Date") == row["signal_date"]) & (pl.col("Code") == row["asset"]))[
        "target_5d"
    ][0]
    column = prices[row["asset"]]
    # the panel stores labels as Float32
    assert column[t + 5] / column[t] - 1 == pytest.approx(label, rel=1e-6, abs=1e-7)
    manifest = json.loads((out / "alphalens.json").read_text())
    assert manifest["horizon"] == 5 and manifest["split"] == "test"
    assert manifest["rows"] == factor.height
    assert "get_clean_factor_and_forward_returns" in " ".join(manifest["python"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--horizon", "7"], "no horizon 7; the run predicts [1, 5, 20]"),
        (["--split", "holdout"], "unknown split 'holdout'"),
    ],
)
def test_bad_horizon_or_split_is_a_clear_error(export_home, args, message):
    result = runner.invoke(app, ["export", "alphalens", RUN, *args])
    assert result.exit_code == 1
    assert message in result.output
    assert not (export_home / "runs" / RUN / "export").exists()


def test_unevaluated_run_and_run_without_predictions_are_refused(export_home):
    run_dir = export_home / "runs" / RUN
    (run_dir / "metrics.json").unlink()
    result = runner.invoke(app, ["export", "alphalens", RUN])
    assert result.exit_code == 1
    assert f"run {RUN} is not evaluated (no metrics.json" in result.output
    (run_dir / "predictions.parquet").unlink()
    result = runner.invoke(app, ["export", "returns", RUN])
    assert result.exit_code == 1
    assert "predictions.parquet; nothing to export" in result.output
    assert not (run_dir / "export").exists()
