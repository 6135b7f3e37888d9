"""Shared test settings, and the fixtures used by several test folders.

Every test gets its own GOGOOKU_HOME, and torch one intra-op thread (tiny tensors on a shared
2-core machine: thread hand-offs cost more than the maths). ``tiny_market(blocks)`` is a
24-stock synthetic market (2020) fetched and built (dataset ``tiny``) through the real CLI once
per session and block list; ``link_home(source)`` links its folders into the test's home.
``tiny_home``/``home`` are that market with the returns and sector blocks (hpo, train);
``trained_world``/``world_home`` the runs trained on it (bundle, serve, ``support/world.py``);
``baselines_market``/``baselines_home`` the 30-stock market of the baselines (models, train).
``switch_market``: a 20-stock synthetic market over 2026-06..12, across the daily margin switch
(synth, features). ``postgres``: a throw-away PostgreSQL server for the session
(``support/postgres.py``; hpo, the prediction store), started on first use; ``pg_store`` a fresh
database on it for one test.

Hypothesis draws new examples on every run, except under ``HYPOTHESIS_PROFILE=ci`` (``.ci/run``):
there every property test draws the same examples each run (``derandomize``), so a CI failure is a
change's, not a draw's; a failing example is printed with its reproduction blob either way.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import torch
from hypothesis import settings

from gogooku.synth.config import SynthConfig
from gogooku.synth.market import SyntheticMarket, generate_market

from .support.markets import (
    BASELINES_BUILD,
    BASELINES_FETCH,
    BASELINES_HORIZONS,
    TINY_BUILD,
    TINY_FETCH,
    Market,
    fold_ranges,
    run_cli,
)
from .support.postgres import PostgresServer
from .support.world import world

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("default", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "gogooku_home"
    monkeypatch.setenv("GOGOOKU_HOME", str(home))
    monkeypatch.delenv("JQUANTS_API_KEY", raising=False)
    monkeypatch.delenv("JQUANTS_PLAN", raising=False)
    monkeypatch.delenv("GOGOOKU_STORE", raising=False)
    return home


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def pg_store(postgres) -> str:
    """The URL of a fresh database on the session's server."""
    return postgres.database(f"t{uuid.uuid4().hex}")


@pytest.fixture(scope="session")
def tiny_market(tmp_path_factory) -> Callable[[str], Path]:
    """``build(blocks)``: the GOGOOKU_HOME holding the tiny market's raw store and its dataset
    ``tiny`` built with the comma-separated ``blocks`` (made on first use in the session)."""

    def build(blocks: str) -> Path:
        home = tmp_path_factory.getbasetemp() / f"tiny_market_{blocks.replace(',', '_')}"
        if (home / "done").exists():
            return home
        run_cli(home, TINY_FETCH, [*TINY_BUILD, "--blocks", blocks])
        (home / "done").touch()
        return home

    return build


@pytest.fixture
def link_home(_isolated_home) -> Callable[..., Path]:
    """``link(source, names)``: this test's GOGOOKU_HOME with ``source/NAME`` linked in for each
    name (default raw/ and datasets/); everything else the test writes stays its own."""

    def link(source: Path, names: Sequence[str] = ("raw", "datasets")) -> Path:
        _isolated_home.mkdir(parents=True, exist_ok=True)
        for name in names:
            (_isolated_home / name).symlink_to(source / name, target_is_directory=True)
        return _isolated_home

    return link


@pytest.fixture(scope="session")
def tiny_home(tiny_market) -> Path:
    return tiny_market("returns,sector")


@pytest.fixture
def home(tiny_home, link_home) -> Path:
    """This test's GOGOOKU_HOME with ``tiny_home``'s raw store and dataset linked in."""
    return link_home(tiny_home)


@pytest.fixture(scope="session")
def trained_world(tmp_path_factory, tiny_home) -> Path:
    return world(tmp_path_factory, tiny_home)


@pytest.fixture
def world_home(trained_world, link_home) -> Path:
    """This test's GOGOOKU_HOME with the world's raw/, datasets/ and runs/ linked in (bundles
    and the prediction store stay the test's own)."""
    return link_home(trained_world, ("raw", "datasets", "runs"))


@pytest.fixture(scope="session")
def baselines_market(tmp_path_factory) -> Market:
    """30 stocks, 2019-10..2020-12, dataset ``b1`` (returns and sector blocks, panel
    2020-02-03..2020-12-30) with its one walk-forward fold; a GOGOOKU_HOME template."""
    home = run_cli(tmp_path_factory.mktemp("baselines_home"), BASELINES_FETCH, BASELINES_BUILD)
    path = home / "datasets" / "b1"
    panel = pl.read_parquet(path / "panel.parquet")
    meta = json.loads((path / "features.json").read_text())
    features = [c["name"] for c in meta["columns"] if c["role"] == "feature"]
    dates = panel["Date"].unique().sort().to_list()
    return Market(home, panel, features, fold_ranges(dates), BASELINES_HORIZONS)


@pytest.fixture(scope="session")
def baselines_large_home(tmp_path_factory) -> Path:
    """A GOGOOKU_HOME with 100 stocks, panel ``b1`` 2019-10-01..2020-12-30 (for the slow test:
    on 30 stocks and 100 training days the planted signals drown in noise)."""
    fetch = ["fetch", "--source", "synthetic", "--seed", "11", "--stocks", "100"]
    fetch += ["--start", "2019-06-01", "--end", "2020-12-31", *BASELINES_FETCH[-2:]]
    build = ["build", "--start", "2019-10-01", *BASELINES_BUILD[3:]]
    return run_cli(tmp_path_factory.mktemp("baselines_large"), fetch, build)


@pytest.fixture
def baselines_home(baselines_market, tmp_path, monkeypatch) -> Path:
    """A private copy of the baselines market's GOGOOKU_HOME, set as GOGOOKU_HOME."""
    copy = tmp_path / "home"
    shutil.copytree(baselines_market.home, copy)
    monkeypatch.setenv("GOGOOKU_HOME", str(copy))
    return copy


@pytest.fixture(scope="session")
def switch_market() -> SyntheticMarket:
    """20 stocks over 2026-06-01..2026-12-30: margin interest weekly, then daily from the
    application date 2026-09-25 (published from 2026-09-28)."""
    return generate_market(
        SynthConfig(seed=3, stocks=20, start=date(2026, 6, 1), end=date(2026, 12, 30))
    )
