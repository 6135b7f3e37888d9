"""Calendar, universe, segments and the listed-issue master."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from gogooku.synth.config import SynthConfig
from gogooku.synth.universe import (
    HALT_DAY,
    REFORM_DAY,
    SECTORS_17,
    SECTORS_33,
    build_calendar,
    build_universe,
    horizon_end,
    listed_mask,
    master_table,
    trading_sessions,
)

OLD_SEGMENTS = {"0101", "0102", "0104", "0106", "0107"}
NEW_SEGMENTS = {"0111", "0112", "0113"}


def _universe(stocks: int, end: date, seed: int = 7):
    config = SynthConfig(seed=seed, stocks=stocks, start=date(2019, 1, 1), end=end)
    return build_universe(config, trading_sessions(config.start, horizon_end(config)))


def test_calendar_follows_jpx_with_the_2020_10_01_halt_as_business_day():
    config = SynthConfig(stocks=20, start=date(2019, 1, 1), end=date(2020, 12, 31))
    calendar, days = build_calendar(config)
    hol = dict(zip(calendar["Date"].to_list(), calendar["HolDiv"].to_list(), strict=True))
    # Every calendar day of 2019 and 2020 (leap year), and 2021 published ahead like J-Quants.
    assert calendar.height == 731 + 365
    assert calendar["Date"].max() == date(2021, 12, 31)
    assert calendar.schema == pl.Schema({"Date": pl.Date, "HolDiv": pl.String})
    assert hol[HALT_DAY] == "1" and HALT_DAY in days
    # year-end closure, the 2019 imperial-transition holidays, a Saturday and a Sunday
    for closed in (date(2019, 12, 31), date(2020, 1, 2), date(2020, 1, 3), date(2019, 4, 30),
                   date(2019, 5, 1), date(2019, 5, 2), date(2020, 3, 7), date(2020, 3, 8)):  # fmt: skip
        assert hol[closed] == "0", closed
    assert hol[date(2019, 12, 30)] == "1" and hol[date(2020, 1, 6)] == "1"
    assert set(hol.values()) == {"0", "1"}  # XTKS has no half days in this period
    assert days == sorted(d for d, h in hol.items() if h in {"1", "2"} and d <= config.end)
    assert hol[date(2021, 1, 4)] == "1" and hol[date(2021, 1, 11)] == "0"  # Coming of Age Day
    assert sum(d.year == 2019 for d in days) == 241  # JPX business days in 2019


def test_universe_codes_sectors_and_segments_follow_the_official_tables():
    universe, params = _universe(2000, date(2023, 12, 31))
    codes = universe["Code"].to_list()
    assert len(set(codes)) == len(codes)
    assert all(len(c) == 5 and c.endswith("0") for c in codes)
    alnum = [c for c in codes if not c.isdigit()]
    assert 10 <= len(alnum) <= 100 and all(c[3].isalpha() for c in alnum)
    s33 = {s[0]: (s[1], s[3]) for s in SECTORS_33}
    for row in universe.select("S33", "S33Nm", "S17", "S17Nm").unique().iter_rows():
        assert s33[row[0]] == (row[1], row[2])
        assert SECTORS_17[row[2]] == row[3]
    assert set(universe["Mkt"]) == NEW_SEGMENTS
    assert set(universe["MktOld"]) == OLD_SEGMENTS
    assert set(universe["ScaleCat"]) == {
        "TOPIX Core30", "TOPIX Large70", "TOPIX Mid400", "TOPIX Small 1", "TOPIX Small 2", "-",
    }  # fmt: skip
    assert set(universe["Mrgn"]) == {"1", "2", "3"}
    assert (universe["ProdCat"] == "011").all()
    # larger market caps get the higher TOPIX size classes
    size = universe.group_by("ScaleCat").agg(pl.col("size_score").median()).sort("size_score")
    assert size["ScaleCat"].to_list()[-3:] == ["TOPIX Mid400", "TOPIX Large70", "TOPIX Core30"]
    assert universe["shares_outstanding"].min() > 0
    assert abs(universe["size_score"].mean()) < 1e-9
    assert params.peers.shape == (universe.height, universe.height)


def test_universe_rows_do_not_depend_on_end():
    short, p_short = _universe(100, date(2020, 6, 30))
    long, p_long = _universe(100, date(2023, 6, 30))
    assert short.drop("delist_date").equals(long.drop("delist_date"))
    np.testing.assert_array_equal(p_short.list_idx, p_long.list_idx)
    assert (p_short.peers != p_long.peers).nnz == 0


def test_master_has_one_row_per_listed_stock_and_day_with_point_in_time_segments():
    config = SynthConfig(seed=3, stocks=400, start=date(2021, 6, 1), end=date(2023, 12, 31))
    _, days = build_calendar(config)
    universe, params = build_universe(config, trading_sessions(config.start, horizon_end(config)))
    listed = listed_mask(params, len(days))
    master = master_table(universe, days, listed)
    assert master.height == int(listed.sum())
    assert master.select("Date", "Code").is_unique().all()
    assert set(master.filter(pl.col("Date") < REFORM_DAY)["Mkt"]) <= OLD_SEGMENTS
    assert set(master.filter(pl.col("Date") >= REFORM_DAY)["Mkt"]) <= NEW_SEGMENTS
    names = {"0101": "東証一部", "0111": "プライム", "0113": "グロース"}
    for code, name in names.items():
        assert set(master.filter(pl.col("Mkt") == code)["MktNm"]) == {name}
    movers = universe.filter(pl.col("MktChange").is_not_null() & (pl.col("MktChange") <= days[-1]))
    assert movers.height > 0
    row = movers.row(0, named=True)
    seen = master.filter(pl.col("Code") == row["Code"]).sort("Date")
    before = seen.filter((pl.col("Date") >= REFORM_DAY) & (pl.col("Date") < row["MktChange"]))
    after = seen.filter(pl.col("Date") >= row["MktChange"])
    assert set(before["Mkt"]) == {row["Mkt"]} and set(after["Mkt"]) == {row["MktNew"]}
    # listings and delistings happen inside the period
    first, last = listed.argmax(axis=0), len(days) - listed[::-1].argmax(axis=0)
    assert (first > 0).any() and ((last < len(days)) & listed.any(axis=0)).any()
