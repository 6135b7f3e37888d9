"""Every side table has the catalogue schema; tables are deterministic and prefix-stable."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.synth.config import SynthConfig
from gogooku.synth.market import generate_market
from gogooku.synth.side import SIDE_DATASETS, render_side_tables


def test_every_side_table_matches_the_catalogue_schema(side_market):
    tables = render_side_tables(side_market.state)
    assert set(tables) == set(SIDE_DATASETS)
    for dataset_id, frame in tables.items():
        assert list(frame.schema.items()) == list(ENDPOINTS[dataset_id].schema.items()), dataset_id
        assert frame.height > 0, dataset_id


def test_market_tables_include_the_side_tables(side_market):
    for dataset_id in SIDE_DATASETS:
        assert dataset_id in side_market.tables


def test_rows_are_unique_by_catalogue_key(side_market):
    for dataset_id in SIDE_DATASETS:
        key = list(ENDPOINTS[dataset_id].key)
        frame = side_market.tables[dataset_id]
        assert frame.select(key).is_duplicated().sum() == 0, (dataset_id, key)


def test_same_config_renders_identical_tables(side_market, small_config):
    again = render_side_tables(generate_market(small_config, side_tables=False).state)
    for dataset_id, frame in again.items():
        assert frame.equals(side_market.tables[dataset_id]), dataset_id


def test_another_seed_gives_different_tables():
    base = generate_market(
        SynthConfig(seed=5, stocks=60, start=date(2021, 3, 1), end=date(2021, 8, 31))
    )
    other = generate_market(
        SynthConfig(seed=6, stocks=60, start=date(2021, 3, 1), end=date(2021, 8, 31))
    )
    for dataset_id in SIDE_DATASETS:
        assert not other.tables[dataset_id].equals(base.tables[dataset_id]), dataset_id


@pytest.mark.parametrize("dataset_id", SIDE_DATASETS)
def test_prefix_stability(side_market, prefix_market, prefix_end, dataset_id):
    """Rows dated (by the catalogue date field) up to the shorter market's end are identical."""
    field = ENDPOINTS[dataset_id].date_field
    key = [field, *(k for k in ENDPOINTS[dataset_id].key if k != field)]
    short = prefix_market.tables[dataset_id].filter(pl.col(field) <= prefix_end).sort(key)
    long = side_market.tables[dataset_id].filter(pl.col(field) <= prefix_end).sort(key)
    covered = ENDPOINTS[dataset_id].coverage_from
    if covered is not None and covered > prefix_end:
        # the API holds nothing before its coverage start (EDINET large-volume: 2021-07-01)
        assert short.height == 0 and long.height == 0
    else:
        assert short.height > 0
    assert short.equals(long), dataset_id


def test_latents_are_prefix_stable(side_market, prefix_market):
    short, long = prefix_market.state.latents, side_market.state.latents
    n = len(short.days)
    for name in ("margin_z", "short_z", "flow_z", "surprise", "disclosure_day", "short_reported"):
        assert (getattr(short, name) == getattr(long, name)[:n]).all(), name
    c_short = short.contributions(prefix_market.state.universe)
    c_long = long.contributions(side_market.state.universe)
    for name, arr in c_short.items():
        assert (arr == c_long[name][:n]).all(), name
