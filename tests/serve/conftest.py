"""Fixtures: the shared tiny trained world (``world.py``) and a per-test home linked to it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch


def _load_world():
    spec = importlib.util.spec_from_file_location(
        "bundle_world", Path(__file__).parents[1] / "bundle" / "world.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WORLD = _load_world()


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def world_home(tmp_path_factory) -> Path:
    return WORLD.world(tmp_path_factory)


@pytest.fixture
def home(world_home, _isolated_home) -> Path:
    return WORLD.link_world(world_home, _isolated_home)
