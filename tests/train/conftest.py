"""Small run configs for the tiny synthetic dataset (24 stocks, 2020) of tests/conftest.py.

``home`` (tests/conftest.py) is this test's GOGOOKU_HOME with the session's dataset (returns and
sector blocks) linked in; ``config_file`` an ATFT config for it (window 10, hidden size 16).
``apex_home`` links the session's dataset with the market block too, and ``apex_config_file`` is
an APEX config for it (loader window 6, APEX window 5, hidden size 8).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from gogooku.models.output import ModelOutput

from ..support.configs import SPLITS

CONFIG = (
    SPLITS
    + """
[data.loader]
window = 10
days_per_batch = 2
seed = 3

[model]
kind = "atft"
hidden_size = 16
attention_heads = 2
gat_heads = 1
window = 10
static_embedding_dim = 2

[train]
epochs = 2
lr = 0.003
seed = 5
progress = false
diagnostics_every = 10

[target]
horizons = [1, 5, 20]
"""
)

APEX_CONFIG = (
    SPLITS
    + """
[data.loader]
window = 6
days_per_batch = 4
seed = 3

[model]
kind = "apex"
window = 5
hidden_size = 8
attention_heads = 2
encoder_layers = 1
attention_layers = 1
market_blocks = ["market"]

[train]
epochs = 1
lr = 0.003
seed = 5
progress = false

[target]
horizons = [1, 5, 20]

[loss]
top_rank = 0.5
top_k = 5
"""
)


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def apex_home(tiny_market, link_home) -> Path:
    """This test's GOGOOKU_HOME with the session's raw store and dataset ``tiny`` built with the
    returns, sector and market blocks linked in."""
    return link_home(tiny_market("returns,sector,market"))


@pytest.fixture
def apex_config_file(tmp_path) -> Path:
    path = tmp_path / "apex.toml"
    path.write_text(APEX_CONFIG)
    return path


class LastDayLinear(nn.Module):
    """A small stand-in for the ATFT: a linear map of the last day's features (after dropout),
    a quantile head, and a ``"skip"`` branch (a second linear map, scaled by ``branch_scale``)."""

    def __init__(self, n_features: int, horizons: list[int], branch_scale: float = 1.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(0.2)
        self.point = nn.Linear(n_features, len(horizons))
        self.spread = nn.Linear(n_features, len(horizons))
        self.branch = nn.Linear(n_features, 2)
        self.branch_scale = branch_scale
        self.levels = (0.1, 0.5, 0.9)

    def forward(self, batch) -> ModelOutput:
        x = self.drop(batch.x[:, -1])
        point = self.point(x)
        width = nn.functional.softplus(self.spread(x))
        quantiles = torch.stack([point - width, point, point + width], dim=-1)
        branches = {"skip": self.branch(x) * self.branch_scale}
        return ModelOutput(point, quantiles, branches, self.levels)


class Constant(nn.Module):
    """Predicts one learned value for every stock (the collapse the guard must catch)."""

    def __init__(self, horizons: list[int]) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.zeros(len(horizons)))

    def forward(self, batch) -> ModelOutput:
        b, n = batch.mask.shape
        return ModelOutput(self.value.expand(b, n, -1).clone())


@pytest.fixture
def linear_builder():
    def build(n_features, horizons, _cardinalities, branch_scale: float = 1.0):
        return LastDayLinear(n_features, horizons, branch_scale)

    return build


@pytest.fixture
def constant_builder():
    return lambda _f, horizons, _c: Constant(horizons)


@pytest.fixture
def tiny_cfg(config_file):
    """The conftest config with the fast loss (no quantile head needed by Constant)."""
    from gogooku.train.config import load_run_config

    return load_run_config(config_file)


@pytest.fixture
def cache_and_fold(home, tiny_cfg):
    from gogooku.dataset.build import dataset_dir
    from gogooku.dataset.cache import open_cache
    from gogooku.train.run import select_fold

    return open_cache(dataset_dir("tiny")), select_fold("tiny", tiny_cfg, 0)
