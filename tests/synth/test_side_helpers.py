"""Calendar helpers of the latents and the schema conformance of the renderers."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.synth.latents import extended_days, week_end_flags
from gogooku.synth.side._common import conform
from gogooku.synth.universe import trading_sessions

DAYS = trading_sessions(date(2020, 1, 1), date(2021, 6, 30))


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=5, max_value=len(DAYS)))
def test_week_end_flags_are_prefix_stable_and_mark_last_days_of_weeks(k):
    short = week_end_flags(DAYS[:k], min_days=3)
    full = week_end_flags(DAYS, min_days=3)
    assert np.array_equal(short, full[:k])
    ext = extended_days(DAYS[:k])
    for t in np.nonzero(short)[0]:
        day, nxt = ext[t], ext[t + 1]
        assert nxt.isocalendar()[:2] != day.isocalendar()[:2]
        same_week = [d for d in ext if d.isocalendar()[:2] == day.isocalendar()[:2]]
        assert len(same_week) >= 3


def test_extended_days_continue_with_the_jpx_calendar_including_the_halt_day():
    days = trading_sessions(date(2020, 9, 1), date(2020, 9, 30))
    ext = extended_days(days, 3)
    assert ext[len(days) :] == [date(2020, 10, 1), date(2020, 10, 2), date(2020, 10, 5)]


def test_conform_orders_casts_and_fills_the_catalogue_schema():
    frame = pl.DataFrame({"S33": ["0050"], "Date": [date(2021, 1, 4)], "ShrtNoResVa": [1]})
    out = conform(frame, "markets_short_ratio")
    assert out.columns == ["Date", "S33", "SellExShortVa", "ShrtWithResVa", "ShrtNoResVa"]
    assert out["ShrtNoResVa"].dtype == pl.Float64 and out["SellExShortVa"].is_null().all()


def test_conform_rejects_columns_outside_the_schema():
    with pytest.raises(ValueError, match=r"markets_short_ratio: rendered columns \['Bogus'\]"):
        conform(pl.DataFrame({"Bogus": [1.0]}), "markets_short_ratio")
