"""``sorted_by``: the service's tables in date/key order, without a copy when already sorted."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.synth.api import sorted_by

DAYS = st.one_of(st.none(), st.dates(dt.date(2024, 1, 1), dt.date(2024, 1, 5)))
CODES = st.sampled_from(["13010", "130A0", "72030"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(DAYS, CODES, st.integers(0, 9)), max_size=25))
def test_sorted_by_matches_a_stable_sort_and_keeps_sorted_frames(rows):
    frame = pl.DataFrame(
        rows, schema={"Date": pl.Date, "Code": pl.String, "V": pl.Int64}, orient="row"
    )
    expected = frame.sort(["Date", "Code"], nulls_last=True, maintain_order=True)
    result = sorted_by(frame, ["Date", "Code"])
    assert result.equals(expected)
    assert sorted_by(expected, ["Date", "Code"]) is expected
    if not frame.equals(expected):
        assert result is not frame


def test_a_frame_out_of_order_by_its_second_key_is_reordered():
    day = dt.date(2024, 1, 4)
    frame = pl.DataFrame({"Date": [day, day, None], "Code": ["72030", "13010", "13010"]})
    assert sorted_by(frame, ["Date", "Code"])["Code"].to_list() == ["13010", "72030", "13010"]
