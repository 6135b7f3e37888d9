"""A live build equals the backfill: the calendar is fetched ahead, blocks are planned from the
data usable by ``--end``, and the latest-only earnings calendar accumulates dated snapshots.

One 20-stock synthetic market fetched through the CLI up to D (``short``), then grown in a copy to
D + 40 trading days (``full``); both built with the calendar and earnings blocks, whose five
calendar-dependent columns changed before D on the old code.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gogooku.calendar import TradingCalendar
from gogooku.dataset.asof import asof_join
from gogooku.dataset.plan import plan_blocks
from gogooku.features.base import BlockContext
from gogooku.features.earnings import BLOCK as EARNINGS
from gogooku.features.registry import BLOCKS
from gogooku.store.raw import RawStore

from ..support.markets import run_cli
from ..support.tables import TableStore

START, D, FULL_END = date(2020, 10, 1), date(2020, 11, 27), date(2021, 1, 27)
DATASETS = (
    "equities_bars_daily,equities_master,indices_topix,fins_earnings_date,"
    "equities_earnings_calendar,fins_summary"
)
BLOCK_NAMES = "calendar,earnings"
NEXT_DAY = "equities_earnings_calendar"


def _fetch(end: date) -> list[str]:
    return [
        *("fetch", "--source", "synthetic", "--seed", "5", "--stocks", "20"),
        *("--start", START.isoformat(), "--end", end.isoformat(), "--datasets", DATASETS),
    ]


def _build(end: date) -> list[str]:
    return [
        *("build", "--start", "2020-10-02", "--end", end.isoformat()),
        *("--name", "cal", "--blocks", BLOCK_NAMES),
    ]


@pytest.fixture(scope="module")
def homes(tmp_path_factory) -> tuple[Path, Path]:
    """(store fetched up to D and built to D, the same store grown to FULL_END and built)."""
    short = tmp_path_factory.mktemp("calendar_ahead_short")
    run_cli(short, _fetch(D))
    full = tmp_path_factory.mktemp("calendar_ahead_full")
    shutil.copytree(short / "raw", full / "raw")
    run_cli(short, _build(D))
    run_cli(full, _fetch(FULL_END), _build(FULL_END))
    return short, full


def _dataset(home: Path) -> tuple[pl.DataFrame, dict]:
    folder = home / "datasets" / "cal"
    return pl.read_parquet(folder / "panel.parquet"), json.loads(
        (folder / "features.json").read_text()
    )


def test_a_build_on_a_store_ending_at_d_equals_the_full_build_up_to_d(homes):
    short_home, full_home = homes
    short, short_index = _dataset(short_home)
    full, full_index = _dataset(full_home)
    assert short["Date"].max() == D and full["Date"].max() == FULL_END
    assert short_index["null_columns"] == full_index["null_columns"] == []
    features = [c["name"] for c in short_index["columns"] if c["role"] == "feature"]
    assert features == [c["name"] for c in full_index["columns"] if c["role"] == "feature"]
    assert {"is_month_end", "days_to_sq", "days_to_next_session", "earn_within_5d"} <= set(features)
    keys = ["Code", "Date"]
    assert short.select(*keys, *features).equals(
        full.filter(pl.col("Date") <= D).select(*keys, *features)
    )
    # The last day is fully known: it does not wait for the next month's first session.
    assert short.filter(pl.col("Date") == D)["days_to_next_session"].null_count() == 0
    calendar = RawStore(short_home / "raw").scan("markets_calendar").collect()
    assert calendar["Date"].max() == date(2021, 12, 31)  # published ahead, like J-Quants


@pytest.fixture(scope="module")
def full_tables(homes) -> tuple[dict[str, pl.DataFrame], TradingCalendar]:
    store = RawStore(homes[1] / "raw")
    tables = {
        name: store.scan(name).collect() for name in ("markets_calendar", *DATASETS.split(","))
    }
    return tables, TradingCalendar.from_frame(tables["markets_calendar"])


def _plan(store, calendar: TradingCalendar, end: date) -> tuple[list, dict]:
    selected, skipped = plan_blocks(None, store, BLOCKS, usable_by=(calendar, end))
    return [(b.name, b.null_features) for b in selected], skipped


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(offset=st.integers(0, 75))
# The first day: schedules are stored (PubDate 10-01) but usable only from the next day.
@example(offset=0)
def test_rows_after_end_never_change_the_plan(full_tables, offset):
    tables, calendar = full_tables
    end = calendar.days(START, FULL_END)[offset]
    assert _plan(TableStore(tables), calendar, end) == _plan(
        TableStore(tables, cut=end), calendar, end
    )


def test_blocks_are_planned_from_rows_usable_by_end(full_tables):
    tables, calendar = full_tables
    store = TableStore(tables)
    _, skipped = _plan(store, calendar, START)
    assert "fins_earnings_date" in skipped["earnings"]
    selected, _ = _plan(store, calendar, D)
    assert ("earnings", ()) in selected
    # The latest-only earnings calendar is optional: the block builds without any snapshot.
    without = TableStore({k: v for k, v in tables.items() if k != NEXT_DAY})
    assert ("earnings", ()) in _plan(without, calendar, FULL_END)[0]


def test_each_fetch_keeps_its_snapshot_and_the_block_uses_it_from_its_availability(
    homes, full_tables
):
    tables, calendar = full_tables
    units = RawStore(homes[1] / "raw").catalog.units(NEXT_DAY)
    assert [u.unit_key for u in units] == [D.isoformat(), FULL_END.isoformat()]
    snapshots = tables[NEXT_DAY]
    assert sorted(snapshots["Date"].unique()) == [u.date_min for u in units]
    # With the schedules removed, the next announcement comes from the snapshots alone: known on
    # each snapshot's availability day (its Date) for its codes, and on no other row.
    panel, _ = _dataset(homes[1])
    rows = panel.select("Code", "Date")
    only_snapshots = {**tables, "fins_earnings_date": tables["fins_earnings_date"].clear()}
    context = BlockContext(rows.lazy(), calendar, TableStore(only_snapshots), asof_join)
    out = EARNINGS.compute(context).collect()
    known = out.filter(pl.col("earn_days_to_next").is_not_null())
    assert known["earn_days_to_next"].to_list() == [0] * known.height
    expected = snapshots.select("Code", "Date").join(rows, on=["Code", "Date"])
    assert expected.height == snapshots.height
    assert sorted(known.select("Code", "Date").rows()) == sorted(expected.rows())
