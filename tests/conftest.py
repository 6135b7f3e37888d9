"""Shared test settings and fixtures.

Every test gets its own GOGOOKU_HOME, and torch one intra-op thread (tiny tensors on a shared
2-core machine: thread hand-offs cost more than the maths). ``tiny_market(blocks)`` is a
24-stock synthetic market (2020) fetched and built (dataset ``tiny``) through the real CLI once
per session and block list; ``link_home(source)`` links its folders into the test's home.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

TINY_FETCH = [
    "fetch", "--source", "synthetic", "--seed", "11", "--stocks", "24",
    "--start", "2020-01-01", "--end", "2020-12-31",
    "--datasets", "equities_bars_daily,equities_master,indices_topix",
]  # fmt: skip
TINY_BUILD = ["build", "--start", "2020-03-02", "--end", "2020-12-30", "--name", "tiny"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "gogooku_home"
    monkeypatch.setenv("GOGOOKU_HOME", str(home))
    monkeypatch.delenv("JQUANTS_API_KEY", raising=False)
    monkeypatch.delenv("JQUANTS_PLAN", raising=False)
    return home


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_market(tmp_path_factory) -> Callable[[str], Path]:
    """``build(blocks)``: the GOGOOKU_HOME holding the tiny market's raw store and its dataset
    ``tiny`` built with the comma-separated ``blocks`` (made on first use in the session)."""
    from gogooku.cli import app

    def build(blocks: str) -> Path:
        home = tmp_path_factory.getbasetemp() / f"tiny_market_{blocks.replace(',', '_')}"
        if (home / "done").exists():
            return home
        for args in (TINY_FETCH, [*TINY_BUILD, "--blocks", blocks]):
            result = CliRunner().invoke(app, args, env={"GOGOOKU_HOME": str(home)})
            assert result.exit_code == 0, result.output
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
