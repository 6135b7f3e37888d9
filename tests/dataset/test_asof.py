"""asof_join: backward per key, never a record from after the row date (property test)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.dataset.asof import LookAheadError, _sorted_by, asof_join

BASE = date(2024, 1, 1)


@st.composite
def frames(draw):
    codes = ["A", "B", "C"]
    row_keys = draw(
        st.lists(
            st.tuples(st.sampled_from(codes), st.integers(0, 60)),
            min_size=1,
            max_size=40,
            unique=True,
        )
    )
    records = draw(
        st.lists(
            st.tuples(st.sampled_from(codes), st.integers(0, 60), st.integers(0, 3)),
            max_size=40,
            unique_by=lambda r: (r[0], r[1], r[2]),
        )
    )
    rows = pl.DataFrame(
        {"Code": [c for c, _ in row_keys], "Date": [BASE + timedelta(days=d) for _, d in row_keys]},
        schema={"Code": pl.String, "Date": pl.Date},
    )
    src = pl.DataFrame(
        {
            "Code": [c for c, _, _ in records],
            "available_from": [BASE + timedelta(days=d) for _, d, _ in records],
            "rev": [r for _, _, r in records],
            "value": [float(i) for i in range(len(records))],
        },
        schema={"Code": pl.String, "available_from": pl.Date, "rev": pl.Int64, "value": pl.Float64},
    )
    return rows, src


@pytest.mark.parametrize("in_key_order", [False, True])
@settings(max_examples=150, deadline=None)
@given(data=frames())
def test_joined_value_is_the_latest_available_record(data, in_key_order):
    """Rows in any order (sorted by date for the join and back) and rows already sorted by
    (Code, Date), as the base rows are (joined in place), give the brute-force answer."""
    rows, src = data
    if in_key_order:
        rows = rows.sort("Code", "Date")
    out = asof_join(rows, src, source_name="test", by="Code", order_by=("rev",), columns=["value"])
    out = out.collect()
    assert out.select("Code", "Date").equals(rows)  # row order and count preserved
    records = src.rows(named=True)
    for row in out.rows(named=True):
        eligible = [
            r for r in records if r["Code"] == row["Code"] and r["available_from"] <= row["Date"]
        ]
        if not eligible:
            assert row["value"] is None
            continue
        best = max(eligible, key=lambda r: (r["available_from"], r["rev"]))
        assert row["value"] == best["value"]


def test_global_series_and_max_age():
    rows = pl.DataFrame({"Date": [date(2024, 1, 1), date(2024, 1, 5), date(2024, 1, 20)]})
    src = pl.DataFrame({"available_from": [date(2024, 1, 2), date(2024, 1, 4)], "x": [1.0, 2.0]})
    out = asof_join(rows, src, source_name="flows", max_age_days=10, keep_availability="x_from")
    got = out.collect()
    assert got["x"].to_list() == [None, 2.0, None]
    assert got["x_from"].to_list() == [None, date(2024, 1, 4), None]


def test_look_ahead_is_refused_naming_source_column_and_date(monkeypatch):
    rows = pl.DataFrame({"Code": ["A"], "Date": [date(2024, 1, 5)]})
    src = pl.DataFrame({"Code": ["A"], "available_from": [date(2024, 1, 9)], "x": [1.0]})
    # Forge a forward join to prove the post-join check fires.
    original = pl.LazyFrame.join_asof

    def forward(self, other, **kwargs):
        kwargs["strategy"] = "forward"
        return original(self, other, **kwargs)

    monkeypatch.setattr(pl.LazyFrame, "join_asof", forward)
    with pytest.raises(LookAheadError, match=r"margin.*'available_from' = 2024-01-09.*2024-01-05"):
        asof_join(rows, src, source_name="margin", by="Code")


def test_column_clash_and_missing_key_are_errors():
    rows = pl.DataFrame({"Code": ["A"], "Date": [date(2024, 1, 5)], "x": [0.0]})
    src = pl.DataFrame({"Code": ["A"], "available_from": [date(2024, 1, 1)], "x": [1.0]})
    with pytest.raises(ValueError, match=r"columns \['x'\] already exist"):
        asof_join(rows, src, source_name="s", by="Code")
    with pytest.raises(ValueError, match="no column 'S33'"):
        asof_join(rows, src, source_name="s", by="S33", columns=["x"])


def test_sorted_by_needs_ascending_keys_then_dates_and_no_nulls():
    frame = pl.DataFrame(
        {"Code": ["A", "A", "A", "B"], "Date": [1, 1, 2, 0]},
        schema={"Code": pl.String, "Date": pl.Int32},
    )
    assert _sorted_by(frame, ["Code", "Date"])
    assert not _sorted_by(frame.reverse(), ["Code", "Date"])
    assert not _sorted_by(frame, ["Date"])
    assert not _sorted_by(frame.with_columns(pl.Series("Date", [1, 1, 2, None])), ["Code", "Date"])
    assert not _sorted_by(
        frame.with_columns(pl.Series("Code", [None, "A", "A", "B"])), ["Code", "Date"]
    )


@settings(max_examples=60, deadline=None)
@given(
    days=st.lists(st.one_of(st.none(), st.integers(0, 60)), min_size=1, max_size=30),
    records=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 3)), max_size=20),
    max_age=st.one_of(st.none(), st.integers(0, 10)),
)
def test_global_series_takes_the_latest_record_within_max_age(days, records, max_age):
    """One series for every row (no key), rows in any order, some without a date."""
    rows = pl.DataFrame(
        {"Date": [None if d is None else BASE + timedelta(days=d) for d in days]},
        schema={"Date": pl.Date},
    )
    src = pl.DataFrame(
        {
            "available_from": [BASE + timedelta(days=d) for d, _ in records],
            "rev": [r for _, r in records],
            "value": [float(i) for i in range(len(records))],
        },
        schema={"available_from": pl.Date, "rev": pl.Int64, "value": pl.Float64},
    )
    out = asof_join(
        rows, src, source_name="test", order_by=("rev",), columns=["value"], max_age_days=max_age
    ).collect()
    assert out["Date"].equals(rows["Date"])
    for day, got in zip(days, out["value"].to_list(), strict=True):
        eligible = [(d, r, i) for i, (d, r) in enumerate(records) if day is not None and d <= day]
        best = max(eligible, default=None)
        # ties on (date, rev) keep the last record after the sort: any of equal keys qualifies
        too_old = best is not None and max_age is not None and day - best[0] > max_age
        if best is None or too_old:
            assert got is None
        else:
            assert (best[0], best[1]) == records[int(got)]
