"""When and how long the client waits before trying a request again.

- 429 (rate limited; J-Quants sends no ``Retry-After``): wait ``rate_limit_waits_s[n]`` before the
  n-th retry — by default 60, 120, 300, 300 s: at least a minute, then long enough to outlast the
  ~5-minute block the API imposes after sustained excess. A 429 that carries ``Retry-After``
  (seconds or an HTTP date; a proxy or the synthetic service may send one) is retried after that
  many seconds instead, at most ``RETRY_AFTER_MAX_S``. After ``len(rate_limit_waits_s)`` retries →
  ``RateLimitError``.
- 500/502/503/504, timeouts, dropped or refused connections and 2xx bodies that are not JSON:
  exponential back-off with jitter,
  ``delay_k = min(backoff_max_s, backoff_base_s * 2**k) * (1 - jitter * u)``, ``u ~ U[0, 1)``,
  for retries ``k = 0 .. max_retries - 1``; then ``ServerError`` / ``TransportError``.
- 400, 401, 403, 404 and 210 (empty result) are never retried.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import random
from dataclasses import dataclass

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
RATE_LIMITED_STATUS = 429
# A Retry-After longer than the API's own block (~5 minutes) plus margin is not believed.
RETRY_AFTER_MAX_S = 600.0


def retry_after_s(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delay-seconds or an HTTP date; ``now``: the time
    an HTTP date is counted from, default the current UTC time), or None when absent or not
    understood. Capped at ``RETRY_AFTER_MAX_S``."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_S)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retry schedule; 429 retries and server/transport retries are counted separately."""

    max_retries: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    jitter: float = 0.5
    rate_limit_waits_s: tuple[float, ...] = (60.0, 120.0, 300.0, 300.0)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter}")
        if self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ValueError("backoff_base_s and backoff_max_s must be >= 0")
        if any(wait < 60.0 for wait in self.rate_limit_waits_s):
            raise ValueError(
                f"rate_limit_waits_s must all be >= 60 s (the API asks for at least a minute), "
                f"got {self.rate_limit_waits_s}"
            )

    def backoff_s(self, retry: int, rng: random.Random) -> float | None:
        """Wait before server/transport retry number ``retry`` (0-based), or None when exhausted."""
        if retry >= self.max_retries:
            return None
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2.0**retry)
        return ceiling * (1.0 - self.jitter * rng.random())

    def rate_limit_wait_s(self, retry: int, retry_after: float | None = None) -> float | None:
        """Wait before 429 retry number ``retry`` (0-based): the server's ``retry_after`` when it
        sent one, else the schedule's; None when exhausted."""
        if retry >= len(self.rate_limit_waits_s):
            return None
        return self.rate_limit_waits_s[retry] if retry_after is None else retry_after
