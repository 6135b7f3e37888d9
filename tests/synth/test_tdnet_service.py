"""TDnet on the synthetic server: add-on gating, the /td/list cursor, /td/files URLs (15 minutes,
reusable until then), /td/bulk round trip, and the alignment of releases with fins_summary."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.errors import PlanNotAllowedError
from gogooku.jquants.transport import ASGISyncTransport
from gogooku.settings import AddOn
from gogooku.synth.api import create_app
from gogooku.synth.tdnet import TD_URL_TTL_S, listed_at

BASE = "http://synthetic.local/v2"
KEY = "k"
JST = dt.timezone(dt.timedelta(hours=9))


class Clock:
    """Wall clock (epoch seconds) set to a JST time of day."""

    def __init__(self) -> None:
        self.now = 0.0

    def at(self, hhmm: str) -> None:
        h, m = map(int, hhmm.split(":"))
        self.now = dt.datetime(2030, 1, 1, h, m, tzinfo=JST).timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def td_table(side_market) -> pl.DataFrame:
    return side_market.tables["td_list"]


@pytest.fixture(scope="module")
def busy_day(td_table) -> dt.date:
    """A day with disclosures both before 15:00 and after 17:00."""
    per_day = td_table.group_by("DiscDate").agg(
        (pl.col("DiscTime") < "15:00").sum().alias("early"),
        (pl.col("DiscTime") > "17:00").sum().alias("late"),
    )
    return per_day.filter(pl.col("early") >= 2, pl.col("late") >= 2)["DiscDate"].min()


@contextmanager
def served(market, today, clock, addons=frozenset(AddOn), page_size=5000):
    app = create_app(
        market, api_key=KEY, rate_limit=False, today=today, wall_clock=clock,
        addons=addons, page_size=page_size,
    )  # fmt: skip
    transport = ASGISyncTransport(app)
    client = JQuantsClient(
        KEY, base_url=BASE, transport=transport, pacing=False, today=today, addons=addons
    )
    raw = httpx.Client(base_url=BASE, transport=transport, headers={"x-api-key": KEY})
    with client, raw:
        yield client, raw


def test_releases_have_the_day_and_time_of_their_statement(side_market, td_table):
    fins = side_market.tables["fins_summary"].select(
        "Code", "DiscDate", pl.col("DiscTime").str.slice(0, 5).fill_null("17:00")
    )
    releases = td_table.filter(pl.col("DiscItems") == "101").select("Code", "DiscDate", "DiscTime")
    assert_frame_equal(fins.sort(pl.all()), releases.sort(pl.all()))
    corrections = td_table.filter(pl.col("DiscItems") == "999")
    assert corrections.height > 0 and corrections["Title"].str.starts_with("（訂正）").all()
    assert td_table["DiscNo"].n_unique() == td_table.height


def test_without_the_add_on_every_td_path_is_403_naming_it(side_market, busy_day):
    clock = Clock()
    clock.at("18:00")
    with served(side_market, busy_day, clock, addons=frozenset()) as (client, raw):
        for path, params in (
            ("/td/list", {"date": str(busy_day)}),
            ("/td/files", {"discNo": "2020010600000"}),
            ("/td/bulk", {}),
        ):
            answer = raw.get(path, params=params)
            assert answer.status_code == 403
            assert "tdnet add-on" in answer.json()["message"]
        with pytest.raises(PlanNotAllowedError, match="tdnet add-on"):
            client.td_list_since(busy_day)
        assert client.requests_made == 0


def test_cursor_returns_only_records_listed_since(side_market, td_table, busy_day):
    clock = Clock()
    day_rows = td_table.filter(pl.col("DiscDate") == busy_day).with_columns(
        listed_at().alias("listed")
    )
    clock.at("15:00")
    with served(side_market, busy_day, clock, page_size=2) as (client, raw):
        first, cursor = client.td_list_since(busy_day)
        noon = dt.datetime.combine(busy_day, dt.time(15, 0))
        assert set(first["DiscNo"]) == set(day_rows.filter(pl.col("listed") <= noon)["DiscNo"])
        assert cursor is not None
        again, same = client.td_list_since(busy_day, cursor)
        assert again.height == 0 and same is not None
        clock.at("18:30")
        later, _ = client.td_list_since(busy_day, same)
        evening = dt.datetime.combine(busy_day, dt.time(18, 30))
        expected = day_rows.filter(pl.col("listed") > noon, pl.col("listed") <= evening)
        assert later.height > 0 and set(later["DiscNo"]) == set(expected["DiscNo"])
        assert raw.get("/td/list", params={"code": "13010", "cursor": cursor}).status_code == 400
        other_day = str(busy_day - dt.timedelta(days=1))
        wrong = raw.get("/td/list", params={"date": other_day, "cursor": cursor})
        assert wrong.status_code == 400


def test_cursor_pages_go_by_their_key_alone_even_on_a_restarted_server(
    side_market, td_table, busy_day
):
    """The key holds its page's position (the one cursor server of fins and td): a server keeps
    no state per query, so pages alternating between two apps with one secret, the cursor sent
    with the first page only, return exactly the records listed since the cursor."""
    clock = Clock()
    secret = b"s" * 32
    options = {"rate_limit": False, "today": busy_day, "wall_clock": clock, "page_size": 1}
    apps = [create_app(side_market, api_key=KEY, bulk_secret=secret, **options) for _ in range(2)]
    raws = [
        httpx.Client(base_url=BASE, transport=ASGISyncTransport(app), headers={"x-api-key": KEY})
        for app in apps
    ]

    def walk(params: dict[str, str]) -> tuple[list[str], str]:
        seen, body, turn = [], raws[0].get("/td/list", params=params).json(), 0
        seen += [r["DiscNo"] for r in body["data"]]
        while "pagination_key" in body:
            turn += 1
            query = {"date": params["date"], "pagination_key": body["pagination_key"]}
            body = raws[turn % 2].get("/td/list", params=query).json()
            seen += [r["DiscNo"] for r in body["data"]]
        return seen, body["cursor"]

    listed = td_table.filter(pl.col("DiscDate") == busy_day).with_columns(listed_at().alias("at"))
    noon, evening = (dt.datetime.combine(busy_day, dt.time(h, m)) for h, m in ((15, 0), (18, 30)))
    clock.at("15:00")
    before, cursor = walk({"date": str(busy_day)})
    clock.at("18:30")
    since, _ = walk({"date": str(busy_day), "cursor": cursor})
    expected = listed.filter(pl.col("at") > noon, pl.col("at") <= evening)
    assert len(before) == listed.filter(pl.col("at") <= noon).height >= 2
    assert len(since) >= 2 and sorted(since) == sorted(expected["DiscNo"])
    forged = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert (
        raws[1].get("/td/list", params={"date": str(busy_day), "cursor": forged}).status_code == 400
    )
    for raw in raws:
        raw.close()


def test_files_urls_last_15_minutes_and_may_be_reused(side_market, td_table, busy_day):
    clock = Clock()
    clock.at("18:00")
    release = td_table.filter(pl.col("DiscItems") == "101", pl.col("DiscDate") < busy_day).row(
        0, named=True
    )
    with served(side_market, busy_day, clock) as (client, _):
        files = client.td_files(release["DiscNo"], docs="g,x")
        assert files["summaryPdf"] is None and files["pdf"] and files["xbrl"]
        assert client.download(files["pdf"]).startswith(b"%PDF")
        assert client.download(files["pdf"]).startswith(b"%PDF")  # not single-use
        clock.now += TD_URL_TTL_S + 1
        with pytest.raises(Exception, match="expired"):
            client.download(files["xbrl"])


def test_bulk_round_trip_holds_every_record_listed_by_last_updated(side_market, td_table, busy_day):
    clock = Clock()
    clock.at("18:00")
    with served(side_market, busy_day, clock) as (client, _):
        stamp, frame = client.td_bulk()
    as_of = dt.datetime.combine(busy_day, dt.time(17, 0))
    assert stamp == as_of.replace(tzinfo=JST)
    expected = (
        td_table.filter(pl.col("DiscDate") >= busy_day - dt.timedelta(days=5 * 366))
        .filter(listed_at() <= as_of)
        .sort("DiscDate", "DiscNo")
    )
    assert frame.height == expected.height > 0
    assert_frame_equal(frame, expected)
    assert (frame["Docs"] == "g|s|x").any()  # a |-joined list survived the CSV
