"""Small hand-made day batches for the ATFT model tests (shapes as ``DayBatchLoader`` yields)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from gogooku.dataset.cli import build_command
from gogooku.dataset.loader import DayBatch
from gogooku.models.atft_gat_fan import AtftConfig, AtftGatFan, build_atft
from gogooku.store.cli import fetch_command

HORIZONS = (1, 5, 10, 20)
CARDINALITIES = (5, 3, 2)


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


FETCH = [
    "fetch",
    "--source",
    "synthetic",
    "--seed",
    "11",
    "--stocks",
    "24",
    "--start",
    "2020-01-01",
    "--end",
    "2020-12-31",
    "--datasets",
    "equities_bars_daily,equities_master,indices_topix",
]
BUILD = ["build", "--start", "2020-04-01", "--end", "2020-12-30", "--name", "atft"]
BUILD += ["--blocks", "returns,sector,graph"]


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """A 24-stock synthetic dataset with the correlation graph, built through the real CLI."""
    home = tmp_path_factory.mktemp("atft_home")
    app = typer.Typer()
    app.command("fetch")(fetch_command)
    app.command("build")(build_command)
    runner = CliRunner()
    for args in (FETCH, BUILD):
        result = runner.invoke(app, args, env={"GOGOOKU_HOME": str(home)})
        assert result.exit_code == 0, result.output
    return home / "datasets" / "atft"
