"""Proactive request pacing for the J-Quants V2 API.

Each limit of ``L`` requests per minute is a token bucket of **capacity 1** refilled at ``L/60``
tokens per second, i.e. a minimum spacing between admitted requests of::

    interval(L) = 60 / L * (1 + margin)        seconds (margin defaults to 0.05)

Why this never exceeds the limit: admissions are serialised and each is stamped with the clock
reading at admission; consecutive stamps of one bucket differ by at least ``interval(L)``. ``k``
admissions inside a closed window of 60 s span at least ``(k - 1) * interval(L)``, so
``(k - 1) * 60 / L * (1 + margin) <= 60`` gives ``k - 1 <= L / (1 + margin) < L``, i.e. ``k <= L``
(with ``margin = 0`` the bound holds for half-open windows ``[t, t + 60)``). Back-to-back requests
reach ``floor(L / (1 + margin)) + 1`` per window: 5 of 5 on Free, 58 of 60 on Light. The margin absorbs latency jitter between our clock and the server's
(a request admitted on time can reach the server a little late, the next one on time).

A request to ``/fins/summary`` or ``/fins/details`` takes a token from the plan's bucket *and*
from that endpoint's own 60/min bucket; a request to an add-on path (``plans.ADDON_PATHS``) takes
a token from its add-on's bucket only (``independent_rates``). ``defer(seconds)`` blocks every bucket (used after a 429,
so that all threads back off, not only the one that saw it). An unlimited pacer (``rate=None``)
never waits but still counts requests, for in-process sources with no rate limit.

Thread safety: one lock serialises admissions (the thread holding it sleeps until its slot), a
second, short-held lock guards the counters so progress displays never wait behind a sleeper.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gogooku.jquants.plans import ENDPOINT_RATE_PER_MINUTE, RATE_PER_MINUTE, addon_rates_by_path
from gogooku.settings import Plan

DEFAULT_MARGIN = 0.05
_EPSILON_S = 1e-9


@dataclass(frozen=True)
class PacerStats:
    """Counters for progress displays: requests admitted, time spent waiting, current delay."""

    requests: int
    requests_by_path: dict[str, int] = field(default_factory=dict)
    waited_s: float = 0.0
    last_delay_s: float = 0.0
    current_delay_s: float = 0.0


class Pacer:
    """Serialised admission of requests under a global per-minute limit and per-path limits."""

    def __init__(
        self,
        rate_per_minute: int | None,
        endpoint_rates: Mapping[str, int] | None = None,
        *,
        independent_rates: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        if rate_per_minute is not None and rate_per_minute <= 0:
            raise ValueError(f"rate_per_minute must be positive, got {rate_per_minute}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        for path, rate in {**(endpoint_rates or {}), **(independent_rates or {})}.items():
            if rate <= 0:
                raise ValueError(f"endpoint rate for {path} must be positive, got {rate}")
        self.rate_per_minute = rate_per_minute
        self.endpoint_rates = dict(endpoint_rates or {}) | dict(independent_rates or {})
        self.independent_paths = frozenset(independent_rates or {})
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._admission = threading.Lock()
        self._state = threading.Lock()
        self._next_global = float("-inf")
        self._next_by_path: dict[str, float] = {}
        self._blocked_until = float("-inf")
        self._requests = 0
        self._requests_by_path: dict[str, int] = {}
        self._waited_s = 0.0
        self._last_delay_s = 0.0

    @classmethod
    def for_plan(
        cls,
        plan: Plan,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = DEFAULT_MARGIN,
    ) -> Pacer:
        """The plan's global rate plus the per-endpoint caps of ``plans.ENDPOINT_RATE_PER_MINUTE``;
        add-on paths take only their add-on's bucket."""
        return cls(
            RATE_PER_MINUTE[plan],
            ENDPOINT_RATE_PER_MINUTE,
            independent_rates=addon_rates_by_path(),
            clock=clock,
            sleep=sleep,
            margin=margin,
        )

    @classmethod
    def unlimited(
        cls,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Pacer:
        """A pacer that only counts requests (and honours ``defer``)."""
        return cls(None, None, clock=clock, sleep=sleep)

    def interval(self, path: str | None = None) -> float:
        """Minimum seconds between two admissions to ``path``: the larger of its buckets' spacings."""
        spacings = [0.0]
        if self.rate_per_minute is not None and path not in self.independent_paths:
            spacings.append(self._spacing(self.rate_per_minute))
        if path in self.endpoint_rates:
            spacings.append(self._spacing(self.endpoint_rates[path]))
        return max(spacings)

    def _spacing(self, rate_per_minute: int) -> float:
        return 60.0 / rate_per_minute * (1.0 + self.margin)

    def _ready_at(self, path: str) -> float:
        ready = self._blocked_until
        if path not in self.independent_paths:
            ready = max(ready, self._next_global)
        return max(ready, self._next_by_path.get(path, float("-inf")))

    def acquire(self, path: str) -> float:
        """Wait (through the injected ``sleep``) until a request to ``path`` may go; returns the
        clock reading at admission."""
        with self._admission:
            while True:
                with self._state:
                    now = self._clock()
                    wait = self._ready_at(path) - now
                    if wait <= _EPSILON_S:
                        self._admit(path, now)
                        return now
                    self._last_delay_s = wait
                    self._waited_s += wait
                self._sleep(wait)
                if self._clock() <= now:
                    raise RuntimeError(
                        "the injected sleep did not advance the injected clock; inject a clock "
                        "and a sleep that agree"
                    )

    def _admit(self, path: str, now: float) -> None:
        if self.rate_per_minute is not None and path not in self.independent_paths:
            self._next_global = now + self._spacing(self.rate_per_minute)
        if path in self.endpoint_rates:
            self._next_by_path[path] = now + self._spacing(self.endpoint_rates[path])
        self._requests += 1
        self._requests_by_path[path] = self._requests_by_path.get(path, 0) + 1

    def defer(self, seconds: float) -> None:
        """Admit nothing (on any path) for the next ``seconds``."""
        with self._state:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def delay(self, path: str = "") -> float:
        """Seconds a request to ``path`` would wait if it asked now (0 when it could go at once)."""
        with self._state:
            return max(0.0, self._ready_at(path) - self._clock())

    @property
    def requests(self) -> int:
        with self._state:
            return self._requests

    def stats(self) -> PacerStats:
        with self._state:
            current = max(0.0, self._ready_at("") - self._clock())
            return PacerStats(
                requests=self._requests,
                requests_by_path=dict(self._requests_by_path),
                waited_s=self._waited_s,
                last_delay_s=self._last_delay_s,
                current_delay_s=current,
            )
