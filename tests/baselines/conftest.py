"""A tiny synthetic market (30 stocks, 2019-10..2020-12) fetched and built once per session.

``market`` is the GOGOOKU_HOME template; ``home`` copies it per test and sets GOGOOKU_HOME. The
dataset ``b1`` (returns and sector blocks, panel 2020-02-03..2020-12-30) is split by the real
walk-forward code into one fold whose date ranges are ``Market.ranges``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.config import SplitConfig
from gogooku.dataset.splits import walk_forward
from gogooku.runs import Ranges
from gogooku.target import TargetConfig

HORIZONS = [1, 5, 10, 20]
FETCH = ["fetch", "--source", "synthetic", "--seed", "11", "--stocks", "30"]
FETCH += ["--start", "2019-10-01", "--end", "2020-12-31"]
FETCH += ["--datasets", "equities_master,equities_bars_daily,indices_topix"]
BUILD = ["build", "--start", "2020-02-03", "--end", "2020-12-30", "--name", "b1"]
BUILD += ["--blocks", "returns,sector"]
SPLITS = SplitConfig(
    scheme="rolling", train_days=100, val_days=40, test_days=40, label_horizon=20, max_folds=1
)


@dataclass(frozen=True)
class Market:
    home: Path
    panel: pl.DataFrame
    features: list[str]
    ranges: Ranges
    horizons: list[int]

    @property
    def target(self) -> TargetConfig:
        return TargetConfig(horizons=self.horizons)


def fold_ranges(dates: list, config: SplitConfig = SPLITS) -> Ranges:
    fold = walk_forward(dates, config)[0]
    return Ranges(
        train=(fold.train.start, fold.train.end),
        valid=(fold.val.start, fold.val.end),
        test=(fold.test.start, fold.test.end),
    )


@pytest.fixture(scope="session")
def market(tmp_path_factory) -> Market:
    home = tmp_path_factory.mktemp("baselines_home")
    runner = CliRunner()
    for args in (FETCH, BUILD):
        result = runner.invoke(app, args, env={"GOGOOKU_HOME": str(home)})
        assert result.exit_code == 0, result.output
    path = home / "datasets" / "b1"
    panel = pl.read_parquet(path / "panel.parquet")
    meta = json.loads((path / "features.json").read_text())
    features = [c["name"] for c in meta["columns"] if c["role"] == "feature"]
    dates = panel["Date"].unique().sort().to_list()
    return Market(home, panel, features, fold_ranges(dates), HORIZONS)


@pytest.fixture(scope="session")
def large_market(tmp_path_factory) -> Path:
    """A GOGOOKU_HOME with 100 stocks, panel ``b1`` 2019-10-01..2020-12-30 (for the slow test:
    on 30 stocks and 100 training days the planted signals drown in noise)."""
    home = tmp_path_factory.mktemp("baselines_large")
    fetch = ["fetch", "--source", "synthetic", "--seed", "11", "--stocks", "100"]
    fetch += ["--start", "2019-06-01", "--end", "2020-12-31", *FETCH[-2:]]
    build = ["build", "--start", "2019-10-01", *BUILD[3:]]
    runner = CliRunner()
    for args in (fetch, build):
        result = runner.invoke(app, args, env={"GOGOOKU_HOME": str(home)})
        assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def home(market, tmp_path, monkeypatch) -> Path:
    """A private copy of the market's GOGOOKU_HOME, set as GOGOOKU_HOME."""
    copy = tmp_path / "home"
    shutil.copytree(market.home, copy)
    monkeypatch.setenv("GOGOOKU_HOME", str(copy))
    return copy
