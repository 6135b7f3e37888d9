"""The client against the synthetic V2 service served for real, under each fault it can inject:
a body cut off or not JSON, a burst of 429s and the block after it, a slow first byte."""

from __future__ import annotations

import random
import time

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gogooku.httpserver import background_server
from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.errors import BrokenBodyError
from gogooku.jquants.retry import RetryPolicy
from gogooku.settings import Plan
from gogooku.synth.api import Faults, create_app

from .test_synth_integration import API_KEY, DAYS, TODAY, fetch_all, market

FAST = RetryPolicy(max_retries=2, backoff_base_s=0.01)


def served_client(faults: Faults, clock=None) -> tuple:
    """``(market, server context, client factory)``: the hand market served with ``faults``
    (the service's block timed by ``clock``, default the real one); the factory's keywords
    override the client's (fast retries, no pacing)."""
    data = market()
    timing = {} if clock is None else {"clock": clock}
    app = create_app(
        data,
        api_key=API_KEY,
        plan=Plan.PREMIUM,
        page_size=2,
        rate_limit=False,
        faults=faults,
        today=TODAY,
        **timing,
    )

    def client(url: str, **kwargs) -> JQuantsClient:
        options = {} if clock is None else {"clock": clock, "sleep": clock.sleep}
        options = {"retry": FAST, "rng": random.Random(0), **options, **kwargs}
        return JQuantsClient(
            API_KEY, Plan.PREMIUM, f"{url}/v2", today=TODAY, pacing=False, **options
        )

    return data, background_server(app), client


@pytest.mark.parametrize("fault", ["truncate", "invalid_json"])
def test_a_broken_body_is_retried_and_no_row_is_lost(fault):
    data, server, client = served_client(Faults(fail_first_n=2, first_fault=fault))
    with server as url, client(url) as jq:
        bars, _ = fetch_all(jq)
        requests = jq.requests_made
    assert_frame_equal(bars, data.tables["equities_bars_daily"])
    assert requests == 4 * 2 + 3 * 2 + 2


@pytest.mark.parametrize("fault", ["truncate_rate", "invalid_json_rate"])
def test_a_body_broken_on_every_try_is_one_clear_error(fault):
    _, server, client = served_client(Faults(**{fault: 1.0}))
    with server as url, client(url) as jq, pytest.raises(BrokenBodyError) as info:
        jq.fetch("equities_bars_daily", date=DAYS[0])
    message = str(info.value)
    assert "not JSON" in message and "3 tries" in message
    assert "/equities/bars/daily" in message and "HTTP 200" in message
    assert "\n" not in message


class Recorder:
    """A real clock whose sleeps are recorded."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(seconds)


def test_a_429_burst_and_block_honour_retry_after_and_resume():
    faults = Faults(
        fail_first_n=2, first_fault="throttle", block_after=2, block_s=0.5, retry_after=True
    )
    clock = Recorder()
    data, server, client = served_client(faults)
    with server as url, client(url, clock=clock, sleep=clock.sleep) as jq:
        bars, fins = fetch_all(jq)
    assert_frame_equal(bars, data.tables["equities_bars_daily"])
    assert_frame_equal(fins, pl.concat([data.tables["fins_summary"]] * 3))
    # Retry-After: 1 s after the throttled 429, 1 s (the block's 0.5 s, rounded up) after the
    # 429 that started the block; not the 60 s and 120 s of the schedule.
    assert clock.sleeps == [1.0, 1.0]


def test_without_retry_after_the_default_schedule_outlasts_the_5_minute_block(clock):
    faults = Faults(fail_first_n=3, first_fault="throttle", block_after=3)
    data, server, client = served_client(faults, clock=clock)
    with server as url, client(url, retry=RetryPolicy()) as jq:
        bars, _ = fetch_all(jq)
    assert_frame_equal(bars, data.tables["equities_bars_daily"])
    # The third 429 (after 60 + 120 s) starts the 300 s block; the 300 s wait ends with it.
    assert clock.sleeps == [60.0, 120.0, 300.0]


def test_a_slow_first_byte_times_out_and_is_retried():
    data, server, client = served_client(Faults(fail_first_n=1, first_fault="slow", slow_s=1.0))
    with server as url, client(url, timeout=0.3) as jq:
        started = time.monotonic()
        bars = jq.fetch("equities_bars_daily", date=DAYS[0])
        elapsed = time.monotonic() - started
        requests = jq.requests_made
    expected = data.tables["equities_bars_daily"].filter(pl.col("Date") == DAYS[0])
    assert_frame_equal(bars, expected)
    assert requests == 2 + 1
    assert elapsed < 1.5
