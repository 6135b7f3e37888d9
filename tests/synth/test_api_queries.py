"""Query semantics and paging of the synthetic V2 service, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gogooku.jquants.endpoints import parse_records
from gogooku.settings import Plan

from .conftest import CODES, DAYS, fetch_all, serve


def test_pages_reassemble_exactly_the_table(premium, hand_market):
    records, pages = fetch_all(premium, "/equities/bars/daily", {"code": "72030"})
    expected = (
        hand_market.tables["equities_bars_daily"].filter(pl.col("Code") == "72030").sort("Date")
    )
    assert expected.height == len(DAYS) == 62
    assert pages == 9  # ceil(62 / 7)
    assert_frame_equal(parse_records("equities_bars_daily", records), expected)


def test_page_boundary_exact_multiple_has_no_trailing_key(hand_market):
    with serve(hand_market, page_size=3, rate_limit=False) as client:
        body = client.get("/equities/bars/daily", params={"date": "2024-01-05"}).json()
    assert len(body["data"]) == 3
    assert "pagination_key" not in body


def test_date_query_returns_the_cross_section(premium, hand_market):
    records, _ = fetch_all(premium, "/equities/bars/daily", {"date": "20240105"})
    frame = parse_records("equities_bars_daily", records)
    assert frame["Code"].to_list() == sorted(CODES)
    assert frame["Date"].unique().to_list() == [dt.date(2024, 1, 5)]


def test_code_with_from_to_is_inclusive(premium):
    records, _ = fetch_all(
        premium, "/equities/bars/daily", {"code": "13010", "from": "2024-01-08", "to": "20240110"}
    )
    assert [r["Date"] for r in records] == ["2024-01-08", "2024-01-09", "2024-01-10"]


def test_four_character_code_matches_the_trailing_zero_code(premium):
    four = premium.get("/equities/bars/daily", params={"code": "130A", "date": "2024-01-04"}).json()
    five = premium.get(
        "/equities/bars/daily", params={"code": "130A0", "date": "2024-01-04"}
    ).json()
    assert [r["Code"] for r in four["data"]] == ["130A0"]
    assert four == five
    bad = premium.get("/equities/bars/daily", params={"code": "130", "date": "2024-01-04"})
    assert bad.status_code == 400
    assert "code" in bad.json()["message"]


def test_empty_result_is_data_without_key(premium):
    response = premium.get("/equities/bars/daily", params={"date": "2024-01-06"})  # a Saturday
    assert response.status_code == 200
    assert response.json() == {"data": []}
    unserved = premium.get("/markets/breakdown", params={"date": "2024-01-05"})
    assert unserved.json() == {"data": []}


def test_wire_quirks_flags_and_codes_are_strings(premium):
    text = premium.get("/equities/bars/daily", params={"code": "130A0", "date": "2024-01-04"}).text
    assert '"Code":"130A0"' in text
    assert '"UL":"0"' in text and '"LL":"0"' in text
    assert '"Date":"2024-01-04"' in text
    assert '"O":100.0' in text
    summary = premium.get("/fins/summary", params={"code": "7203"}).json()["data"]
    assert [r["Sales"] for r in summary] == ["3000000", "3000000"]
    assert summary[0]["OdP"] == "" and summary[0]["MatChgSub"] == "false"
    assert summary[0]["EPS"] == "12.5"


def test_premium_only_session_fields_are_absent_below_premium(hand_market, premium):
    query = {"code": "13010", "date": "2024-01-04"}
    full = premium.get("/equities/bars/daily", params=query).json()["data"][0]
    assert full["MO"] == 100.0 and full["MUL"] == "0"
    with serve(hand_market, plan=Plan.STANDARD, rate_limit=False) as client:
        row = client.get("/equities/bars/daily", params=query).json()["data"][0]
    assert "MO" not in row and "MUL" not in row and "AAdjVo" not in row
    assert row["C"] == full["C"] and row["AdjC"] == full["AdjC"]


def test_missing_required_parameter_is_400(premium):
    response = premium.get("/equities/bars/daily")
    assert response.status_code == 400
    assert response.json() == {
        "message": "This API requires at least 1 parameter as follows; code, date"
    }
    assert premium.get("/markets/short-ratio", params={"from": "2024-01-04"}).status_code == 400


def test_invalid_dates_and_unknown_parameters_are_400(premium):
    for value in ("20240230", "2024-13-01", "2024/01/04", "yesterday"):
        response = premium.get("/equities/bars/daily", params={"date": value})
        assert response.status_code == 400, value
        assert value in response.json()["message"]
    response = premium.get(
        "/equities/bars/daily", params={"date": "20240104", "sector33code": "50"}
    )
    assert response.status_code == 400
    assert "sector33code" in response.json()["message"]


def test_pagination_key_from_another_query_is_400(premium):
    key = premium.get("/equities/bars/daily", params={"code": "72030"}).json()["pagination_key"]
    other = premium.get("/equities/bars/daily", params={"code": "13010", "pagination_key": key})
    assert other.status_code == 400
    assert "pagination_key" in other.json()["message"]
    garbage = premium.get("/equities/bars/daily", params={"code": "72030", "pagination_key": "x!"})
    assert garbage.status_code == 400


def test_calendar_hol_div_and_range_without_pagination(hand_market):
    with serve(hand_market, page_size=2, rate_limit=False) as client:
        body = client.get(
            "/markets/calendar", params={"from": "2024-01-04", "to": "2024-01-10"}
        ).json()
        business = client.get(
            "/markets/calendar", params={"hol_div": "1", "from": "20240104", "to": "20240110"}
        ).json()
    assert "pagination_key" not in body
    assert [r["HolDiv"] for r in body["data"]] == ["1", "1", "0", "0", "1", "1", "1"]
    assert [r["Date"] for r in business["data"]] == [
        "2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09", "2024-01-10",
    ]  # fmt: skip


def test_master_serves_one_snapshot(premium):
    latest = premium.get("/equities/master").json()["data"]
    assert {r["Date"] for r in latest} == {DAYS[20].isoformat()}
    assert [r["Mkt"] for r in latest] == ["0112"] * 3
    weekend = premium.get("/equities/master", params={"date": "2024-01-06", "code": "1301"}).json()
    # a non-business day, like any day without a snapshot, gives the next snapshot
    assert [(r["Date"], r["Code"]) for r in weekend["data"]] == [(DAYS[20].isoformat(), "13010")]
    first = premium.get("/equities/master", params={"date": "2024-01-04"}).json()["data"]
    assert {r["Mkt"] for r in first} == {"0111"}
    assert first[0]["ScaleCat"] == "-"


def test_short_ratio_accepts_unpadded_s33(premium):
    records = premium.get("/markets/short-ratio", params={"s33": "50"}).json()["data"]
    assert len(records) == 5 and {r["S33"] for r in records} == {"0050"}


def test_short_sale_report_by_disc_date_and_calc_date(premium):
    by_disc = premium.get("/markets/short-sale-report", params={"disc_date": "2024-02-01"}).json()
    assert sorted(r["SSName"] for r in by_disc["data"]) == ["A", "B"]
    by_calc = premium.get("/markets/short-sale-report", params={"calc_date": "20240131"}).json()
    assert sorted(r["SSName"] for r in by_calc["data"]) == ["A", "C"]
    ranged = premium.get(
        "/markets/short-sale-report",
        params={"code": "7203", "disc_date_from": "2024-02-02", "disc_date_to": "2024-02-05"},
    ).json()
    assert [r["SSName"] for r in ranged["data"]] == ["C"]


def test_earnings_date_needs_exactly_one_selector(premium):
    both = premium.get("/fins/earnings-date", params={"code": "1301", "date": "2024-02-01"})
    assert both.status_code == 400
    by_date = premium.get("/fins/earnings-date", params={"date": "2024-02-01"}).json()["data"]
    assert sorted(r["Code"] for r in by_date) == ["13010", "130A0"]
    history = premium.get("/fins/earnings-date", params={"code": "1301"}).json()["data"]
    assert [r["SchDate"] for r in history] == ["2024-03-05", "2024-03-12"]
    # scheduled_date matches the currently valid schedule only: 13010 moved to 2024-03-12
    scheduled = premium.get("/fins/earnings-date", params={"scheduled_date": "2024-03-05"}).json()
    assert [r["Code"] for r in scheduled["data"]] == ["130A0"]
    undecided = premium.get("/fins/earnings-date", params={"code": "7203"}).json()["data"]
    assert undecided[0]["SchDate"] == ""


def test_earnings_calendar_serves_the_next_announcement_day(premium):
    records = premium.get("/equities/earnings-calendar").json()["data"]
    # today is the last bar date, 2024-03-29: the next announcement day is 2024-04-01
    assert [(r["Date"], r["Code"]) for r in records] == [
        ("2024-04-01", "130A0"),
        ("2024-04-01", "72030"),
    ]


def test_premium_fields_missing_from_the_market_are_omitted(hand_market):
    bars = hand_market.tables["equities_bars_daily"]
    lean = type(hand_market)(tables={"equities_bars_daily": bars.drop("MO", "MUL")})
    with serve(lean, rate_limit=False) as client:
        row = client.get("/equities/bars/daily", params={"code": "13010", "date": "2024-01-04"})
    record = row.json()["data"][0]
    assert "MO" not in record and "MUL" not in record
    assert record["MC"] is None and record["C"] == 101.0


def test_market_table_missing_a_regular_column_is_rejected(hand_market):
    bars = hand_market.tables["equities_bars_daily"].drop("AdjC")
    with pytest.raises(
        ValueError, match=r"equities_bars_daily lacks catalogue column\(s\) \['AdjC'\]"
    ):
        serve(type(hand_market)(tables={"equities_bars_daily": bars})).__enter__()


def test_margin_interest_published_date_filters_pubdate_and_refuses_date(switch_market):
    with serve(switch_market, plan=Plan.PREMIUM, rate_limit=False) as client:
        records, _ = fetch_all(client, "/markets/margin-interest", {"published_date": "2026-09-28"})
        weekly, _ = fetch_all(client, "/markets/margin-interest", {"published_date": "2026-09-15"})
        mixed = client.get(
            "/markets/margin-interest",
            params={"published_date": "2026-09-28", "date": "2026-09-25"},
        )
    frame = parse_records("markets_margin_interest", records)
    assert frame.height > 0
    assert frame["PubDate"].unique().to_list() == [dt.date(2026, 9, 28)]
    assert frame["Date"].unique().to_list() == [dt.date(2026, 9, 25)]
    assert weekly == []  # weekly rows have no PubDate
    assert mixed.status_code == 400 and "published_date" in mixed.json()["message"]
