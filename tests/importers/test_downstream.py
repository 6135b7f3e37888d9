"""Every stage on imported data alone, through the CLI: build → train → walk-forward → evaluate →
bundle → predict → serve, on a home holding only JPX prices (universe benchmark, equal-weighted)
and on a home holding another market (XNYS tickers: JPX-only blocks skipped, 1-share lots)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gogooku.calendar import TradingCalendar
from gogooku.cli import app
from gogooku.importers.prices import import_prices
from gogooku.market import Market, save_market
from gogooku.serve.app import create_app
from gogooku.serve.auth import add_key
from gogooku.serve.config import ServeConfig
from gogooku.store.raw import RawStore

N_STOCKS, N_DAYS = 40, 300
CONFIG = """
[data.splits]
scheme = "rolling"
train_days = 120
val_days = 30
test_days = 30
label_horizon = 5
purge_days = 6

[target]
horizons = [1, 5]
main_horizon = 5

[evaluate]
top_k = 5
bootstrap = 10

[model]
kind = "linear"
"""
BLOCKS = "returns,volatility,limits,am,market,calendar"


def _walks(days: list[date], seed: int) -> np.ndarray:
    """(days, stocks) closes: geometric random walks with a small per-stock drift."""
    rng = np.random.default_rng(seed)
    drift = rng.normal(0.0, 0.001, N_STOCKS)
    steps = drift + rng.normal(0.0, 0.015, (len(days), N_STOCKS))
    return np.round(100.0 * np.exp(np.cumsum(steps, axis=0)), 2)


def _bars(days: list[date], codes: list[str], closes: np.ndarray) -> pl.DataFrame:
    close = closes.ravel()
    return pl.DataFrame(
        {
            "Date": [d for d in days for _ in codes],
            "Code": codes * len(days),
            "O": close,
            "H": close * 1.01,
            "L": close * 0.99,
            "C": close,
            "Vo": np.full(close.size, 1e5),
            "Va": close * 1e5,
            "AdjFactor": np.ones(close.size),
        }
    )


def _kaggle_csv(path: Path, days: list[date]) -> Path:
    codes = [str(1301 + 7 * i) for i in range(N_STOCKS)]
    bars = _bars(days, codes, _walks(days, 1))
    bars.select(
        RowId=pl.col("Date").dt.strftime("%Y%m%d") + "_" + pl.col("Code"),
        Date=pl.col("Date").dt.strftime("%Y-%m-%d"),
        SecuritiesCode=pl.col("Code").cast(pl.Int64),
        Open="O",
        High="H",
        Low="L",
        Close="C",
        Volume="Vo",
        AdjustmentFactor="AdjFactor",
        ExpectedDividend=pl.lit(None, dtype=pl.Float64),
        SupervisionFlag=pl.lit(False),
        Target=pl.lit(0.0),
    ).write_csv(path)
    return path


def _xnys_store(raw: Path) -> list[date]:
    import exchange_calendars as xc

    sessions = xc.get_calendar("XNYS").sessions_in_range("2020-03-02", "2021-06-30")
    days = [d.date() for d in sessions][:N_DAYS]
    store = RawStore(raw)
    tickers = [f"T{i:02d}" for i in range(N_STOCKS - 2)] + ["AAPL", "BRK.B"]
    bars = _bars(days, tickers, _walks(days, 2))
    store.write_unit("equities_bars_daily", "import:us.csv", bars, {}, source="import:us.csv")
    weekdays = pl.date_range(days[0], date(2021, 12, 31), eager=True).filter(
        pl.date_range(days[0], date(2021, 12, 31), eager=True).dt.weekday() <= 5
    )
    open_days = set(days) | {d for d in weekdays.to_list() if d > days[-1]}
    calendar = pl.DataFrame(
        {
            "Date": weekdays,
            "HolDiv": ["1" if d in open_days else "0" for d in weekdays.to_list()],
        }
    )
    store.write_unit("markets_calendar", "import:us.csv", calendar, {}, source="import:us.csv")
    save_market(raw, Market("XNYS"))
    return days


def _cli(home: Path, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"GOGOOKU_HOME": str(home)})
    assert result.exit_code == 0, result.output
    return result.output


def _loop(home: Path, tmp_path: Path, start: date, end: date) -> dict:
    """build → train → walkforward → evaluate → bundle → promote → predict → serve; returns the
    walk-forward run's metrics.json."""
    config = tmp_path / "run.toml"
    config.write_text(CONFIG)
    _cli(home, "build", "--start", str(start), "--end", str(end), "--name", "d",
         "--blocks", BLOCKS, "--holdout", "none")  # fmt: skip
    _cli(home, "train", "--model", "linear", "--dataset", "d", "--config", str(config),
         "--run", "one")  # fmt: skip
    _cli(home, "walkforward", "--model", "linear", "--dataset", "d", "--config", str(config),
         "--folds", "last:2", "--run", "wf")  # fmt: skip
    evaluated = _cli(home, "evaluate", "--run", "wf")
    assert "benchmark: universe (equal-weighted) (auto: benchmark 'topix'" in evaluated
    _cli(home, "bundle", "--run", "one", "--name", "m")
    _cli(home, "promote", "m", "v0001")
    predicted = _cli(home, "predict", "--bundle", "m")
    assert f"scores of m@v0001 for {end}" in predicted
    keys = home / "keys.json"
    key = add_key(keys, "alice")
    serve = ServeConfig(models=["m"], api_keys_file=keys, max_data_age_s=0)
    with TestClient(create_app(serve)) as client:
        ranks = client.get("/v1/rankings", params={"top_k": 3}, headers={"X-API-Key": key})
        assert ranks.status_code == 200, ranks.text
        body = ranks.json()
        assert body["count"] == 3 and body["data_date"] == str(end)
        codes = [r["code"] for r in body["rankings"]]
    metrics = json.loads((home / "runs" / "wf" / "metrics.json").read_text())
    metrics["served_codes"] = codes
    return metrics


def _skipped(home: Path) -> dict[str, str]:
    index = json.loads((home / "datasets" / "d" / "features.json").read_text())
    return {s["block"]: s["reason"] for s in index["skipped"]}


@pytest.mark.slow
def test_jpx_prices_alone_go_through_every_stage(tmp_path, _isolated_home):
    home = _isolated_home
    days = TradingCalendar.from_xtks(date(2021, 1, 4), date(2022, 6, 30)).days(
        date(2021, 1, 4), date(2022, 6, 30)
    )[:N_DAYS]
    import_prices(_kaggle_csv(tmp_path / "stock_prices.csv", days), RawStore(home / "raw"))
    metrics = _loop(home, tmp_path, days[30], days[-10])
    assert metrics["market"] == {"name": "XTKS", "jpx": True, "lot_size": 100}
    assert metrics["benchmark"]["name"] == "universe"
    assert metrics["benchmark"]["weighting"] == "equal"
    assert "indices_topix" in metrics["benchmark"]["reason"]
    assert "ShOutFY" in metrics["benchmark"]["reason"]
    lo = metrics["splits"]["test"]["horizons"]["5d"]["portfolio"]["long_only"]
    assert lo["benchmark"] == "universe"
    # The equal-weighted universe is the backtest's own equal-weight series.
    assert lo["bench"]["mean_daily"] == pytest.approx(lo["benchmark_ew"]["mean_daily"], abs=1e-12)
    report = (home / "runs" / "wf" / "report.html").read_text()
    assert "universe (equal-weighted)" in report and "TOPIX" not in report
    daily = pl.read_parquet(home / "runs" / "wf" / "daily.parquet")
    assert daily["bench"].drop_nulls().len() > 0
    skipped = _skipped(home)
    assert skipped["market"] == "no raw data for source(s) indices_topix"
    assert "limits" not in skipped
    assert all(len(c) == 5 for c in metrics["served_codes"])
    # A benchmark that cannot be built: a message naming what is missing, nothing rewritten.
    run = home / "runs" / "wf"
    saved = (run / "config.toml").read_text()
    assert saved.count('benchmark = "auto"') == 1
    (run / "config.toml").write_text(saved.replace('benchmark = "auto"', 'benchmark = "index:SPX"'))
    before = (run / "metrics.json").read_bytes()
    result = CliRunner().invoke(app, ["evaluate", "--run", "wf"], env={"GOGOOKU_HOME": str(home)})
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "indices_bars_daily rows with Code == 'SPX'" in result.output
    assert "no closes in the raw store" in result.output
    assert (run / "metrics.json").read_bytes() == before


@pytest.mark.slow
def test_another_market_skips_jpx_blocks_and_trades_single_shares(tmp_path, _isolated_home):
    home = _isolated_home
    days = _xnys_store(home / "raw")
    assert date(2020, 10, 1) in days
    metrics = _loop(home, tmp_path, days[30], days[-10])
    meta = json.loads((home / "datasets" / "d" / "metadata.json").read_text())
    assert meta["market"] == {"name": "XNYS", "jpx": False, "lot_size": 1}
    skipped = _skipped(home)
    assert skipped["limits"] == (
        "JPX-only (JPX daily price limits (UL/LL)); the store holds market XNYS"
    )
    assert skipped["am"].startswith("JPX-only (TSE morning/afternoon session times)")
    assert skipped["market"] == "no raw data for source(s) indices_topix"
    panel = pl.read_parquet(home / "datasets" / "d" / "panel.parquet")
    assert not panel["is_halt_20201001"].any()
    assert panel.filter(pl.col("Date") == date(2020, 10, 1)).height == N_STOCKS
    assert {"AAPL", "BRK.B"} <= set(panel["Code"].unique())
    assert metrics["market"] == {"name": "XNYS", "jpx": False, "lot_size": 1}
    assert metrics["benchmark"]["name"] == "universe"
    positions = pl.read_parquet(home / "runs" / "wf" / "daily.parquet")
    assert positions["lo_net"].drop_nulls().len() > 0
    assert set(metrics["served_codes"]) <= set(panel["Code"].unique())
