"""The per-build side reader: each side dataset read once, the same rows in the same order, and
the same panel in stock chunks as in one chunk."""

from __future__ import annotations

import datetime as dt
import functools
from datetime import date
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.calendar import TradingCalendar
from gogooku.dataset.base import BASE_SOURCES, build_base
from gogooku.dataset.compute import (
    SIDE_SPILL_MIN_CHUNKS,
    panel_chunks,
    panel_labels,
    runs_on_whole_frame,
)
from gogooku.dataset.plan import plan_blocks
from gogooku.dataset.point_in_time import build_view
from gogooku.dataset.side_reader import SideReader
from gogooku.features import ops
from gogooku.features.registry import BLOCKS
from gogooku.store.raw import RawStore, UnitWrite

from ..support.tables import TableStore

START, END = date(2020, 9, 1), date(2020, 12, 30)
STOCKS = 6
# Per-stock blocks reading side datasets through ``ops.own_codes`` (and ``am`` the bars, and
# ``statements`` every stock's split factors), and ``valuation``: a cross-sectional block that
# reads a dataset the ``own`` block reads in chunks.
SIDE_BLOCKS = ("margin", "daily_margin", "short_positions", "statements", "dividends", "td")
SIDE_BLOCKS += ("own", "earnings", "breakdown", "am", "valuation", "returns")


class CountingStore(TableStore):
    """A ``TableStore`` counting the ``scan`` calls per dataset."""

    def __init__(self, tables: dict[str, pl.DataFrame]) -> None:
        super().__init__(tables)
        self.reads: dict[str, int] = {}

    def scan(self, dataset: str) -> pl.LazyFrame:
        self.reads[dataset] = self.reads.get(dataset, 0) + 1
        return super().scan(dataset)


@functools.cache
def _market() -> dict[str, pl.DataFrame]:
    """The smallest synthetic market (20 stocks), every stock table cut to ``STOCKS`` codes."""
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market
    from gogooku.synth.sessions import with_sessions

    config = SynthConfig(seed=5, stocks=20, start=date(2020, 6, 1), end=END)
    tables = dict(generate_market(config).tables)
    tables["equities_bars_daily"] = with_sessions(tables["equities_bars_daily"], config.seed)
    codes = tables["equities_bars_daily"]["Code"].unique().sort().head(STOCKS).implode()
    return {
        name: frame.filter(pl.col("Code").is_in(codes)) if "Code" in frame.columns else frame
        for name, frame in tables.items()
    }


def _chunks(store, tables, blocks, chunk_stocks: int, spill: Path) -> pl.DataFrame:
    calendar = TradingCalendar.from_frame(tables["markets_calendar"])
    base = build_base(TableStore(tables), calendar, date(2020, 6, 1), END)
    labels = panel_labels(base, START, END)
    spill.mkdir()
    return pl.concat(
        panel_chunks(
            blocks, base, labels, calendar, store, START, END, chunk_stocks, spill, False, {}, {}
        )
    )


def test_chunks_read_each_side_dataset_once_and_give_the_one_chunk_panel(tmp_path):
    tables = _market()
    blocks = list(plan_blocks(SIDE_BLOCKS, TableStore(tables), BLOCKS)[0])
    assert {b.name for b in blocks} == set(SIDE_BLOCKS)
    whole_store = CountingStore(tables)
    whole = _chunks(whole_store, tables, blocks, 10**6, tmp_path / "one")
    chunked_store = CountingStore(tables)
    chunked = _chunks(chunked_store, tables, blocks, 1, tmp_path / "five")
    assert whole["Code"].n_unique() >= SIDE_SPILL_MIN_CHUNKS  # a chunk per stock
    assert chunked.equals(whole)
    # Each side dataset of the chunked blocks is read once for all chunks; the valuation
    # block (cross-sectional) reads the store itself too.
    side = {s for b in blocks if not runs_on_whole_frame(b) for s in b.sources}
    side -= set(BASE_SOURCES)
    assert {"fins_summary", "markets_breakdown", "edinet_major_shareholders"} <= side
    reads = {d: chunked_store.reads.get(d, 0) for d in side}
    assert reads == {d: 2 if d == "equities_valuation" else 1 for d in side}
    # The bars (a base table: not spilled) are read as often as by one chunk, whatever the chunks:
    # ``am`` runs once on the whole frame and the split factors are read once for all chunks.
    bars = "equities_bars_daily"
    assert chunked_store.reads[bars] == whole_store.reads[bars] == 2
    # One chunk needs no spill: the blocks read the store directly, some datasets twice.
    assert max(whole_store.reads.values()) > 1
    # Below SIDE_SPILL_MIN_CHUNKS chunks neither: each chunk reads the store.
    few_store = CountingStore(tables)
    few = _chunks(few_store, tables, blocks, -(-whole["Code"].n_unique() // 3), tmp_path / "three")
    assert few.equals(whole)
    assert few_store.reads["fins_summary"] >= 3 > chunked_store.reads["fins_summary"]


def test_the_reader_gives_the_store_rows_in_the_store_order(tmp_path):
    tables = _market()
    store = TableStore(tables)
    codes = sorted(tables["equities_bars_daily"]["Code"].unique())
    reader = SideReader(store, codes[1::2], set(tables), tmp_path)
    for name in ("markets_margin_interest", "equities_bars_daily", "equities_investor_types"):
        expected = store.scan(name).collect()
        got = reader.scan(name).collect()
        assert got.schema == expected.schema and got.equals(expected), name
    chunk = pl.LazyFrame({"Code": codes[3:5]})
    mine = ops.own_codes(reader.scan("fins_summary"), chunk).collect()
    assert mine.equals(ops.own_codes(store.scan("fins_summary"), chunk).collect())
    assert mine["Code"].n_unique() == 2
    assert reader.reads == dict.fromkeys(reader.reads, 1)


@settings(max_examples=25, deadline=None, database=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["1000", "1301", "1302", "1400", "2000", "9999"]), st.integers(-5, 5)
        ),
        max_size=40,
    ),
    bounds=st.lists(st.sampled_from(["1301", "1302", "1400", "2000"]), min_size=1, unique=True),
    kept=st.sets(st.sampled_from(["1000", "1301", "1302", "1400", "2000", "9999"])),
)
def test_own_codes_through_the_reader_equal_the_store(tmp_path_factory, rows, bounds, kept):
    """Any rows, chunk bounds and kept codes: the reader's scan equals the store's, filtered or
    not, in order (codes before the first bound and between chunks included)."""
    frame = pl.DataFrame(
        {"Code": [r[0] for r in rows], "x": [r[1] for r in rows]},
        schema={"Code": pl.String, "x": pl.Int64},
    )

    class Store:
        def scan(self, dataset: str) -> pl.LazyFrame:
            return frame.lazy()

    reader = SideReader(Store(), sorted(bounds), {"d"}, tmp_path_factory.mktemp("side"))
    assert reader.scan("d").collect().equals(frame)
    chunk = pl.LazyFrame({"Code": sorted(kept)}, schema={"Code": pl.String})
    got = ops.own_codes(reader.scan("d"), chunk).collect()
    assert got.equals(ops.own_codes(frame.lazy(), chunk).collect())


def _raw_store(root: Path, tables: dict[str, pl.DataFrame], names: list[str]) -> RawStore:
    """``names`` of ``tables`` written to a raw store, one unit per month, fetched on 2020-01-01."""
    store = RawStore(root)
    fetched = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    for name in names:
        field = RawStore.date_field(name)
        months = tables[name].with_columns(pl.col(field).dt.strftime("%Y-%m").alias("_m"))
        units = [
            UnitWrite(str(m), part.drop("_m"), {"month": str(m)}, fetched_at=fetched)
            for (m,), part in months.group_by("_m", maintain_order=True)
        ]
        store.write_units(name, units)
    return store


def test_chunks_read_revised_side_records_as_one_chunk(tmp_path):
    """A side dataset with superseded versions (a margin month re-fetched with other values) goes
    through the point-in-time resolution once and gives the one-chunk panel."""
    tables = _market()
    margin = "markets_margin_interest"
    names = ["equities_bars_daily", "equities_master", "indices_topix", margin]
    store = _raw_store(tmp_path / "raw", tables, names)
    month = tables[margin].filter(pl.col("Date").dt.strftime("%Y-%m") == "2020-10")
    value = next(c for c, t in month.schema.items() if t.is_float())
    store.write_units(
        margin,
        [
            UnitWrite(
                "2020-10",
                month.with_columns(pl.col(value) * 1.5),
                {"month": "2020-10"},
                fetched_at=dt.datetime(2020, 11, 20, tzinfo=dt.UTC),
            )
        ],
    )
    assert store.vintage_files(margin)
    calendar = TradingCalendar.from_frame(tables["markets_calendar"])
    view = build_view(store, calendar, as_revised=False)
    blocks = list(plan_blocks(("margin", "returns"), view, BLOCKS)[0])
    whole = _chunks(view, tables, blocks, 10**6, tmp_path / "one")
    chunked = _chunks(view, tables, blocks, 2, tmp_path / "three")
    assert chunked.equals(whole)
