"""Seconds and peak-memory growth of a build's stages (``metadata.json``, ``stage_seconds``).

A :class:`StageClock` attributes time *exclusively*: while a stage runs inside another (a block
inside the chunk loop), the outer stage's clock stands still, so the stages' seconds add up to
the time spent inside any stage. Each stage gets

- ``wall``: ``time.perf_counter`` seconds;
- ``cpu``: ``time.process_time`` seconds (user + system of every thread of the process, so a
  Polars query's worker threads count towards the stage that runs it);
- ``rss_rise_mb``: how much the process's peak RSS (``ru_maxrss``) grew while the stage ran; the
  stage with the largest rise is where the build's peak memory is reached.

The clock is meant for the build's own thread (the build runs its stages on one thread).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StageClock:
    """Exclusive wall, CPU and peak-RSS growth per named stage (module doc)."""

    def __init__(self) -> None:
        self._totals: dict[str, list[float]] = {}
        self._stack: list[str] = []
        self._mark = self._now()

    @staticmethod
    def _now() -> tuple[float, float, float]:
        return time.perf_counter(), time.process_time(), _peak_rss_mb()

    def _accrue(self) -> None:
        now = self._now()
        if self._stack:
            total = self._totals.setdefault(self._stack[-1], [0.0, 0.0, 0.0])
            for i in range(3):
                total[i] += now[i] - self._mark[i]
        self._mark = now

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Attribute the time until the block ends (less any nested stage's) to ``name``."""
        self._accrue()
        self._stack.append(name)
        try:
            yield
        finally:
            self._accrue()
            self._stack.pop()

    def iterate(self, name: str, items: Iterable[T]) -> Iterator[T]:
        """``items``, the time spent producing each one attributed to ``name``."""
        iterator = iter(items)
        while True:
            with self.stage(name):
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            yield item

    def as_json(self) -> dict[str, dict[str, float]]:
        """``{stage: {"wall", "cpu", "rss_rise_mb"}}`` in the order the stages first ran."""
        return {
            name: {"wall": round(w, 3), "cpu": round(c, 3), "rss_rise_mb": round(r, 1)}
            for name, (w, c, r) in self._totals.items()
        }
