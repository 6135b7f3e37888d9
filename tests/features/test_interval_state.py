"""``interval_state`` (month-bucketed) equals a brute-force scan of every interval at every point."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.features.availability import AVAILABLE_FROM
from gogooku.features.dividends import interval_state

D0 = date(2020, 1, 1)

interval = st.tuples(
    st.sampled_from(["A", "B"]),
    st.integers(0, 400),
    st.one_of(st.none(), st.integers(1, 200)),
    st.integers(-5, 50),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(interval, min_size=1, max_size=12))
def test_matches_brute_force(raw):
    rows = [
        {
            "Code": code,
            "start": D0 + timedelta(days=s),
            "end": None if length is None else D0 + timedelta(days=s + length),
            "v": float(v),
        }
        for code, s, length, v in raw
    ]
    frame = pl.DataFrame(
        rows, schema={"Code": pl.String, "start": pl.Date, "end": pl.Date, "v": pl.Float64}
    )
    got = (
        interval_state(frame.lazy(), [pl.col("v").sum().alias("s"), pl.col("v").max().alias("m")])
        .collect()
        .sort("Code", AVAILABLE_FROM)
    )
    points = sorted({(r["Code"], d) for r in rows for d in (r["start"], r["end"]) if d is not None})
    assert got.select("Code", AVAILABLE_FROM).rows() == points
    for code, day, total, top in got.rows():
        live = [
            r["v"]
            for r in rows
            if r["Code"] == code and r["start"] <= day and (r["end"] is None or day < r["end"])
        ]
        assert total == (sum(live) if live else None)
        assert top == (max(live) if live else None)
