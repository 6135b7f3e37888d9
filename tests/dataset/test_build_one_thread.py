"""A build's Polars work stays on the build's thread (Polars calls from several Python threads
deadlocked a build, and a test worker died in a threaded build: ``docs/dataset.md``,
"Performance, fifth round"); only the Parquet encoding of a chunk runs beside it, on pyarrow
objects (and the cache's ``pwrite`` calls, on NumPy buffers: ``test_cache_stream.py``). A
``whole_frame`` block runs once."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date

import polars as pl
import pyarrow.parquet as pq
import pytest

from gogooku.dataset.build import build_dataset
from gogooku.dataset.panel_writer import write_panel
from gogooku.features.base import Block, BlockContext, Feature

from ..support.tables import TableStore
from .conftest import RETURNS_BLOCK, read_panel

SPAN = (date(2020, 8, 3), date(2021, 2, 26))


def _counted(block: Block, calls: list[int], **changes) -> Block:
    def compute(ctx: BlockContext) -> pl.LazyFrame:
        calls.append(ctx.base.select(pl.col("Code").n_unique()).collect().item())
        return block.compute(ctx)

    return replace(block, compute=compute, **changes)


def _close_seen_from(name: str, seen: set[str]) -> Block:
    """A block returning the close that notes the thread it runs on."""

    def compute(ctx: BlockContext) -> pl.LazyFrame:
        seen.add(threading.current_thread().name)
        return ctx.base.select("Code", "Date", pl.col("AdjC").alias(name))

    return Block(
        name=name,
        sources=("equities_bars_daily",),
        availability="bars_same_day",
        lookback=0,
        features=(Feature(name, "the close", "AdjC", None),),
        compute=compute,
    )


def test_every_block_of_every_chunk_runs_on_the_building_thread(small_market):
    seen: set[str] = set()
    registry = {name: _close_seen_from(name, seen) for name in ("t_close_a", "t_close_b")}
    result = build_dataset(
        "one_thread",
        *SPAN,
        store=TableStore(small_market),
        registry=registry,
        show_progress=False,
        chunk_stocks=1,
    )
    assert read_panel(result)["Code"].n_unique() > 1  # several chunks
    assert seen == {threading.current_thread().name}


def _chunks(events: list[tuple[str, int, str]]):
    for i in range(3):
        events.append(("drawn", i, threading.current_thread().name))
        yield pl.DataFrame({"Code": [f"{i}0"], "Date": [date(2021, 1, 4)], "f": [float(i)]})


def test_a_chunk_is_encoded_on_a_helper_thread_while_the_caller_writes_its_cache(
    tmp_path, monkeypatch
):
    """The encode and ``beside`` of a chunk meet at a barrier (run in turn, they would time out);
    the next chunk is drawn only once both returned."""
    meet = threading.Barrier(2, timeout=20)
    events: list[tuple[str, int, str]] = []
    write_table = pq.ParquetWriter.write_table

    def encode(writer, table, **kwargs):
        meet.wait()
        events.append(("encoded", table["f"][0].as_py(), threading.current_thread().name))
        write_table(writer, table, **kwargs)

    def beside(chunk: pl.DataFrame) -> None:
        meet.wait()
        events.append(("cached", int(chunk["f"].item()), threading.current_thread().name))

    monkeypatch.setattr(pq.ParquetWriter, "write_table", encode)
    path = tmp_path / "panel.parquet"
    stats = write_panel(path, _chunks(events), ["f"], [], pl.Series("Code", ["00"]), beside)
    me = threading.current_thread().name
    assert stats.rows == 3 and pl.read_parquet(path)["f"].to_list() == [0.0, 1.0, 2.0]
    for i in range(3):
        drawn, *done = events[3 * i : 3 * i + 3]
        assert drawn == ("drawn", i, me)
        assert sorted(done) == [("cached", i, me), ("encoded", i, "gogooku-panel-encode_0")]


def test_an_encode_error_reaches_the_caller_and_leaves_no_file(tmp_path, monkeypatch):
    def fail(writer, table, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", fail)
    path = tmp_path / "panel.parquet"
    with pytest.raises(OSError, match="No space left"):
        write_panel(path, _chunks([]), ["f"], [], pl.Series("Code", ["00"]), lambda chunk: None)
    assert not list(tmp_path.iterdir())


def test_a_whole_frame_block_runs_once_and_equals_its_chunked_run(small_market):
    kwargs = {"store": TableStore(small_market), "show_progress": False, "chunk_stocks": 1}
    per_chunk: list[int] = []
    chunked = build_dataset(
        "chunked", *SPAN, registry={"t_returns": _counted(RETURNS_BLOCK, per_chunk)}, **kwargs
    )
    once: list[int] = []
    whole = build_dataset(
        "whole",
        *SPAN,
        registry={"t_returns": _counted(RETURNS_BLOCK, once, whole_frame=True)},
        **kwargs,
    )
    stocks = read_panel(whole)["Code"].n_unique()
    assert per_chunk == [1] * stocks
    assert once == [max(once)] and once[0] >= stocks
    assert read_panel(whole).equals(read_panel(chunked))
