"""A build's Polars work stays on the build's thread (Polars calls from several Python threads
deadlocked a build and crashed a test worker: ``docs/dataset.md``, "Performance, fifth round"),
and a ``whole_frame`` block runs once."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date

import polars as pl

from gogooku.dataset.build import build_dataset
from gogooku.dataset.panel_writer import passing_through
from gogooku.features.base import Block, BlockContext, Feature

from ..support.tables import TableStore
from .conftest import RETURNS_BLOCK

SPAN = (date(2020, 8, 3), date(2021, 2, 26))


def _panel(result) -> pl.DataFrame:
    return pl.read_parquet(result.path / "panel.parquet")


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
    assert _panel(result)["Code"].n_unique() > 1  # several chunks
    assert seen == {threading.current_thread().name}


def test_the_cache_writer_gets_each_chunk_on_the_callers_thread_before_the_caller():
    frames = [pl.DataFrame({"x": [i]}) for i in range(3)]
    events: list[tuple[str, int, str]] = []

    def consume(chunk: pl.DataFrame) -> None:
        events.append(("cache", chunk["x"].item(), threading.current_thread().name))

    for chunk in passing_through(frames, consume):
        events.append(("panel", chunk["x"].item(), threading.current_thread().name))
    me = threading.current_thread().name
    assert events == [(role, i, me) for i in range(3) for role in ("cache", "panel")]


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
    stocks = _panel(whole)["Code"].n_unique()
    assert per_chunk == [1] * stocks
    assert once == [max(once)] and once[0] >= stocks
    assert _panel(whole).equals(_panel(chunked))
