"""Small synthetic markets fetched and built through the real CLI, and the arguments that make them.

``TINY_FETCH``/``TINY_BUILD`` make the 24-stock 2020 market of ``tiny_market`` (tests/conftest.py);
the ``BASELINES_*`` constants the 30-stock market of the baselines tests, split by the real
walk-forward code into one fold whose date ranges are ``Market.ranges``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from gogooku.config import SplitConfig
from gogooku.dataset.splits import walk_forward
from gogooku.runs import Ranges
from gogooku.target import TargetConfig

TINY_FETCH = [
    "fetch", "--source", "synthetic", "--seed", "11", "--stocks", "24",
    "--start", "2020-01-01", "--end", "2020-12-31",
    "--datasets", "equities_bars_daily,equities_master,indices_topix",
]  # fmt: skip
TINY_BUILD = ["build", "--start", "2020-03-02", "--end", "2020-12-30", "--name", "tiny"]

BASELINES_HORIZONS = [1, 5, 10, 20]
BASELINES_FETCH = ["fetch", "--source", "synthetic", "--seed", "11", "--stocks", "30"]
BASELINES_FETCH += ["--start", "2019-10-01", "--end", "2020-12-31"]
BASELINES_FETCH += ["--datasets", "equities_master,equities_bars_daily,indices_topix"]
BASELINES_BUILD = ["build", "--start", "2020-02-03", "--end", "2020-12-30", "--name", "b1"]
BASELINES_BUILD += ["--blocks", "returns,sector"]
BASELINES_SPLITS = SplitConfig(
    scheme="rolling", train_days=100, val_days=40, test_days=40, label_horizon=20, max_folds=1
)


def run_cli(home: Path, *commands: Sequence[str]) -> Path:
    """Run each ``gogooku`` command line in ``commands`` with GOGOOKU_HOME=``home``; ``home``."""
    from gogooku.cli import app

    for args in commands:
        result = CliRunner().invoke(app, list(args), env={"GOGOOKU_HOME": str(home)})
        assert result.exit_code == 0, result.output
    return home


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


def fold_ranges(dates: list, config: SplitConfig = BASELINES_SPLITS) -> Ranges:
    fold = walk_forward(dates, config)[0]
    return Ranges(
        train=(fold.train.start, fold.train.end),
        valid=(fold.val.start, fold.val.end),
        test=(fold.test.start, fold.test.end),
    )
