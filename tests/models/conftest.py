"""Small hand-made day batches for the ATFT and APEX model tests (shapes as ``DayBatchLoader``
yields), small models, and a 24-stock synthetic dataset with the correlation graph.

The baselines' market (``baselines_market``, ``baselines_home``) is in tests/conftest.py.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import torch

from gogooku.dataset.loader import DayBatch
from gogooku.models.apex import ApexConfig, ApexRanker, build_apex
from gogooku.models.atft_gat_fan import AtftConfig, AtftGatFan, build_atft

from ..support.markets import TINY_FETCH, run_cli

HORIZONS = (1, 5, 10, 20)
CARDINALITIES = (5, 3, 2)
APEX_HORIZONS = [1, 5, 20]
F, M, N, L = 6, 3, 12, 6


def make_batch(
    b: int = 2,
    length: int = 8,
    n: int = 7,
    f: int = 5,
    seed: int = 0,
    n_edges: int = 12,
    static_cols: int = len(CARDINALITIES),
) -> DayBatch:
    """Random features, all stocks listed, random static ids and ``n_edges`` random edges per day
    (``n_edges=0``: no graph, ``edges=None``)."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(b, n, dtype=torch.bool)
    y = torch.randn(b, n, len(HORIZONS), generator=g)
    static = (
        torch.stack(
            [torch.randint(0, CARDINALITIES[s], (b, n), generator=g) for s in range(static_cols)],
            dim=-1,
        )
        if static_cols
        else torch.zeros(b, n, 0, dtype=torch.long)
    )
    edges = None
    if n_edges:
        edges = [
            (torch.randint(0, n, (2, n_edges), generator=g), torch.rand(n_edges, generator=g))
            for _ in range(b)
        ]
    return DayBatch(
        x=torch.randn(b, length, n, f, generator=g),
        y=y,
        mask=mask,
        y_mask=mask.unsqueeze(-1) & torch.isfinite(y),
        x_mask=torch.ones(b, length, n, dtype=torch.bool),
        static=static,
        codes=torch.arange(n).expand(b, n).clone(),
        dates=[date(2020, 1, 6) + timedelta(days=i) for i in range(b)],
        edges=edges,
    )


def small_config(**overrides) -> AtftConfig:
    base = {"hidden_size": 16, "lstm_layers": 1, "attention_heads": 2, "window": 8, "fan_top_k": 2}
    return AtftConfig(**(base | overrides))


def small_model(seed: int = 0, f: int = 5, **overrides) -> AtftGatFan:
    torch.manual_seed(seed)
    model = build_atft(small_config(**overrides), f, HORIZONS, CARDINALITIES)
    return model.eval()


@pytest.fixture
def batch() -> DayBatch:
    return make_batch()


def make_apex_batch(seed: int = 0, b: int = 2) -> DayBatch:
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
    y = torch.randn(b, N, len(APEX_HORIZONS), generator=g)
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


def small_apex_config(**overrides) -> ApexConfig:
    base = {"window": 5, "hidden_size": 8, "attention_heads": 2, "dropout": 0.0}
    return ApexConfig(**{**base, **overrides})


def small_apex_model(seed: int = 0, n_market: int = M, **overrides) -> ApexRanker:
    torch.manual_seed(seed)
    return build_apex(small_apex_config(**overrides), F, APEX_HORIZONS, (4, 4), n_market).eval()


BUILD = ["build", "--start", "2020-04-01", "--end", "2020-12-30", "--name", "atft"]
BUILD += ["--blocks", "returns,sector,graph"]


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """The tiny market's 24 stocks (``TINY_FETCH``) built with the correlation graph (dataset
    ``atft``, panel 2020-04-01..2020-12-30) through the real CLI."""
    home = run_cli(tmp_path_factory.mktemp("atft_home"), TINY_FETCH, BUILD)
    return home / "datasets" / "atft"
