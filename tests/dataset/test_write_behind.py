"""``write_behind``: the writer thread gets every chunk in order, at most two chunks live at a
time, and an error on either side reaches the caller."""

from __future__ import annotations

import threading
import time
import weakref

import pytest

from gogooku.dataset.write_behind import write_behind


class Chunk:
    """A stand-in for a panel chunk that can be tracked with a weak reference."""

    def __init__(self, i: int) -> None:
        self.i = i


def test_writes_every_chunk_in_order_on_another_thread() -> None:
    seen: list[int] = []
    threads: set[str] = set()

    def write(chunks):
        for chunk in chunks:
            seen.append(chunk.i)
            threads.add(threading.current_thread().name)
        return len(seen)

    result, overlap = write_behind((Chunk(i) for i in range(7)), write)
    assert result == 7 and seen == list(range(7))
    assert threads == {"gogooku-write-behind"}
    assert overlap.waited >= 0 and overlap.writer_wall >= 0 and overlap.writer_cpu >= 0


def test_at_most_two_chunks_alive() -> None:
    live: weakref.WeakSet[Chunk] = weakref.WeakSet()
    most = [0]

    def produce():
        for i in range(6):
            chunk = Chunk(i)
            live.add(chunk)
            most[0] = max(most[0], len(live))
            yield chunk
            del chunk

    def write(chunks):
        for chunk in chunks:
            time.sleep(0.01)  # a slow writer: the producer runs ahead as far as it may
            most[0] = max(most[0], len(live))
            del chunk
        return None

    write_behind(produce(), write)
    assert most[0] <= 2


def test_writer_error_reaches_the_caller_and_stops_the_producer() -> None:
    produced: list[int] = []

    def produce():
        for i in range(100):
            produced.append(i)
            yield Chunk(i)

    def write(chunks):
        for chunk in chunks:
            if chunk.i == 2:
                raise ValueError("disk full at chunk 2")

    with pytest.raises(ValueError, match="chunk 2"):
        write_behind(produce(), write)
    assert len(produced) <= 4


def test_producer_error_ends_the_writer_first() -> None:
    cleaned: list[str] = []

    def produce():
        yield Chunk(0)
        raise KeyError("block x failed")

    def write(chunks):
        try:
            for _ in chunks:
                pass
        finally:
            cleaned.append("tmp removed")
        return "written"

    with pytest.raises(KeyError, match="block x"):
        write_behind(produce(), write)
    assert cleaned == ["tmp removed"]


def test_writer_returning_early_is_an_error() -> None:
    def write(chunks):
        next(iter(chunks))
        return "stopped after one"

    with pytest.raises(RuntimeError, match="before taking every chunk"):
        write_behind((Chunk(i) for i in range(5)), write)
