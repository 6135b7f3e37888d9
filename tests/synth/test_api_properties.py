"""Property tests of paging and the sliding-window limiter, independent of HTTP."""

from __future__ import annotations

import bisect

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.settings import Plan
from gogooku.synth.api import QueryError, SyntheticV2, _query_hash
from gogooku.synth.faults import FaultAction, Faults, SlidingWindowLimiter, admit

from .conftest import HandMarket, build_market

BARS = ENDPOINTS["equities_bars_daily"]
MARKET = build_market()


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(0, 40), page_size=st.integers(1, 12))
def test_pages_cover_every_row_once_in_order(rows, page_size):
    service = SyntheticV2(MARKET, plan=Plan.PREMIUM, today=None, page_size=page_size)
    table = MARKET.tables["equities_bars_daily"].head(rows)
    query = _query_hash(BARS.path, {"code": "13010"})
    pages, key = [], None
    while True:
        page, key = service.page(BARS, table, query, key)
        pages.append(page)
        if key is None:
            break
    assert pl.concat(pages).equals(table)
    assert len(pages) == max(1, -(-rows // page_size))
    assert all(p.height == page_size for p in pages[:-1])


def test_page_key_is_bound_to_its_query():
    service = SyntheticV2(MARKET, plan=Plan.PREMIUM, today=None, page_size=5)
    table = MARKET.tables["equities_bars_daily"]
    _, key = service.page(BARS, table, _query_hash(BARS.path, {"code": "13010"}), None)
    with pytest.raises(QueryError, match="does not belong to this query"):
        service.page(BARS, table, _query_hash(BARS.path, {"code": "72030"}), key)


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.floats(0, 30, allow_nan=False), min_size=1, max_size=80),
    limit=st.integers(1, 8),
)
def test_limiter_never_admits_more_than_the_limit_in_any_window(gaps, limit):
    clock_now = [0.0]
    limiter = SlidingWindowLimiter(limit)
    accepted = []
    for gap in gaps:
        clock_now[0] += gap
        if admit([limiter], lambda: clock_now[0]):
            accepted.append(clock_now[0])
        else:
            # rejected only when the window ending now is full
            start = bisect.bisect_right(accepted, clock_now[0] - 60.0)
            assert len(accepted) - start == limit
    for i, t in enumerate(accepted):
        assert bisect.bisect_right(accepted, t + 60.0 - 1e-9) - i <= limit


def test_admit_counts_a_request_in_every_limiter_or_none():
    plan, fins = SlidingWindowLimiter(3), SlidingWindowLimiter(1)
    now = 0.0
    assert admit([plan, fins], lambda: now)
    assert not admit([plan, fins], lambda: now)  # fins full: nothing counted in plan
    assert admit([plan], lambda: now)
    assert admit([plan], lambda: now)
    assert not admit([plan], lambda: now)


def test_faults_are_deterministic_per_seed_and_target_one_path():
    def draws(seed):
        faults = Faults(error_rate=0.3, drop_rate=0.2, seed=seed, path="/fins/summary")
        return [faults.decide("/fins/summary") for _ in range(200)]

    first = draws(11)
    assert first == draws(11)
    assert first != draws(12)
    counts = {action: first.count(action) for action in FaultAction}
    assert counts[FaultAction.ERROR] > 0 and counts[FaultAction.DROP] > 0
    assert counts[FaultAction.PASS] > counts[FaultAction.DROP]
    other = Faults(error_rate=1.0, path="/fins/summary")
    assert other.decide("/equities/bars/daily") is FaultAction.PASS
    assert other.decide("/fins/summary") is FaultAction.ERROR


def test_today_defaults_to_the_last_bar_date():
    service = SyntheticV2(MARKET, plan=Plan.FREE, today=None, page_size=10)
    assert service.today == MARKET.tables["equities_bars_daily"]["Date"].max()
    calendar_only = HandMarket(tables={"markets_calendar": MARKET.tables["markets_calendar"]})
    service = SyntheticV2(calendar_only, plan=Plan.FREE, today=None, page_size=10)
    assert service.today == MARKET.tables["markets_calendar"]["Date"].max()
