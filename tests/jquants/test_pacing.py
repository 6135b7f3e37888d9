"""Pacer: no 60-s window ever holds more than the limit, across threads, on a fake clock."""

from __future__ import annotations

import bisect
import itertools
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.jquants.pacing import Pacer
from gogooku.jquants.plans import RATE_PER_MINUTE
from gogooku.settings import Plan


def max_in_any_window(stamps: list[float], window: float = 60.0) -> int:
    """Most stamps inside any closed window [t, t + window] (t ranging over the stamps)."""
    ordered = sorted(stamps)
    return max(
        (bisect.bisect_right(ordered, t + window) - i for i, t in enumerate(ordered)), default=0
    )


def test_window_counter_is_right():
    assert max_in_any_window([0, 10, 59.9, 60, 61, 200]) == 4
    assert max_in_any_window([0, 10, 20, 30, 60, 60.5]) == 5
    assert max_in_any_window([0, 60.1, 120.2]) == 1
    assert max_in_any_window([]) == 0


@pytest.mark.parametrize("plan", list(Plan))
def test_back_to_back_requests_hit_the_plan_rate_and_never_exceed_it(plan, clock):
    pacer = Pacer.for_plan(plan, clock=clock, sleep=clock.sleep)
    limit = RATE_PER_MINUTE[plan]
    stamps = [pacer.acquire("/equities/bars/daily") for _ in range(2 * limit + 3)]
    # spacing 60/L * 1.05 fits floor(L / 1.05) + 1 admissions in a closed 60-s window
    assert max_in_any_window(stamps) == int(limit / 1.05) + 1 <= limit
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) == pytest.approx(60 / limit * 1.05)


def test_free_plan_spacing_is_hand_computed(clock):
    pacer = Pacer.for_plan(Plan.FREE, clock=clock, sleep=clock.sleep)
    stamps = [pacer.acquire("/equities/master") for _ in range(3)]
    assert [s - stamps[0] for s in stamps] == pytest.approx([0.0, 12.6, 25.2])
    assert clock.sleeps == pytest.approx([12.6, 12.6])


@settings(max_examples=60, deadline=None)
@given(
    plan=st.sampled_from(list(Plan)),
    calls=st.lists(
        st.tuples(
            st.sampled_from(["/equities/bars/daily", "/fins/summary", "/fins/details"]),
            st.floats(min_value=0.0, max_value=30.0),
        ),
        min_size=1,
        max_size=150,
    ),
)
def test_any_call_pattern_respects_every_bucket(plan, calls):
    clock_now = [0.0]

    def clock() -> float:
        return clock_now[0]

    def sleep(seconds: float) -> None:
        clock_now[0] += seconds

    pacer = Pacer.for_plan(plan, clock=clock, sleep=sleep)
    stamps: dict[str, list[float]] = {}
    for path, idle in calls:
        sleep(idle)
        stamps.setdefault(path, []).append(pacer.acquire(path))
    everything = [s for group in stamps.values() for s in group]
    assert max_in_any_window(everything) <= RATE_PER_MINUTE[plan]
    for path in ("/fins/summary", "/fins/details"):
        assert max_in_any_window(stamps.get(path, [])) <= 60
    assert pacer.requests == len(calls)


def run_threads(pacer: Pacer, paths_per_thread: list[list[str]]) -> dict[str, list[float]]:
    stamps: dict[str, list[float]] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(len(paths_per_thread))

    def work(paths: list[str]) -> None:
        barrier.wait()
        for path in paths:
            stamp = pacer.acquire(path)
            with lock:
                stamps.setdefault(path, []).append(stamp)

    threads = [threading.Thread(target=work, args=(paths,)) for paths in paths_per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return stamps


def test_threads_together_never_exceed_the_free_rate(clock):
    pacer = Pacer.for_plan(Plan.FREE, clock=clock, sleep=clock.sleep)
    stamps = run_threads(pacer, [["/equities/bars/daily"] * 6 for _ in range(4)])
    everything = stamps["/equities/bars/daily"]
    assert len(everything) == 24
    assert max_in_any_window(everything) == 5
    assert pacer.requests == 24
    assert clock() - min(everything) == pytest.approx(23 * 12.6)


def test_fins_cap_applies_across_threads_on_premium(clock):
    pacer = Pacer.for_plan(Plan.PREMIUM, clock=clock, sleep=clock.sleep)
    fins = ["/fins/summary"] * 25
    bars = ["/equities/bars/daily"] * 25
    stamps = run_threads(pacer, [fins, fins, fins, bars, bars])
    assert len(stamps["/fins/summary"]) == 75
    assert max_in_any_window(stamps["/fins/summary"]) <= 60
    everything = stamps["/fins/summary"] + stamps["/equities/bars/daily"]
    assert max_in_any_window(everything) <= 500
    fins_sorted = sorted(stamps["/fins/summary"])
    gaps = [b - a for a, b in itertools.pairwise(fins_sorted)]
    assert min(gaps) >= 1.05 - 1e-9
    assert pacer.stats().requests_by_path == {"/fins/summary": 75, "/equities/bars/daily": 50}


def test_defer_blocks_every_path(clock):
    pacer = Pacer.for_plan(Plan.PREMIUM, clock=clock, sleep=clock.sleep)
    first = pacer.acquire("/equities/bars/daily")
    pacer.defer(60.0)
    assert pacer.delay("/fins/summary") == pytest.approx(60.0)
    assert pacer.acquire("/fins/summary") == pytest.approx(first + 60.0)


def test_unlimited_pacer_counts_without_waiting(clock):
    pacer = Pacer.unlimited(clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        pacer.acquire("/equities/bars/daily")
    assert clock.sleeps == []
    assert pacer.requests == 1000
    assert pacer.delay("/fins/summary") == 0.0


def test_stats_report_delay_and_waits(clock):
    pacer = Pacer.for_plan(Plan.LIGHT, clock=clock, sleep=clock.sleep)
    pacer.acquire("/equities/bars/daily")
    assert pacer.stats().current_delay_s == pytest.approx(1.05)
    pacer.acquire("/equities/bars/daily")
    stats = pacer.stats()
    assert stats.requests == 2
    assert stats.waited_s == pytest.approx(1.05)
    assert stats.last_delay_s == pytest.approx(1.05)
    assert pacer.delay("/fins/summary") == pytest.approx(1.05)


def test_sleep_that_does_not_advance_the_clock_is_refused(clock):
    pacer = Pacer.for_plan(Plan.FREE, clock=clock, sleep=lambda seconds: None)
    pacer.acquire("/equities/master")
    with pytest.raises(RuntimeError, match="did not advance"):
        pacer.acquire("/equities/master")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"rate_per_minute": 0}, "rate_per_minute"), ({"rate_per_minute": 5, "margin": -1}, "margin")],
)
def test_invalid_limits_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Pacer(**kwargs)


def test_addon_paths_have_their_own_bucket_apart_from_the_plans(clock):
    pacer = Pacer.for_plan(Plan.FREE, clock=clock, sleep=clock.sleep)
    first = pacer.acquire("/equities/bars/daily")
    # the plan's 5/min bucket is empty, yet the minute-bar add-on (60/min) admits at once
    assert pacer.acquire("/equities/bars/minute") == first
    minute = [pacer.acquire("/equities/bars/minute") for _ in range(3)]
    assert [round(b - a, 6) for a, b in itertools.pairwise([first, *minute])] == [1.05] * 3
    # and did not take the plan's tokens: the next plan request waits only its own 12.6 s
    assert pacer.acquire("/equities/bars/daily") == pytest.approx(first + 12.6)
    assert pacer.acquire("/td/list") == pytest.approx(first + 12.6)
