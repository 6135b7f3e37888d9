"""Small synthetic markets shared by the side-dataset tests (generated once per session)."""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest

from gogooku.synth.config import SynthConfig
from gogooku.synth.market import SyntheticMarket, generate_market

SMALL = SynthConfig(seed=11, stocks=150, start=date(2020, 1, 1), end=date(2021, 12, 31))
PREFIX_END = date(2021, 3, 10)


@pytest.fixture(scope="session")
def small_config() -> SynthConfig:
    return SMALL


@pytest.fixture(scope="session")
def prefix_end() -> date:
    """End of the shorter market (a Wednesday, mid-week for the weekly datasets)."""
    return PREFIX_END


@pytest.fixture(scope="session")
def market() -> SyntheticMarket:
    """150 stocks over 2020-2021 (includes 2020-10-01 and high-vol regime days)."""
    return generate_market(SMALL)


@pytest.fixture(scope="session")
def prefix_market() -> SyntheticMarket:
    """The same market generated only up to ``PREFIX_END``."""
    return generate_market(
        SynthConfig(seed=SMALL.seed, stocks=SMALL.stocks, start=SMALL.start, end=PREFIX_END)
    )


@pytest.fixture(scope="session")
def measures() -> ModuleType:
    """``signal_measures.py`` of this folder (tests run with ``--import-mode=importlib``)."""
    path = Path(__file__).with_name("signal_measures.py")
    spec = importlib.util.spec_from_file_location("synth_side_signal_measures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
