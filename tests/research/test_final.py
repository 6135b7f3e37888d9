"""``gogooku evaluate --final`` on a small synthetic dataset with a 20-day hold-out: the final
run, the ledger line with every field, the refusal of a second scoring, ``--again`` appending
a second line, and the ledger's first line unchanged byte for byte."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.dataset.holdout import read_holdout
from gogooku.runs import load_run, read_predictions
from gogooku.train.config import load_run_config

from ..support.configs import SPLITS
from ..support.markets import TINY_BUILD

CONFIG = (
    SPLITS
    + """
[target]
horizons = [1, 5]
main_horizon = 5

[model]
kind = "factor"
factor = "reversal"
"""
)


def _cli(*args: str) -> object:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def held_market(tiny_home, tmp_path_factory) -> Path:
    """A GOGOOKU_HOME with the tiny market's raw store and dataset ``ho`` (returns and sector)
    built from it with a 20-day hold-out (once per module)."""
    home = tmp_path_factory.mktemp("held")
    (home / "raw").symlink_to(tiny_home / "raw", target_is_directory=True)
    build = [*TINY_BUILD[:-1], "ho", "--blocks", "returns,sector", "--holdout", "20d"]
    result = CliRunner().invoke(app, build, env={"GOGOOKU_HOME": str(home)})
    assert result.exit_code == 0, result.output
    assert "hold-out: " in result.output
    return home


@pytest.fixture
def held(held_market, link_home, tmp_path) -> Path:
    """This test's home: ``held_market`` linked in and run ``src`` of the factor baseline on
    fold 0 of ``ho``."""
    home = link_home(held_market)
    config = tmp_path / "factor.toml"
    config.write_text(CONFIG)
    result = _cli(
        "train", "--model", "factor", "--dataset", "ho", "--config", str(config), "--run", "src"
    )
    assert result.exit_code == 0, result.output
    return home


def test_evaluate_final_scores_the_holdout_once_and_records_it(held):
    holdout = read_holdout(held / "datasets" / "ho")
    dates = pl.read_parquet(held / "datasets" / "ho" / "panel.parquet")["Date"].unique().sort()
    assert holdout.start == dates[-20] and holdout.end == date(2020, 12, 30)
    # the ordinary run never reaches the hold-out
    src = load_run(held / "runs" / "src")
    assert src.ranges.test[1] < holdout.start
    splits_file = held.parent / "splits.toml"
    splits_file.write_text(SPLITS.replace("[data.splits]", "[splits]"))
    splits = _cli("splits", "--dataset", "ho", "--config", str(splits_file))
    assert f"hold-out: {holdout.start} → 2020-12-30 (20 days" in splits.output
    as_json = _cli("splits", "--dataset", "ho", "--config", str(splits_file), "--json")
    assert json.loads(as_json.output)["holdout"] == {
        "start": holdout.start.isoformat(),
        "end": "2020-12-30",
        "days": 20,
    }

    first = _cli("evaluate", "--run", "src", "--final")
    assert first.exit_code == 0, first.output
    assert f"hold-out {holdout.start}..2020-12-30 of ho" in first.output
    assert "hold-out  5d: RankIC" in first.output
    final = held / "runs" / "src-final"
    info = load_run(final)
    assert info.params["holdout"] is True and info.params["source_run"] == "src"
    assert info.ranges.test == (holdout.start, holdout.end)
    assert info.ranges.valid[1] < holdout.start
    preds = read_predictions(final)
    assert preds.filter(pl.col("split") == "test")["Date"].min() == holdout.start
    metrics = json.loads((final / "metrics.json").read_text())
    assert metrics["splits"]["test"]["first_date"] == holdout.start.isoformat()

    ledger = held / "holdout" / "ledger.jsonl"
    first_bytes = ledger.read_bytes()
    lines = first_bytes.decode().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert set(entry) == {
        "who",
        "when",
        "run",
        "final_run",
        "model",
        "dataset",
        "holdout",
        "config_hash",
        "code_version",
        "figures",
        "again",
    }
    assert (entry["run"], entry["final_run"], entry["dataset"]) == ("src", "src-final", "ho")
    assert entry["holdout"] == {"start": holdout.start.isoformat(), "end": "2020-12-30"}
    assert entry["again"] is False and entry["who"] and entry["when"].endswith("+00:00")
    assert len(entry["config_hash"]) == 64
    from gogooku.research.ledger import config_hash

    assert entry["config_hash"] == config_hash(
        load_run_config(held / "runs" / "src" / "config.toml")
    )
    assert set(entry["figures"]) == {"1d", "5d"}
    fig = entry["figures"]["5d"]
    assert set(fig) == {
        "rank_ic_mean",
        "rank_ic_ci",
        "rank_icir",
        "long_short_sharpe",
        "long_short_sharpe_ci",
    }
    assert (
        fig["rank_ic_mean"] == metrics["splits"]["test"]["horizons"]["5d"]["signal"]["rank_ic_mean"]
    )

    # ordinary evaluation of a run reaching into the hold-out is refused; the final run itself
    # may be re-evaluated (it is recorded)
    assert _cli("evaluate", "--run", "src-final").exit_code == 0

    second = _cli("evaluate", "--run", "src", "--final")
    assert second.exit_code == 1
    assert "already scored 1 time(s)" in second.output and "--again" in second.output
    assert ledger.read_bytes() == first_bytes
    assert not (held / "runs" / "src-final-2").exists()

    third = _cli("evaluate", "--run", "src", "--final", "--again")
    assert third.exit_code == 0, third.output
    assert "(again)" in third.output
    after = ledger.read_bytes()
    assert after.startswith(first_bytes)  # append-only: the first line unchanged byte for byte
    lines = after.decode().splitlines()
    assert len(lines) == 2
    again = json.loads(lines[1])
    assert again["again"] is True and again["final_run"] == "src-final-2"
    assert again["config_hash"] == entry["config_hash"]


def test_evaluate_final_refusals(held):
    bad = _cli("evaluate", "--run", "src", "--again")
    assert bad.exit_code == 2 and "--again goes with --final" in bad.output
    bad = _cli("evaluate", "--run", "src", "--final", "--top-k", "3")
    assert bad.exit_code == 2 and "--top-k" in bad.output
    assert not (held / "holdout" / "ledger.jsonl").exists()


def test_evaluate_final_without_a_holdout_is_a_clear_error(tiny_home, link_home, tmp_path):
    link_home(tiny_home, ("raw", "datasets"))
    config = tmp_path / "factor.toml"
    config.write_text(CONFIG)
    ran = _cli(
        "train", "--model", "factor", "--dataset", "tiny", "--config", str(config), "--run", "t"
    )
    assert ran.exit_code == 0, ran.output
    result = _cli("evaluate", "--run", "t", "--final")
    assert result.exit_code == 1
    assert "dataset 'tiny' has no hold-out" in result.output
