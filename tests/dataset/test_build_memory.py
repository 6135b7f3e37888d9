"""The build's copy-free steps give the same rows as the plain expressions they replace."""

from __future__ import annotations

from datetime import date

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.dataset.base import sorted_by_keys
from gogooku.dataset.compute import _rows_until


@settings(max_examples=40, deadline=None, database=None)
@given(
    days=st.lists(st.integers(0, 30), min_size=1, max_size=25),
    cut=st.integers(-1, 31),
)
def test_rows_until_equals_the_filter_and_moves_the_columns_out(days, cut) -> None:
    frame = pl.DataFrame(
        {
            "Code": [f"{1000 + i % 3}" for i in range(len(days))],
            "Date": [date(2024, 1, 1 + d) for d in days],
            "x": [float(i) for i in range(len(days))],
        }
    )
    end = date(2024, 1, 1) if cut < 0 else date(2024, 1, 1 + min(cut, 30))
    expected = frame.filter(pl.col("Date") <= end)
    got = _rows_until(frame, end)
    assert got.equals(expected)
    if expected.height == len(days):
        assert got is frame  # nothing to cut: no copy
    else:
        assert frame.width == 0  # the input's columns were moved out


def test_sorted_by_keys_returns_a_sorted_frame_itself() -> None:
    rows = pl.DataFrame(
        {"Code": ["1301", "1301", "1302"], "Date": [date(2024, 1, d) for d in (4, 5, 4)]}
    )
    assert sorted_by_keys(rows) is rows
    shuffled = rows.reverse()
    assert sorted_by_keys(shuffled).equals(rows)
    repeated = pl.concat([rows, rows.head(1)])  # a repeated key is not strictly sorted
    assert sorted_by_keys(repeated).equals(repeated.sort("Code", "Date"))
