"""Labels computed from the bars align with the oracle by (Date, Code)."""

from __future__ import annotations

import polars as pl

from gogooku.synth import stats


def test_oracle_rows_are_exactly_the_bars_rows(golden_market):
    keys = golden_market.tables["equities_bars_daily"].select("Date", "Code")
    assert golden_market.oracle.select("Date", "Code").equals(keys)
    assert golden_market.oracle.null_count().sum_horizontal()[0] == 0


def test_labels_match_a_hand_computation(golden_market):
    bars = golden_market.tables["equities_bars_daily"]
    code = bars.filter(pl.col("C").is_null() & (pl.col("Date").dt.year() == 2019))["Code"][0]
    rows = bars.filter(pl.col("Code") == code).sort("Date")
    adj = rows["AdjC"].to_list()
    got = stats.labels(bars).filter(pl.col("Code") == code).sort("Date")
    assert got["Date"].equals(rows["Date"])
    for h in stats.HORIZONS:
        expected = [
            adj[t + 1 + h] / adj[t + 1] - 1.0
            if t + 1 + h < len(adj) and adj[t + 1] is not None and adj[t + 1 + h] is not None
            else None
            for t in range(len(adj))
        ]
        values = got[f"target_{h}d"].to_list()
        assert [v is None for v in values] == [e is None for e in expected]
        assert all(
            abs(v - e) < 1e-12 for v, e in zip(values, expected, strict=True) if e is not None
        )
    assert got["target_1d"].null_count() > 2  # the no-trade day blanks labels around it


def test_labels_and_oracle_join_one_to_one(golden_market):
    joined = golden_market.oracle.join(
        stats.labels(golden_market.tables["equities_bars_daily"]), on=["Date", "Code"], how="full"
    )
    assert joined.height == golden_market.oracle.height
    assert joined["Date"].null_count() == 0 and joined["Date_right"].null_count() == 0
    last = joined.filter(pl.col("Date") == joined["Date"].max())
    assert last["target_1d"].null_count() == last.height  # the future is unknown at the end
