"""APEX fixtures: synthetic day batches (no dataset) and a tiny synthetic dataset (24 stocks,
2020, blocks returns, sector and market) fetched and built through the real CLI once per
session, with a small run config for it (loader window 6, APEX window 5, hidden size 8)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gogooku.dataset.loader import DayBatch
from gogooku.models.apex import ApexConfig, ApexRanker, build_apex

HORIZONS = [1, 5, 20]
F, M, N, L = 6, 3, 12, 6

CONFIG = """
[data.splits]
scheme = "rolling"
train_days = 60
val_days = 20
test_days = 20
label_horizon = 20
purge_days = 21
first_day = 9

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


def make_batch(seed: int = 0, b: int = 2) -> DayBatch:
    """B days, N stocks, F normalised features + M raw market columns; stock 0 unlisted on every
    day of the window, stock 1 listed only on the last day, stock 2 not listed on the last day."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, L, N, F + M, generator=g)
    x[..., F:] = x[..., F:] * 0.02 + torch.arange(M) * 100.0  # raw levels (e.g. index values)
    x_mask = torch.ones(b, L, N, dtype=torch.bool)
    x_mask[:, :, 0] = False
    x_mask[:, :-1, 1] = False
    x_mask[:, -1, 2] = False
    mask = x_mask[:, -1].clone()
    y = torch.randn(b, N, len(HORIZONS), generator=g)
    static = torch.randint(0, 4, (b, N, 2), generator=g)
    return DayBatch(
        x=x,
        y=y,
        mask=mask,
        y_mask=mask.unsqueeze(-1) & torch.isfinite(y),
        x_mask=x_mask,
        static=static,
        codes=torch.arange(N).expand(b, N).clone(),
        dates=[None] * b,
        edges=None,
    )


def small_config(**overrides) -> ApexConfig:
    base = {"window": 5, "hidden_size": 8, "attention_heads": 2, "dropout": 0.0}
    return ApexConfig(**{**base, **overrides})


def small_model(seed: int = 0, n_market: int = M, **overrides) -> ApexRanker:
    torch.manual_seed(seed)
    return build_apex(small_config(**overrides), F, HORIZONS, (4, 4), n_market).eval()


@pytest.fixture(scope="session")
def tiny_home(tiny_market) -> Path:
    return tiny_market("returns,sector,market")


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "apex.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def home(tiny_home, link_home) -> Path:
    """This test's GOGOOKU_HOME with the session's raw store and dataset linked in."""
    return link_home(tiny_home)
