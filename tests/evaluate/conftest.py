"""Fixtures for the evaluation tests: small random cross-sections and a tiny synthetic dataset."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest


def make_cross_section(
    n_days: int = 6, n_codes: int = 40, seed: int = 0, ties: bool = False
) -> pl.DataFrame:
    """``Date, Code, pred, y``: y = 0.3·pred + noise, pred integer-valued when ``ties``."""
    rng = np.random.default_rng(seed)
    dates = [dt.date(2021, 1, 4) + dt.timedelta(days=i) for i in range(n_days)]
    pred = (
        rng.integers(0, 4, size=(n_days, n_codes)).astype(float)
        if ties
        else rng.normal(size=(n_days, n_codes))
    )
    y = 0.3 * pred + rng.normal(size=(n_days, n_codes))
    if ties:
        y = np.round(y)
    return pl.DataFrame(
        {
            "Date": [d for d in dates for _ in range(n_codes)],
            "Code": [f"{1000 + j}0" for _ in dates for j in range(n_codes)],
            "pred": pred.ravel(),
            "y": y.ravel(),
        }
    )


@pytest.fixture
def cross_section():
    """The :func:`make_cross_section` factory."""
    return make_cross_section


@pytest.fixture(scope="session")
def synthetic_home_template(tmp_path_factory):
    """A GOGOOKU_HOME with a small synthetic market and dataset ``t1`` (built once per session).

    24 stocks, raw data 2020-01-01..2020-12-31, panel 2020-04-01..2020-12-30 with the returns block.
    """
    from typer.testing import CliRunner

    from gogooku.cli import app

    home = tmp_path_factory.mktemp("eval_home")
    env = {"GOGOOKU_HOME": str(home)}
    runner = CliRunner()
    fetch = runner.invoke(
        app,
        [
            "fetch",
            "--source",
            "synthetic",
            "--seed",
            "7",
            "--stocks",
            "24",
            "--start",
            "2020-01-01",
            "--end",
            "2020-12-31",
            "--datasets",
            "equities_master,equities_bars_daily,indices_topix",
        ],
        env=env,
    )
    assert fetch.exit_code == 0, fetch.output
    build = runner.invoke(
        app,
        [
            "build",
            "--start",
            "2020-04-01",
            "--end",
            "2020-12-31",
            "--name",
            "t1",
            "--blocks",
            "returns",
        ],
        env=env,
    )
    assert build.exit_code == 0, build.output
    return home


@pytest.fixture
def synthetic_home(synthetic_home_template, tmp_path, monkeypatch):
    """A private copy of :func:`synthetic_home_template`, set as GOGOOKU_HOME."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(synthetic_home_template, home)
    monkeypatch.setenv("GOGOOKU_HOME", str(home))
    return home
