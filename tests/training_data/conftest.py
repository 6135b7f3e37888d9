"""A tiny synthetic market (30 stocks, 2020) fetched and built through the real CLI, once per session.

The build uses two core blocks (``returns``; ``sector``, which carries the categorical ids), so
the cache tests do not depend on every feature block of the registry.

``built`` is that dataset (its cache written by ``gogooku build``). ``holey`` is a copy whose panel
lost some rows — a stock listing late, one delisting early, random missing days — with the cache
rewritten from it, so masked stocks and absent rows are exercised.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from gogooku.dataset.cache_writer import write_cache
from gogooku.dataset.cli import build_command
from gogooku.store.cli import fetch_command

FETCH = [
    "fetch",
    "--source",
    "synthetic",
    "--seed",
    "7",
    "--stocks",
    "30",
    "--start",
    "2020-01-01",
    "--end",
    "2020-12-31",
    "--datasets",
    "equities_bars_daily,equities_master,indices_topix",
]
BUILD = ["build", "--start", "2020-03-02", "--end", "2020-12-30", "--name", "td"]
BUILD += ["--blocks", "returns,sector"]


@dataclass(frozen=True)
class Built:
    path: Path
    panel: pl.DataFrame


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    home = tmp_path_factory.mktemp("td_home")
    # the two real commands, registered as in gogooku.cli (without the rest of the CLI)
    app = typer.Typer()
    app.command("fetch")(fetch_command)
    app.command("build")(build_command)
    runner = CliRunner()
    env = {"GOGOOKU_HOME": str(home)}
    for args in (FETCH, BUILD):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
    path = home / "datasets" / "td"
    return Built(path, pl.read_parquet(path / "panel.parquet"))


@pytest.fixture(scope="session")
def holey(built, tmp_path_factory) -> Built:
    path = tmp_path_factory.mktemp("holey") / "td"
    path.mkdir()
    shutil.copy(built.path / "features.json", path / "features.json")
    codes = sorted(built.panel["Code"].unique().to_list())
    dates = sorted(built.panel["Date"].unique().to_list())
    rng = np.random.default_rng(5)
    drop = pl.Series(rng.random(built.panel.height) < 0.03)
    panel = built.panel.filter(
        ~drop
        & ~((pl.col("Code") == codes[0]) & (pl.col("Date") < dates[40]))
        & ~((pl.col("Code") == codes[1]) & (pl.col("Date") > dates[150]))
    )
    panel.write_parquet(path / "panel.parquet")
    write_cache(path)
    return Built(path, panel)
