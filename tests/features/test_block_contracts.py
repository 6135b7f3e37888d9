"""Contract tests for the core blocks: declared columns, dtypes, warm-up, stock boundaries."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from gogooku.calendar import TradingCalendar
from gogooku.features import (
    calendar_flags,
    limits,
    liquidity,
    market,
    returns,
    sector,
    technicals,
    volatility,
)
from gogooku.features.availability import AVAILABILITY
from gogooku.features.registry import BLOCKS
from gogooku.jquants.endpoints import ENDPOINTS

CORE = (returns, volatility, technicals, liquidity, limits, market, sector, calendar_flags)
PER_STOCK = (returns, volatility, technicals, liquidity, limits, market, calendar_flags)

# Capped distances to the last event: null means "no event within the cap", not warm-up.
EVENT_DISTANCES = {"days_since_limit", "days_since_split", "days_since_trade"}
# Booleans that are false (not null) until the window is complete.
NEVER_NULL = {f"is_{w}d_valid" for w in calendar_flags.VALID_WINDOWS}

START, END = date(2021, 1, 4), date(2022, 6, 30)


@pytest.fixture(scope="module")
def calendar() -> TradingCalendar:
    return TradingCalendar.from_xtks(date(2020, 6, 1), date(2022, 12, 31))


@pytest.fixture(scope="module")
def clean_base(calendar, make_base) -> pl.DataFrame:
    days = calendar.days(START, END)
    return make_base(["13010", "72030", "99840"], days, seed=3)


def test_registry_holds_every_core_block_with_known_rules_and_sources():
    core_names = {m.BLOCK.name for m in CORE}
    assert core_names <= set(BLOCKS)
    for module in CORE:
        block = module.BLOCK
        assert block.availability in AVAILABILITY
        assert set(block.sources) <= set(ENDPOINTS)
        windows = [f.window for f in block.features if f.window is not None]
        assert block.lookback >= max(windows) - 1, block.name
        for feature in block.features:
            assert feature.description and feature.formula, feature.name
            assert hasattr(pl, feature.dtype), feature.dtype
    total = sum(len(m.BLOCK.features) for m in CORE)
    assert 120 <= total <= 200


@pytest.mark.parametrize("module", CORE, ids=lambda m: m.BLOCK.name)
def test_output_has_exactly_the_declared_columns_and_dtypes(
    module, clean_base, calendar, make_context
):
    out = module.BLOCK.compute(make_context(clean_base, calendar)).collect()
    assert out.columns == ["Code", "Date", *module.BLOCK.feature_names]
    for feature in module.BLOCK.features:
        assert out.schema[feature.name] == getattr(pl, feature.dtype), feature.name
    assert out.select("Code", "Date").equals(clean_base.select("Code", "Date"))


@pytest.mark.parametrize("module", CORE, ids=lambda m: m.BLOCK.name)
def test_warm_up_rows_are_null_exactly_until_the_declared_window(
    module, clean_base, calendar, make_context
):
    """On stocks trading every day, a feature with window w is null on the first w − 1 rows of
    each stock and present from row w − 1 on (the declared windows are exact)."""
    out = module.BLOCK.compute(make_context(clean_base, calendar)).collect()
    out = out.with_columns(pl.int_range(pl.len()).over("Code").alias("_pos"))
    for feature in module.BLOCK.features:
        if feature.name in EVENT_DISTANCES:
            continue
        warm = (feature.window or 1) - 1
        col = pl.col(feature.name)
        early = out.filter(pl.col("_pos") < warm)
        late = out.filter(pl.col("_pos") >= warm)
        if feature.name in NEVER_NULL:
            assert out[feature.name].null_count() == 0
            assert not early[feature.name].any(), feature.name
            assert late[feature.name].all(), feature.name
            continue
        assert early.select(col.is_not_null().sum()).item() == 0, feature.name
        assert late.select(col.is_null().sum()).item() == 0, feature.name


@pytest.mark.parametrize("module", PER_STOCK, ids=lambda m: m.BLOCK.name)
def test_no_window_crosses_from_one_stock_into_the_next(module, calendar, make_base, make_context):
    """Two stocks stacked: the second stock's rows equal the values computed on it alone."""
    days = calendar.days(START, END)
    both = make_base(["13010", "72030"], days, seed=11)
    alone = both.filter(pl.col("Code") == "72030")
    got = (
        module.BLOCK.compute(make_context(both, calendar))
        .collect()
        .filter(pl.col("Code") == "72030")
    )
    want = module.BLOCK.compute(make_context(alone, calendar)).collect()
    assert got.equals(want)
    first = got.head(1)
    for feature in module.BLOCK.features:
        if (feature.window or 1) > 1 and feature.name not in NEVER_NULL | EVENT_DISTANCES:
            assert first[feature.name].is_null().all(), feature.name


def test_docs_list_every_core_column_with_its_formula():
    text = (Path(__file__).resolve().parents[2] / "docs" / "features.md").read_text()
    core = text.split("## Core blocks", 1)[1].split("\n## ", 1)[0]
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in core.splitlines()
        if line.startswith("| `")
    }
    declared = {f.name: f for m in CORE for f in m.BLOCK.features}
    assert set(rows) == set(declared)
    for name, feature in declared.items():
        assert feature.formula.replace("|", "\\|") in rows[name], name
