"""Where the build works on two threads: a chunk's plain blocks at once, the cache written beside
the panel file; a ``whole_frame`` block run once."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date

import polars as pl
import pytest

from gogooku.dataset.build import build_dataset
from gogooku.dataset.panel_writer import passing_through
from gogooku.features.base import Block, BlockContext, Feature

from ..support.tables import TableStore
from .conftest import RETURNS_BLOCK

SPAN = (date(2020, 8, 3), date(2021, 2, 26))


def _panel(result) -> pl.DataFrame:
    return pl.read_parquet(result.path / "panel.parquet")


def _meeting_block(name: str, barrier: threading.Barrier) -> Block:
    """A block that returns the close only once another block of its chunk runs too."""

    def compute(ctx: BlockContext) -> pl.LazyFrame:
        barrier.wait()
        return ctx.base.select("Code", "Date", pl.col("AdjC").alias(name))

    return Block(
        name=name,
        sources=("equities_bars_daily",),
        availability="bars_same_day",
        lookback=0,
        features=(Feature(name, "the close", "AdjC", None),),
        compute=compute,
    )


def test_a_chunks_plain_blocks_run_at_the_same_time(small_market):
    """Each block of a chunk waits for the other: run one after the other they would time out."""
    barrier = threading.Barrier(2, timeout=20)
    registry = {n: _meeting_block(n, barrier) for n in ("t_close_a", "t_close_b")}
    result = build_dataset(
        "meet",
        *SPAN,
        store=TableStore(small_market),
        registry=registry,
        show_progress=False,
        chunk_stocks=1,
    )
    panel = _panel(result)
    assert panel["Code"].n_unique() > 1  # several chunks, each met
    assert panel["t_close_a"].equals(panel["t_close_b"].alias("t_close_a"))
    assert panel["t_close_a"].is_not_null().any()


def _counted(block: Block, calls: list[int], **changes) -> Block:
    def compute(ctx: BlockContext) -> pl.LazyFrame:
        calls.append(ctx.base.select(pl.col("Code").n_unique()).collect().item())
        return block.compute(ctx)

    return replace(block, compute=compute, **changes)


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


def test_the_cache_writer_gets_each_chunk_while_the_caller_writes_it():
    """``consume`` runs on another thread while the caller holds the same chunk, and the next
    chunk is drawn only after it returned (one chunk alive)."""
    writing = threading.Event()
    drawn: list[int] = []
    consumed: list[tuple[int, int]] = []

    def chunks():
        for i in range(4):
            assert len(consumed) == i  # the previous chunk's consume has returned
            drawn.append(i)
            yield pl.DataFrame({"i": [i]})

    def consume(chunk: pl.DataFrame) -> None:
        assert writing.wait(10)  # the caller is writing this chunk meanwhile
        writing.clear()
        consumed.append((chunk["i"].item(), threading.get_ident()))

    for chunk in passing_through(chunks(), consume):
        assert chunk["i"].item() == len(drawn) - 1
        writing.set()
    assert drawn == [0, 1, 2, 3]
    assert [i for i, _ in consumed] == drawn
    assert {ident for _, ident in consumed} != {threading.get_ident()}


def test_an_error_of_the_cache_writer_reaches_the_caller():
    def consume(chunk: pl.DataFrame) -> None:
        if chunk["i"].item() == 1:
            raise ValueError("cache: disk full")

    written = []
    frames = (pl.DataFrame({"i": [i]}) for i in range(5))
    with pytest.raises(ValueError, match="disk full"):
        for chunk in passing_through(frames, consume):
            written.append(chunk["i"].item())
    assert written == [0, 1]
