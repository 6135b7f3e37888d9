"""Injectable faults and the sliding-window rate limiter of the synthetic V2 service.

Faults are decided per request from one seeded ``random.Random`` in arrival order, so a given
sequence of requests meets the same faults on every run.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class FaultAction(StrEnum):
    PASS = "pass"
    ERROR = "error"  # answer 500
    DROP = "drop"  # close the connection without a complete response


@dataclass
class Faults:
    """Faults to inject.

    - ``fail_first_n``: the first n targeted requests answer 500;
    - ``error_rate``: afterwards each targeted request answers 500 with this probability;
    - ``drop_rate``: ... or has its connection dropped with this probability;
    - ``delay_s``: every targeted request waits this long before it is answered;
    - ``path``: target only this V2 path (e.g. ``"/equities/bars/daily"``); None targets all;
    - ``seed``: seed of the random stream behind ``error_rate`` and ``drop_rate``.
    """

    error_rate: float = 0.0
    fail_first_n: int = 0
    delay_s: float = 0.0
    drop_rate: float = 0.0
    seed: int = 0
    path: str | None = None
    _rng: random.Random = field(init=False, repr=False)
    _seen: int = field(init=False, default=0, repr=False)

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Faults.{name} must be in [0, 1], got {value}")
        if self.error_rate + self.drop_rate > 1.0:
            raise ValueError(
                f"Faults.error_rate + Faults.drop_rate must be <= 1, got "
                f"{self.error_rate} + {self.drop_rate}"
            )
        if self.fail_first_n < 0 or self.delay_s < 0:
            raise ValueError(
                f"Faults.fail_first_n and Faults.delay_s must be >= 0, got "
                f"{self.fail_first_n} and {self.delay_s}"
            )
        self._rng = random.Random(self.seed)

    def targets(self, path: str) -> bool:
        return self.path is None or self.path == path

    def decide(self, path: str) -> FaultAction:
        """The fault for the next request to ``path`` (a V2 path without the ``/v2`` prefix)."""
        if not self.targets(path):
            return FaultAction.PASS
        self._seen += 1
        if self._seen <= self.fail_first_n:
            return FaultAction.ERROR
        draw = self._rng.random()
        if draw < self.error_rate:
            return FaultAction.ERROR
        if draw < self.error_rate + self.drop_rate:
            return FaultAction.DROP
        return FaultAction.PASS


class SlidingWindowLimiter:
    """At most ``limit`` accepted requests in any ``window_s`` seconds.

    A request at time t is accepted when fewer than ``limit`` accepted requests have times in
    ``(t - window_s, t]``; rejected requests are not counted.
    """

    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        if limit < 1:
            raise ValueError(f"rate limit must be >= 1 request per window, got {limit}")
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque()

    def _prune(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()

    def would_allow(self, now: float) -> bool:
        self._prune(now)
        return len(self._times) < self.limit

    def record(self, now: float) -> None:
        self._times.append(now)


def admit(limiters: list[SlidingWindowLimiter], clock: Callable[[], float]) -> bool:
    """Accept a request when every limiter has room, and count it in all of them."""
    now = clock()
    if not all(limiter.would_allow(now) for limiter in limiters):
        return False
    for limiter in limiters:
        limiter.record(now)
    return True
