"""Writing the panel's chunks on a thread while the next chunk is computed (``write_behind``).

A full build computes the panel chunk by chunk and writes each one twice, to ``panel.parquet``
(LZ4) and to the dense cache (a float32 scatter and ``pwrite``s). Done in turn, the writes
(about a fifth of a 4,000-stock build) leave the blocks' second core idle, and the blocks'
single-threaded stretches leave the writer's core idle. ``write_behind(chunks, write)`` runs
``write`` (which consumes an iterable of chunks, e.g. ``write_panel``) on a thread and feeds it
the chunks of ``chunks`` as the calling thread produces them. Polars, pyarrow's LZ4 and
``os.pwrite`` release the GIL, so the two overlap.

Memory: a chunk is handed over only once the writer has dropped the previous one, so at most
two chunks live at a time (the one being written and the one being computed) — one more than
writing in turn. The order of the chunks and the bytes written are those of the serial path.

Errors: an exception in the writer stops the producer at its next hand-over and is re-raised in
the calling thread; an exception in the producer (or a ``KeyboardInterrupt``) ends the writer's
input early and is re-raised after the writer has stopped (so ``write`` can clean up, e.g.
drop its temporary file, before the caller does).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Overlap:
    """Seconds of a ``write_behind``: the calling thread's waits for the writer (``waited``), the
    writer's busy time (``writer_wall``: not waiting for a chunk) and its thread CPU."""

    waited: float
    writer_wall: float
    writer_cpu: float


class _Stopped(Exception):
    """The producer failed: the writer's input ends with an error instead of its last item."""


class _Handoff:
    """One slot between the producer and the writer thread."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.item: object | None = None
        self.full = False
        self.closed = False
        self.failed = False
        self.busy = False  # the writer holds an item it took
        self.ended = False  # the writer returned or failed
        self.writer_error: BaseException | None = None
        self.wait_seconds = 0.0
        self.idle_seconds = 0.0  # the writer waiting for the next item

    def put(self, item: object) -> bool:
        """Hand ``item`` over once the writer has finished the previous one; False if the writer
        ended first."""
        with self.cond:
            t0 = time.perf_counter()
            while (self.full or self.busy) and not self.ended:
                self.cond.wait()
            self.wait_seconds += time.perf_counter() - t0
            if self.ended:
                return False
            self.item, self.full = item, True
            self.cond.notify_all()
            return True

    def items(self) -> Iterator[object]:
        """The writer's side: the handed-over items, until ``close`` (or ``_Stopped`` on failure)."""
        while True:
            with self.cond:
                self.busy = False
                self.cond.notify_all()
                t0 = time.perf_counter()
                while not self.full and not self.closed:
                    self.cond.wait()
                self.idle_seconds += time.perf_counter() - t0
                if self.full:
                    item, self.item, self.full = self.item, None, False
                    self.busy = True
                elif self.failed:
                    raise _Stopped
                else:
                    return
            yield item
            del item

    def close(self, failed: bool) -> None:
        with self.cond:
            self.closed, self.failed = True, failed
            self.cond.notify_all()

    def end(self, error: BaseException | None) -> None:
        """The writer returned (``error`` None) or raised ``error``."""
        with self.cond:
            self.ended, self.writer_error = True, error
            self.cond.notify_all()


def write_behind(chunks: Iterable[T], write: Callable[[Iterable[T]], R]) -> tuple[R, Overlap]:
    """``write(chunks)`` with ``write`` on a thread, fed as ``chunks`` are produced (module doc).

    Returns ``write``'s result and its :class:`Overlap` seconds.
    """
    slot = _Handoff()
    result: list[R] = []
    spent: list[float] = []

    def run() -> None:
        error: BaseException | None = None
        t0, cpu0 = time.perf_counter(), time.thread_time()
        try:
            result.append(write(slot.items()))
        except BaseException as exc:  # re-raised in the calling thread
            error = exc
        finally:
            spent[:] = [time.perf_counter() - t0 - slot.idle_seconds, time.thread_time() - cpu0]
            slot.end(error)

    thread = threading.Thread(target=run, name="gogooku-write-behind", daemon=True)
    thread.start()
    failed, handed = True, True
    try:
        for chunk in chunks:
            handed = slot.put(chunk)
            del chunk
            if not handed:
                break
        failed = False
    finally:
        slot.close(failed)
        t0 = time.perf_counter()
        thread.join()
        slot.wait_seconds += time.perf_counter() - t0
    if slot.writer_error is not None:
        raise slot.writer_error
    if not result or not handed:
        raise RuntimeError("the panel writer returned before taking every chunk")
    return result[0], Overlap(slot.wait_seconds, *spent)
