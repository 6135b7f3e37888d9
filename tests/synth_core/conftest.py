"""Markets shared by the synth_core tests (generated once per session, small sizes)."""

from __future__ import annotations

from datetime import date

import pytest

from gogooku.synth.config import SynthConfig
from gogooku.synth.market import SyntheticMarket, generate_market

GOLDEN = SynthConfig(seed=7, stocks=200, start=date(2019, 1, 1), end=date(2020, 12, 31))
SIGNALS = SynthConfig(seed=7, stocks=300, start=date(2019, 1, 1), end=date(2022, 12, 31))


@pytest.fixture(scope="session")
def golden_market() -> SyntheticMarket:
    """200 stocks x 2 years (2019-2020, includes the 2020-10-01 halt), core tables only."""
    return generate_market(GOLDEN, side_tables=False)


@pytest.fixture(scope="session")
def signal_market() -> SyntheticMarket:
    """300 stocks x 4 years: enough stock-days to measure planted strengths per regime."""
    return generate_market(SIGNALS, side_tables=False)
