"""The minute bars' daily summary (``equities_bars_minute_summary``): written in the same unit write
as the bars (paged or from bulk files), removed with them, crash-safe, derived afterwards for a
store written before it existed, and repaired from the bars when its partition is corrupt."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.dataset.plan import plan_blocks
from gogooku.features.registry import BLOCKS
from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.derived import DERIVED, MINUTE_BARS, MINUTE_SUMMARY, summarise_minute_bars
from gogooku.jquants.transport import ASGISyncTransport
from gogooku.settings import AddOn, Plan, get_settings
from gogooku.store.derive import derive, due_units
from gogooku.store.fetch import fetch
from gogooku.store.health import repair, store_problems
from gogooku.store.raw import RawStore, UnitWrite
from gogooku.store.sources import fetched_datasets
from gogooku.store.status import store_status
from gogooku.synth.api import create_app
from gogooku.synth.config import SynthConfig
from gogooku.synth.market import generate_market
from gogooku.synth.minute import minute_bars

D = dt.date
START, END = D(2024, 2, 1), D(2024, 3, 8)


@pytest.fixture(scope="module")
def market():
    config = SynthConfig(seed=3, stocks=20, start=START, end=END)
    return generate_market(config, side_tables=False, minute_days=12)


@pytest.fixture(scope="module")
def bars(market) -> pl.DataFrame:
    daily = market.tables["equities_bars_daily"].filter(pl.col("Date") >= D(2024, 2, 1))
    return minute_bars(daily.head(20 * 10), market.config.seed)


def day_units(bars: pl.DataFrame) -> list[UnitWrite]:
    return [
        UnitWrite(str(day), part, {"date": str(day)}, day, day)
        for (day,), part in bars.partition_by("Date", as_dict=True).items()
    ]


def assert_summary_of_stored_bars(store: RawStore) -> None:
    expected = summarise_minute_bars(store.scan(MINUTE_BARS).collect())
    assert expected.height > 0
    assert_frame_equal(store.scan(MINUTE_SUMMARY).collect(), expected, check_exact=True)
    parents = {r.unit_key: r for r in store.catalog.units(MINUTE_BARS)}
    summaries = {r.unit_key: r for r in store.catalog.units(MINUTE_SUMMARY)}
    assert parents.keys() == summaries.keys()
    for key, parent in parents.items():
        own = summaries[key]
        assert own.committed and parent.committed
        assert (own.fetched_at, own.query, own.source) == (
            parent.fetched_at,
            parent.query,
            parent.source,
        )


@pytest.mark.parametrize("bulk", [True, False])
def test_a_fetch_stores_the_summary_of_the_bars_it_stores(market, tmp_path, bulk):
    today = END
    server = create_app(market, api_key="k", plan=Plan.STANDARD, rate_limit=False, today=today)
    client = JQuantsClient(
        "k",
        plan=Plan.STANDARD,
        base_url="http://synthetic.local/v2",
        transport=ASGISyncTransport(server),
        pacing=False,
        today=today,
        addons=frozenset({AddOn.MINUTE}),
    )
    store = RawStore(tmp_path)
    with client:
        report = fetch(
            store,
            client,
            D(2024, 2, 26),
            END,
            [MINUTE_BARS],
            Plan.STANDARD,
            progress=False,
            today=today,
            bulk=bulk,
            addons=frozenset({AddOn.MINUTE}),
        )
    assert (report.results[MINUTE_BARS].bulk_files > 0) is bulk
    assert_summary_of_stored_bars(store)
    assert due_units(store, DERIVED[MINUTE_SUMMARY]) == []


def test_a_summary_does_not_depend_on_row_order_or_chunks(bars):
    """Bit-identical rows whatever the order and chunking of the bars (a re-fetch of unchanged
    bars, paged or from a bulk file, adds no vintage)."""
    shuffled = bars.sample(fraction=1.0, shuffle=True, seed=1)
    chunked = pl.concat(
        [shuffled.slice(i, 997) for i in range(0, shuffled.height, 997)], rechunk=False
    )
    assert chunked.n_chunks() > 1
    assert_frame_equal(
        summarise_minute_bars(chunked), summarise_minute_bars(bars), check_exact=True
    )


def test_removing_bar_units_removes_their_summary(bars, tmp_path):
    store = RawStore(tmp_path)
    units = day_units(bars)
    store.write_units(MINUTE_BARS, units)
    gone = [units[0].key, units[1].key]
    store.remove_units(MINUTE_BARS, gone)
    assert_summary_of_stored_bars(store)
    assert not {r.unit_key for r in store.catalog.units(MINUTE_SUMMARY)} & set(gone)


@pytest.mark.parametrize("failing", [MINUTE_BARS, MINUTE_SUMMARY])
def test_an_interrupted_write_never_commits_bars_without_their_summary(
    bars, tmp_path, monkeypatch, failing
):
    store = RawStore(tmp_path)
    units = day_units(bars)
    commit = RawStore._commit

    def crash(self, batch):
        if batch.dataset == failing:
            raise KeyboardInterrupt
        commit(self, batch)

    monkeypatch.setattr(RawStore, "_commit", crash)
    with pytest.raises(KeyboardInterrupt):
        store.write_units(MINUTE_BARS, units)
    assert not any(r.committed for r in store.catalog.units(MINUTE_BARS))
    monkeypatch.undo()
    store.write_units(MINUTE_BARS, units)  # what the next fetch does with the pending units
    assert_summary_of_stored_bars(store)


def test_derive_completes_a_store_written_before_the_summary(bars, monkeypatch):
    store = RawStore(get_settings().raw_dir)
    with monkeypatch.context() as patch:
        patch.setattr("gogooku.store.raw.derived_of", lambda dataset: ())
        store.write_units(MINUTE_BARS, day_units(bars))
    _, skipped = plan_blocks(["mb"], store, BLOCKS)
    assert "run `gogooku store derive`" in skipped["mb"]
    result = CliRunner().invoke(app, ["store", "derive"])
    assert result.exit_code == 0, result.output
    assert f"{MINUTE_SUMMARY}: 10 unit(s) derived from {bars.height} stored row(s)" in result.output
    assert_summary_of_stored_bars(store)
    assert derive(store)[0].units == 0
    modes = {line.dataset: line.fetch_mode for line in store_status(store)}
    assert modes[MINUTE_SUMMARY] == "derived"
    # bars rewritten by a version without the summary: the stale summary units are due again
    with monkeypatch.context() as patch:
        patch.setattr("gogooku.store.raw.derived_of", lambda dataset: ())
        store.write_units(MINUTE_BARS, day_units(bars)[:3])
    assert derive(store)[0].units == 3
    assert_summary_of_stored_bars(store)


def test_a_corrupt_summary_partition_is_repaired_from_the_stored_bars(bars, tmp_path):
    store = RawStore(tmp_path)
    store.write_units(MINUTE_BARS, day_units(bars))
    (path,) = store.partitions(MINUTE_SUMMARY)
    path.write_bytes(b"not parquet")
    problems = store_problems(store, fetched_datasets(store, [MINUTE_BARS]))
    assert [p.dataset for p in problems] == [MINUTE_SUMMARY]
    repair(store, problems)
    assert derive(store)[0].units == 10
    assert_summary_of_stored_bars(store)
