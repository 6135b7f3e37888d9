"""Injectable faults and the sliding-window rate limiter of the synthetic V2 service.

Faults are decided per request from one seeded ``random.Random`` in arrival order, so a given
sequence of requests meets the same faults on every run. What each fault looks like on the wire
(``gogooku.synth.api._Gate`` applies them):

- ``error``: HTTP 500 ``{"message": "Internal Server Error"}``;
- ``drop``: the response starts, then the connection closes without a body;
- ``throttle``: HTTP 429 ``{"message": "Rate limit exceeded"}`` (a burst of them with
  ``first_fault="throttle"``);
- ``truncate``: HTTP 200 with the JSON body cut in half (a complete HTTP exchange, broken JSON);
- ``invalid_json``: HTTP 200 with an HTML page instead of JSON (what a proxy in front may send);
- ``slow``: the normal answer, its first byte ``slow_s`` seconds late.

The *block*: J-Quants blocks a key for about 5 minutes after heavy excess, answering every request
429 meanwhile. With ``block_after=n``, the n-th 429 within 60 s (throttled or refused by the rate
limiter) starts a block of ``block_s`` seconds (300 by default; tests use ~1 s), on every path.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from gogooku.errors import GogookuError

BLOCK_WINDOW_S = 60.0


class FaultConfigError(GogookuError, ValueError):
    """A fault setting outside its range; like a usage error it exits 2."""

    exit_code = 2


class FaultAction(StrEnum):
    PASS = "pass"
    ERROR = "error"  # answer 500
    DROP = "drop"  # close the connection without a complete response
    THROTTLE = "throttle"  # answer 429
    TRUNCATE = "truncate"  # answer 200 with the JSON body cut in half
    INVALID_JSON = "invalid_json"  # answer 200 with an HTML page
    SLOW = "slow"  # answer normally, the first byte ``slow_s`` late


# The random faults, in the order their rates are stacked on one draw (error and drop first, so
# the draws of existing seeds are unchanged).
_RATED = (
    ("error_rate", FaultAction.ERROR),
    ("drop_rate", FaultAction.DROP),
    ("throttle_rate", FaultAction.THROTTLE),
    ("truncate_rate", FaultAction.TRUNCATE),
    ("invalid_json_rate", FaultAction.INVALID_JSON),
)


@dataclass
class Faults:
    """Faults to inject.

    - ``fail_first_n``: the first n targeted requests meet ``first_fault`` (default ``error``);
    - ``error_rate``, ``drop_rate``, ``throttle_rate``, ``truncate_rate``, ``invalid_json_rate``:
      afterwards each targeted request meets that fault with this probability (one draw; the
      rates add up to at most 1);
    - ``slow_rate``: ... and, independently, its first byte comes ``slow_s`` seconds late;
    - ``delay_s``: every targeted request waits this long before it is answered;
    - ``block_after``, ``block_s``: the block (module doc); 0 disables it;
    - ``retry_after``: send ``Retry-After`` (whole seconds until the service would answer) with
      every 429; J-Quants sends none, so it is off by default;
    - ``path``: target only this V2 path (e.g. ``"/equities/bars/daily"``); None targets all;
    - ``seed``: seed of the random stream behind the rates.
    """

    error_rate: float = 0.0
    fail_first_n: int = 0
    delay_s: float = 0.0
    drop_rate: float = 0.0
    seed: int = 0
    path: str | None = None
    first_fault: FaultAction = FaultAction.ERROR
    throttle_rate: float = 0.0
    truncate_rate: float = 0.0
    invalid_json_rate: float = 0.0
    slow_rate: float = 0.0
    slow_s: float = 5.0
    block_after: int = 0
    block_s: float = 300.0
    retry_after: bool = False
    _rng: random.Random = field(init=False, repr=False)
    _seen: int = field(init=False, default=0, repr=False)
    _refusals: deque[float] = field(init=False, default_factory=deque, repr=False)
    _blocked_until: float = field(init=False, default=-math.inf, repr=False)

    def __post_init__(self) -> None:
        for name in (*(rate for rate, _ in _RATED), "slow_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise FaultConfigError(f"Faults.{name} must be in [0, 1], got {value}")
        total = sum(getattr(self, rate) for rate, _ in _RATED)
        if total > 1.0:
            shown = " + ".join(
                f"{rate}={getattr(self, rate)}" for rate, _ in _RATED if getattr(self, rate)
            )
            raise FaultConfigError(f"Faults rates must add up to <= 1, got {shown}")
        for name in ("fail_first_n", "delay_s", "slow_s", "block_after", "block_s"):
            if getattr(self, name) < 0:
                raise FaultConfigError(f"Faults.{name} must be >= 0, got {getattr(self, name)}")
        self.first_fault = FaultAction(self.first_fault)
        self._rng = random.Random(self.seed)

    def targets(self, path: str) -> bool:
        return self.path is None or self.path == path

    def decide(self, path: str) -> FaultAction:
        """The fault for the next request to ``path`` (a V2 path without the ``/v2`` prefix)."""
        if not self.targets(path):
            return FaultAction.PASS
        self._seen += 1
        if self._seen <= self.fail_first_n:
            return self.first_fault
        draw = self._rng.random()
        edge = 0.0
        for rate, action in _RATED:
            edge += getattr(self, rate)
            if draw < edge:
                return action
        if self.slow_rate and self._rng.random() < self.slow_rate:
            return FaultAction.SLOW
        return FaultAction.PASS

    def blocked_for(self, now: float) -> float:
        """Seconds the block still lasts at ``now`` (0 when not blocked)."""
        return max(self._blocked_until - now, 0.0)

    def refused(self, now: float) -> None:
        """Count a 429 answered at ``now``; the ``block_after``-th within 60 s starts a block."""
        if not self.block_after:
            return
        self._refusals.append(now)
        while self._refusals and self._refusals[0] <= now - BLOCK_WINDOW_S:
            self._refusals.popleft()
        if len(self._refusals) >= self.block_after:
            self._blocked_until = now + self.block_s
            self._refusals.clear()


def retry_after_value(seconds: float) -> str:
    """``Retry-After``'s value for a wait of ``seconds``: whole seconds, rounded up, at least 1."""
    return str(max(math.ceil(seconds), 1))


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

    def wait_s(self, now: float) -> float:
        """Seconds until a request would be accepted (0 when it would be now)."""
        if self.would_allow(now):
            return 0.0
        return self._times[-self.limit] + self.window_s - now

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
