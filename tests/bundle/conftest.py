"""Fixtures: the shared tiny trained world (``world.py``) and a per-test home linked to it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _load_world():
    spec = importlib.util.spec_from_file_location(
        "bundle_world", Path(__file__).with_name("world.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WORLD = _load_world()


@pytest.fixture(scope="session")
def world_home(tmp_path_factory, tiny_market) -> Path:
    return WORLD.world(tmp_path_factory, tiny_market("returns,sector"))


@pytest.fixture
def home(world_home, link_home) -> Path:
    """This test's GOGOOKU_HOME with the world's raw/, datasets/ and runs/ linked in (bundles
    and the prediction store stay the test's own)."""
    return link_home(world_home, ("raw", "datasets", "runs"))
