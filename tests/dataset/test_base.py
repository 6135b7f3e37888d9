"""The base frame: point-in-time adjustment, universe without survivorship, halt, TOPIX, master."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from gogooku.calendar import TradingCalendar
from gogooku.dataset.base import BASE_COLUMNS, BaseFrameError, build_base

from ..support.tables import TableStore
from .conftest import make_market

START, END = date(2020, 6, 1), date(2021, 3, 31)


@pytest.fixture(scope="module")
def market():
    return make_market(START, END)


@pytest.fixture(scope="module")
def cal(market):
    return TradingCalendar.from_frame(market["markets_calendar"])


def test_columns_order_and_sorting(market, cal):
    base = build_base(TableStore(market), cal, START, END)
    assert tuple(base.columns) == BASE_COLUMNS
    assert base.select(pl.struct("Code", "Date").is_duplicated().any()).item() is False
    assert base.equals(base.sort("Code", "Date"))


def test_split_adjustment_is_point_in_time_and_continuous(market, cal):
    split = date(2020, 11, 16)
    base = build_base(TableStore(market), cal, START, END).filter(pl.col("Code") == "13010")
    before = base.filter(pl.col("Date") == cal.prev_bd(split)).row(0, named=True)
    on = base.filter(pl.col("Date") == split).row(0, named=True)
    # Raw close halves on the ex-date; the adjusted series continues (F: 1 -> 0.5).
    assert on["C"] == pytest.approx(on["AdjC"] * 0.5)
    assert before["AdjC"] == pytest.approx(before["C"])
    assert on["AdjVo"] == pytest.approx(on["Vo"] * 0.5)
    # Built only from data up to the day before the split: same adjusted values (no re-basing).
    cut = build_base(TableStore(market, cut=cal.prev_bd(split)), cal, START, cal.prev_bd(split))
    full_part = build_base(TableStore(market), cal, START, END).filter(
        pl.col("Date") <= cal.prev_bd(split)
    )
    assert cut.equals(full_part)


def test_universe_follows_listing_and_delisting(market, cal):
    base = build_base(TableStore(market), cal, START, END)
    by_code = base.group_by("Code").agg(
        pl.col("Date").min().alias("lo"), pl.col("Date").max().alias("hi")
    )
    spans = {r["Code"]: (r["lo"], r["hi"]) for r in by_code.iter_rows(named=True)}
    bars = market["equities_bars_daily"]
    for code, (lo, hi) in spans.items():
        own = bars.filter(pl.col("Code") == code)["Date"]
        assert (lo, hi) == (own.min(), own.max())
    assert spans["13020"][1] < cal.last  # delisted stock kept until it delists
    assert spans["13030"][0] > cal.days(START, END)[0]  # later listing starts later
    # One row per trading day while listed: no gaps.
    for code, (lo, hi) in spans.items():
        assert base.filter(pl.col("Code") == code).height == cal.count(lo, hi)


def test_halt_day_rows_are_no_trade_and_flagged(market, cal):
    base = build_base(TableStore(market), cal, START, END)
    halt = base.filter(pl.col("Date") == date(2020, 10, 1))
    assert halt.height == 4
    assert halt["no_trade"].all() and halt["is_halt_20201001"].all()
    assert halt["AdjC"].null_count() == 4
    assert base.filter(pl.col("Date") != date(2020, 10, 1))["is_halt_20201001"].any() is False


def test_topix_is_the_same_day_bar(market, cal):
    base = build_base(TableStore(market), cal, START, END)
    joined = base.join(market["indices_topix"], on="Date")
    assert (joined["topix_C"] == joined["C_right"]).all()
    assert joined.height == base.height


def test_master_attributes_as_of_date_and_master_only_rows(market, cal):
    master = market["equities_master"]
    change = date(2021, 1, 4)
    # The sector of 13040 changes from 2021-01-04 on; a master-only row exists on 2021-03-31.
    master = master.with_columns(
        S33=pl.when((pl.col("Code") == "13040") & (pl.col("Date") >= change))
        .then(pl.lit("9050"))
        .otherwise(pl.col("S33"))
    )
    bars = market["equities_bars_daily"].filter(
        ~((pl.col("Code") == "13040") & (pl.col("Date") == date(2021, 3, 31)))
    )
    tables = {**market, "equities_master": master, "equities_bars_daily": bars}
    base = build_base(TableStore(tables), cal, START, END).filter(pl.col("Code") == "13040")
    s33 = dict(zip(base["Date"].to_list(), base["S33"].to_list(), strict=True))
    assert s33[cal.prev_bd(change)] == "3050"
    assert s33[change] == "9050"
    last = base.filter(pl.col("Date") == date(2021, 3, 31)).row(0, named=True)
    assert last["no_trade"] and last["C"] is None and last["S33"] == "9050"


def test_missing_bars_are_a_clear_error(market, cal):
    tables = {**market, "equities_bars_daily": market["equities_bars_daily"].drop("AdjFactor")}
    with pytest.raises(
        BaseFrameError, match=r"equities_bars_daily: missing columns \['AdjFactor'\]"
    ):
        build_base(TableStore(tables), cal, START, END)


def test_sparse_master_snapshots_are_joined_as_of_never_forward(market, cal):
    """With snapshots only on the first trading day of each month, rows take the latest earlier one."""
    master = market["equities_master"]
    firsts = master.group_by(pl.col("Date").dt.strftime("%Y-%m").alias("m")).agg(
        pl.col("Date").min()
    )["Date"]
    sparse = master.filter(
        pl.col("Date").is_in(firsts.implode()) & (pl.col("Date") > START)
    ).with_columns(S33=pl.col("Date").dt.strftime("%m"))
    base = build_base(TableStore({**market, "equities_master": sparse}), cal, START, END)
    row = base.filter((pl.col("Code") == "13010") & (pl.col("Date") == date(2020, 11, 20)))
    assert row["S33"].to_list() == ["11"]  # the 2020-11-02 snapshot, not the December one
    first_month = base.filter(pl.col("Date") < firsts.sort()[1])
    assert first_month["S33"].null_count() == first_month.height  # nothing before any snapshot
    assert tuple(base.columns) == BASE_COLUMNS
    assert base.equals(base.sort("Code", "Date"))
