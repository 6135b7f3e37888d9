"""Minute bars, ticks, the morning-session endpoint and all options of the synthetic market."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from gogooku.jquants.bulkfile import read_csv_gz
from gogooku.jquants.derived import summarise_minute_bars
from gogooku.jquants.endpoints import parse_records
from gogooku.synth.api import create_app
from gogooku.synth.day_sources import day_sources
from gogooku.synth.minute import TIMES, minute_bars, trades
from gogooku.synth.minute_summary import minute_summaries
from gogooku.synth.sessions import with_sessions

from .conftest import serve

DAILY = ("Date", "Code", "O", "H", "L", "C", "Vo", "Va")


@pytest.fixture(scope="module")
def daily(side_market) -> pl.DataFrame:
    return side_market.tables["equities_bars_daily"].select(DAILY)


@settings(max_examples=8, deadline=None, database=None)
@given(data=st.data())
def test_minute_bars_add_up_to_the_daily_bar(side_market, daily, data):
    """Hypothesis draws a day and a few stocks: their bars are the whole day's rows of those
    stocks, lie on the session grid and aggregate to the daily bar."""
    days = daily["Date"].unique().sort()
    day = days[data.draw(st.integers(0, days.len() - 1), label="day")]
    rows = daily.filter(pl.col("Date") == day)
    picks = data.draw(
        st.lists(st.integers(0, rows.height - 1), min_size=1, max_size=4, unique=True)
    )
    mine = rows[picks]
    bars = minute_bars(mine, side_market.config.seed)
    whole = minute_bars(rows, side_market.config.seed)
    assert_frame_equal(bars, whole.filter(pl.col("Code").is_in(mine["Code"].implode())))
    assert bars["Time"].is_in(list(TIMES)).all()
    assert not bars["Time"].is_between("15:25", "15:29").any()
    assert bars.select((pl.col("H") >= pl.max_horizontal("O", "C")).all()).item()
    assert bars.select((pl.col("L") <= pl.min_horizontal("O", "C")).all()).item()
    assert (bars["Vo"] > 0).all()
    agg = bars.group_by("Date", "Code").agg(
        pl.col("O").first(), pl.col("H").max(), pl.col("L").min(), pl.col("C").last(),
        pl.col("Vo").sum(), pl.col("Va").sum(),
    )  # fmt: skip
    traded = mine.filter(pl.col("C").is_not_null())
    joined = traded.join(agg, on=["Date", "Code"], how="left", suffix="_m")
    assert joined.height == agg.height
    for c in ("O", "H", "L", "C", "Vo"):
        assert (joined[c] == joined[f"{c}_m"]).all(), c
    assert ((joined["Va"] - joined["Va_m"]).abs() <= 1e-6 * joined["Va"]).all()
    flat = bars.filter(pl.col("Time").is_in(["11:30", "15:30"]))
    assert (flat["O"] == flat["H"]).all() and (flat["L"] == flat["C"]).all()


def test_ticks_make_up_each_minute_bar(side_market, daily):
    day = daily["Date"].unique().sort()[30]
    bars = minute_bars(daily.filter(pl.col("Date") == day).head(10), side_market.config.seed)
    ticks = trades(bars, side_market.config.seed)
    assert ticks["Time"].str.contains(r"^\d{2}:\d{2}:\d{2}\.\d{6}$").all()
    assert ticks.select("Code", "TransactionId").is_unique().all()
    per_minute = ticks.group_by("Date", "Code", pl.col("Time").str.slice(0, 5)).agg(
        pl.col("Price").first().alias("first"),
        pl.col("Price").last().alias("last"),
        pl.col("TradingVolume").sum(),
        pl.col("SessionDistinction").first(),
    )
    joined = bars.join(per_minute, on=["Date", "Code", "Time"], how="full", coalesce=True)
    assert joined.height == bars.height
    assert (joined["first"] == joined["O"]).all() and (joined["last"] == joined["C"]).all()
    assert (joined["TradingVolume"] == joined["Vo"]).all()
    morning = joined["Time"] < "12:00"
    assert (joined["SessionDistinction"] == morning.replace_strict({True: "01", False: "02"})).all()


def test_trades_are_bulk_only_and_their_file_round_trips(side_market):
    bars = side_market.tables["equities_bars_daily"]
    codes = bars["Code"].unique().sort().head(3).implode()
    tables = {
        "markets_calendar": side_market.tables["markets_calendar"],
        "equities_bars_daily": bars.filter(
            pl.col("Code").is_in(codes) & (pl.col("Date") >= dt.date(2021, 12, 1))
        ),
    }
    small = SimpleNamespace(tables=tables, day_sources=day_sources(tables, 5))
    bulk = create_app(small, plan="premium").state.bulk
    month = [f for f in bulk.files.values() if f.endpoint_id == "equities_trades"][-1]
    rows = bulk.rows(month)
    assert rows.height > 0 and month.key.startswith("equities/trades/historical/")
    assert_frame_equal(read_csv_gz("equities_trades", bulk.content(month)), rows)
    with serve(small, plan="premium") as client:
        answer = client.get("/equities/trades", params={"date": "2021-12-01"})
    assert answer.status_code == 403 and "Missing Authentication Token" in answer.json()["message"]


def test_minute_bars_are_served_for_a_day_and_a_code(side_market, daily):
    day = daily["Date"].max()
    with serve(side_market, plan="light", page_size=100_000) as client:
        by_day = client.get("/equities/bars/minute", params={"date": f"{day}"}).json()["data"]
        code = by_day[0]["Code"]
        by_code = client.get(
            "/equities/bars/minute", params={"code": code, "from": f"{day}", "to": f"{day}"}
        ).json()["data"]
    frame = parse_records("equities_bars_minute", by_day)
    assert_frame_equal(
        frame, minute_bars(daily.filter(pl.col("Date") == day), side_market.config.seed)
    )
    assert by_code == [r for r in by_day if r["Code"] == code]


def test_morning_endpoint_serves_today_only_and_210_otherwise(side_market):
    bars = side_market.tables["equities_bars_daily"]
    today = bars["Date"].max()
    expected = with_sessions(bars.filter(pl.col("Date") == today), side_market.config.seed)
    with serve(side_market, plan="premium", page_size=100_000) as client:
        rows = client.get("/equities/bars/daily/am").json()["data"]
        assert client.get("/equities/bars/daily/am", params={"code": rows[0]["Code"][:4]}).json()[
            "data"
        ] == [rows[0]]
    frame = parse_records("equities_bars_daily_am", rows)
    assert_frame_equal(frame, expected.select(frame.columns))
    saturday = today + dt.timedelta(days=(5 - today.weekday()) % 7 or 7)
    with serve(side_market, plan="premium", today=saturday) as client:
        answer = client.get("/equities/bars/daily/am")
    assert answer.status_code == 210 and answer.json()["data"] == []
    with serve(side_market, plan="standard") as client:
        assert client.get("/equities/bars/daily/am").status_code == 403


def test_all_options_hold_nikkei_and_topix_series(side_market):
    day = side_market.tables["options_225"]["Date"].max()
    with serve(side_market, plan="premium", page_size=100_000) as client:
        rows = client.get("/derivatives/bars/daily/options", params={"date": f"{day}"}).json()[
            "data"
        ]
        topix = client.get(
            "/derivatives/bars/daily/options", params={"date": f"{day}", "category": "TOPIXE"}
        ).json()["data"]
    frame = parse_records("options_all", rows)
    nikkei = frame.filter(pl.col("ProdCat") == "NK225E")
    assert nikkei.height == side_market.tables["options_225"].filter(pl.col("Date") == day).height
    assert parse_records("options_all", topix).equals(frame.filter(pl.col("ProdCat") == "TOPIXE"))
    assert len(topix) > 0 and frame.select("Date", "Code", "EmMrgnTrgDiv").is_unique().all()
    under = frame.group_by("ProdCat").agg(pl.col("UnderPx").first()).sort("ProdCat")["UnderPx"]
    assert under[1] == pytest.approx(under[0] / 14, rel=1e-3)


def test_minute_data_needs_the_add_on(side_market):
    with serve(side_market, plan="premium", addons=frozenset()) as client:
        answer = client.get("/equities/bars/minute", params={"date": "2021-12-01"})
        listing = client.get("/bulk/list", params={"date": "2021-12"}).json()["data"]
    assert answer.status_code == 403
    assert "/equities/bars/minute requires the minute add-on" in answer.json()["message"]
    keys = [f["Key"] for f in listing]
    assert keys and not any(k.startswith(("equities/bars/minute", "equities/trades")) for k in keys)


@settings(max_examples=3, deadline=None, database=None)
@given(data=st.data())
def test_summaries_rendered_from_the_model_equal_the_summary_of_the_bars(side_market, daily, data):
    """A few drawn days (the 2020-10-01 halt among the candidates: no rows) of 150 stocks: the
    vectorised renderer equals the stored summary of the rendered bars (RV5m to rounding)."""
    days = daily["Date"].unique().sort()
    picks = data.draw(st.lists(st.integers(0, days.len() - 1), min_size=1, max_size=3))
    rows = daily.filter(pl.col("Date").is_in(days.gather(sorted(set(picks))).implode()))
    seed = side_market.config.seed
    direct = minute_summaries(rows, seed)
    stored = summarise_minute_bars(minute_bars(rows, seed))
    assert direct.height == rows.filter(pl.col("Vo") > 0).height
    assert direct.drop("RV5m").equals(stored.drop("RV5m"))
    assert_frame_equal(direct, stored, check_exact=False, rel_tol=1e-12, abs_tol=0.0)
    assert minute_summaries(rows.filter(pl.col("Date") == dt.date(2020, 10, 1)), seed).is_empty()
