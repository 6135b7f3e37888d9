"""Determinism (same seed → same bytes) and prefix stability in ``end`` of every table."""

from __future__ import annotations

import io
from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.synth.config import SynthConfig
from gogooku.synth.market import generate_market
from gogooku.synth.side import SIDE_DATASETS

CORE_DATASETS = ("markets_calendar", "equities_master", "equities_bars_daily", "indices_topix")
START = date(2019, 1, 1)
E1 = date(2020, 6, 30)
E2 = date(2020, 12, 31)


def _bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="uncompressed")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def short_and_long():
    short = generate_market(SynthConfig(seed=5, stocks=60, start=START, end=E1))
    long = generate_market(SynthConfig(seed=5, stocks=60, start=START, end=E2))
    return short, long


def test_every_dataset_is_generated():
    market = generate_market(SynthConfig(seed=5, stocks=30, start=START, end=date(2019, 3, 31)))
    assert set(market.tables) == set(CORE_DATASETS) | set(SIDE_DATASETS)
    for dataset_id in CORE_DATASETS:
        ep = ENDPOINTS[dataset_id]
        expected = {k: v for k, v in ep.schema.items() if k not in ep.premium_fields}
        assert dict(market.tables[dataset_id].schema) == expected, dataset_id


def test_same_seed_gives_identical_bytes_and_other_seeds_differ(short_and_long):
    short, _ = short_and_long
    again = generate_market(SynthConfig(seed=5, stocks=60, start=START, end=E1))
    other = generate_market(SynthConfig(seed=6, stocks=60, start=START, end=E1))
    for dataset_id, frame in short.tables.items():
        assert _bytes(frame) == _bytes(again.tables[dataset_id]), dataset_id
    assert _bytes(short.oracle) == _bytes(again.oracle)
    assert _bytes(short.peers) == _bytes(again.peers)
    for dataset_id in ("equities_master", "equities_bars_daily", "indices_topix"):
        assert _bytes(short.tables[dataset_id]) != _bytes(other.tables[dataset_id]), dataset_id
    assert _bytes(short.oracle) != _bytes(other.oracle)
    assert short.tables["markets_calendar"].equals(other.tables["markets_calendar"])


@pytest.mark.parametrize("dataset_id", CORE_DATASETS + SIDE_DATASETS)
def test_shorter_market_is_a_prefix_of_the_longer_one(short_and_long, dataset_id):
    """Rows dated (by the endpoint's date field) on or before E1 are identical in both."""
    short, long = short_and_long
    field = ENDPOINTS[dataset_id].date_field
    a = short.tables[dataset_id].filter(pl.col(field) <= E1)
    b = long.tables[dataset_id].filter(pl.col(field) <= E1)
    covered = ENDPOINTS[dataset_id].coverage_from
    if covered is not None and covered > E1:
        assert a.height == 0 and b.height == 0  # nothing before the API's coverage start
    else:
        assert a.height > 0 or dataset_id == "equities_earnings_calendar"
    assert_frame_equal(a, b)


def test_oracle_and_state_are_prefix_stable(short_and_long):
    short, long = short_and_long
    assert_frame_equal(short.oracle, long.oracle.filter(pl.col("Date") <= E1))
    n = len(short.state.days)
    assert short.state.days == long.state.days[:n]
    for name in ("listed", "market_vol", "high_vol_regime", "ret", "close", "volume", "adv",
                 "dividend", "adj_factor"):  # fmt: skip
        a, b = getattr(short.state, name), getattr(long.state, name)[:n]
        assert (
            a.shape == b.shape
            and (
                (a == b) | ((a != a) & (b != b))  # NaN == NaN
            ).all()
        ), name
