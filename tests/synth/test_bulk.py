"""Bulk download on the synthetic server: list, signed single-use URLs, gzip CSV files, plans."""

from __future__ import annotations

import datetime as dt
import gzip

import httpx
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from gogooku.jquants.bulkfile import bulk_key, read_csv_gz, write_csv_gz
from gogooku.jquants.endpoint_fields import PUB_REASONS
from gogooku.jquants.endpoints import parse_records
from gogooku.synth.api import create_app
from gogooku.synth.bulk import URL_TTL_S

from .conftest import CODES, fetch_all, serve


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def bulk(hand_market):
    """Premium server with a hand-driven wall clock: (client, clock)."""
    clock = Clock()
    with serve(hand_market, page_size=7, rate_limit=False, wall_clock=clock) as client:
        yield client, clock


def _url(client, key: str) -> str:
    response = client.get("/bulk/get", params={"key": key})
    assert response.status_code == 200, response.text
    return response.json()["url"]


def _download(url: str) -> httpx.Response:
    """A plain GET of a signed URL, without the API key (as the official client does)."""
    return httpx.get(url, timeout=30)


def test_list_has_one_file_per_month_with_size_and_last_modified(bulk):
    client, _ = bulk
    listed = client.get("/bulk/list", params={"endpoint": "/equities/bars/daily"}).json()["data"]
    assert [f["Key"] for f in listed] == [
        bulk_key("equities_bars_daily", 2024, m) for m in (1, 2, 3)
    ]
    assert (
        listed[0]["Key"] == "equities/bars/daily/historical/2024/equities_bars_daily_202401.csv.gz"
    )
    assert listed[-1]["LastModified"] == "2024-03-30T09:00:00Z"
    for entry in listed:
        body = _download(_url(client, entry["Key"]))
        assert body.status_code == 200
        assert len(body.content) == entry["Size"]
        gzip.decompress(body.content)


def test_file_parses_to_the_paged_rows(bulk):
    client, _ = bulk
    key = bulk_key("equities_bars_daily", 2024, 2)
    from_file = read_csv_gz("equities_bars_daily", _download(_url(client, key)).content)
    records = []
    for code in CODES:
        records += fetch_all(
            client, "/equities/bars/daily", {"code": code, "from": "2024-02-01", "to": "2024-02-29"}
        )[0]
    paged = parse_records("equities_bars_daily", records).sort("Date", "Code", maintain_order=True)
    assert from_file.height == paged.height > 0
    assert_frame_equal(from_file, paged)
    header = gzip.decompress(_download(_url(client, key)).content).split(b"\n")[0].decode()
    assert header.split(",") == list(records[0])


def test_date_lists_every_endpoint_of_that_month_and_range_narrows(bulk):
    client, _ = bulk
    month = client.get("/bulk/list", params={"date": "2024-02"}).json()["data"]
    keys = {f["Key"] for f in month}
    assert bulk_key("markets_calendar", 2024, 2) in keys
    assert bulk_key("equities_bars_daily", 2024, 2) in keys
    assert all("_202402" in k for k in keys)
    assert not any(k.startswith("equities/earnings-calendar") for k in keys)
    ranged = client.get(
        "/bulk/list", params={"endpoint": "/markets/calendar", "from": "202401", "to": "2024-01-31"}
    ).json()["data"]
    assert [f["Key"] for f in ranged] == [bulk_key("markets_calendar", 2024, 1)]


def test_url_is_single_use_and_expires_after_five_minutes(bulk):
    client, clock = bulk
    key = bulk_key("markets_calendar", 2024, 1)
    url = _url(client, key)
    assert "/bulk-files/" in url
    assert _download(url).status_code == 200
    reused = _download(url)
    assert reused.status_code == 403
    assert "already been used" in reused.json()["message"]
    late = _url(client, key)
    clock.now += URL_TTL_S + 1
    expired = _download(late)
    assert expired.status_code == 403
    assert "expired" in expired.json()["message"]
    tampered = _url(client, key).replace("signature=", "signature=0")
    assert _download(tampered).status_code == 403
    assert _download(_url(client, key)).status_code == 200


def test_get_by_endpoint_and_month_names_the_same_file(bulk):
    client, _ = bulk
    response = client.get(
        "/bulk/get", params={"endpoint": "/equities/bars/daily", "date": "2024-03"}
    )
    assert bulk_key("equities_bars_daily", 2024, 3) in response.json()["url"]


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/bulk/list", {}, 400),
        ("/bulk/list", {"date": "2024-02", "from": "2024-01"}, 400),
        ("/bulk/list", {"date": "2024-13"}, 400),
        ("/bulk/list", {"endpoint": "/equities/earnings-calendar"}, 400),
        ("/bulk/get", {"key": "equities/bars/daily/historical/2030/x.csv.gz"}, 400),
        ("/bulk/get", {"key": "k", "endpoint": "/equities/bars/daily", "date": "2024-01"}, 400),
    ],
)
def test_bad_queries_are_400(bulk, path, params, status):
    client, _ = bulk
    response = client.get(path, params=params)
    assert response.status_code == status
    assert response.json()["message"]


def test_list_needs_the_api_key(bulk):
    client, _ = bulk
    response = httpx.get(str(client.base_url) + "/bulk/list", params={"date": "2024-01"})
    assert response.status_code == 403


def test_free_plan_gets_calendar_only_and_light_no_standard_files(hand_market):
    with serve(hand_market, plan="free", rate_limit=False) as client:
        keys = {
            f["Key"] for f in client.get("/bulk/list", params={"date": "2024-01"}).json()["data"]
        }
        assert keys == {bulk_key("markets_calendar", 2024, 1)}
        refused = client.get("/bulk/list", params={"endpoint": "/equities/bars/daily"})
        assert refused.status_code == 403
        key = bulk_key("equities_bars_daily", 2024, 1)
        assert client.get("/bulk/get", params={"key": key}).status_code == 403
    with serve(hand_market, plan="light", rate_limit=False) as client:
        listed = client.get("/bulk/list", params={"date": "2024-02"}).json()["data"]
        keys = {f["Key"] for f in listed}
        assert bulk_key("equities_bars_daily", 2024, 2) in keys
        assert bulk_key("indices_topix", 2024, 2) in keys
        assert not any(k.startswith("markets/short-ratio") for k in keys)


_flag = st.sampled_from([None, True, False])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(_flag, min_size=len(PUB_REASONS), max_size=len(PUB_REASONS)), st.booleans()
        ),
        min_size=1,
        max_size=5,
    ),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
def test_csv_round_trip_keeps_structs_and_null_tokens(rows, value):
    records = [
        {
            "PubDate": "2024-01-04",
            "Code": "13010",
            "AppDate": "2024-01-05",
            "PubReason": (
                {
                    m: {True: "1", False: "0", None: ""}[f]
                    for m, f in zip(PUB_REASONS, flags, strict=True)
                }
                if present
                else None
            ),
            "ShrtOut": value,
            "ShrtOutChg": "-",
        }
        for flags, present in rows
    ]
    frame = parse_records("markets_margin_alert", records)
    assert_frame_equal(
        read_csv_gz(
            "markets_margin_alert", write_csv_gz("markets_margin_alert", frame, frozenset())
        ),
        frame,
    )


def test_read_names_the_endpoint_on_a_corrupt_file():
    with pytest.raises(ValueError, match="markets_calendar: bulk file is not valid gzip"):
        read_csv_gz("markets_calendar", b"not gzip")
    body = gzip.compress(b"Date,Bogus\n2024-01-04,1\n")
    with pytest.raises(ValueError, match=r"markets_calendar: .*\['Bogus'\]"):
        read_csv_gz("markets_calendar", body)


def test_file_below_premium_leaves_out_premium_fields_as_paging_does(hand_market):
    with serve(hand_market, plan="standard", rate_limit=False) as client:
        paged = client.get("/equities/bars/daily", params={"date": "2024-02-01"}).json()["data"]
        content = _download(_url(client, bulk_key("equities_bars_daily", 2024, 2))).content
    header = gzip.decompress(content).split(b"\n")[0].decode().split(",")
    assert "MO" not in header
    assert header == list(paged[0])


def test_every_endpoint_file_of_a_month_parses_back_to_its_rows(side_market):
    """All datasets of the simulator (Premium session fields, null tokens, flags, structs)."""
    bulk = create_app(side_market, plan="premium").state.bulk
    month = [f for f in bulk.files.values() if f.key.endswith("_202103.csv.gz")]
    assert len(month) >= 15
    for file in month:
        rows = bulk.rows(file)
        assert rows.height > 0, file.key
        parsed = read_csv_gz(file.endpoint_id, bulk.content(file))
        assert_frame_equal(parsed, rows.select(parsed.columns), check_dtypes=True)


def test_files_are_built_once_and_a_correction_changes_only_its_file(hand_market, monkeypatch):
    import gogooku.synth.bulk as synth_bulk

    built = []
    write = synth_bulk.write_csv_gz
    monkeypatch.setattr(synth_bulk, "write_csv_gz", lambda *a: built.append(a[0]) or write(*a))
    bulk = create_app(hand_market, plan="premium").state.bulk
    params = {"endpoint": "/equities/bars/daily"}
    first = bulk.listing(params)
    assert bulk.listing(params) == first and len(built) == len(first)
    bars = hand_market.tables["equities_bars_daily"]
    fixed = bars.with_columns(
        pl.when(pl.col("Date") == pl.col("Date").filter(pl.col("Date").dt.month() == 2).min())
        .then(pl.col("C") * 1.01)
        .otherwise(pl.col("C"))
        .alias("C")
    )
    at = dt.datetime(2024, 4, 2, 1, 30, tzinfo=dt.UTC)
    february = bulk_key("equities_bars_daily", 2024, 2)
    assert bulk.correct("equities_bars_daily", fixed, at) == [february]
    after = {f["Key"]: f for f in bulk.listing(params)}
    before = {f["Key"]: f for f in first}
    assert after[february]["LastModified"] == "2024-04-02T01:30:00Z"
    assert {k for k in after if after[k] != before[k]} == {february}
    corrected = read_csv_gz("equities_bars_daily", bulk.content(bulk.files[february]))
    expected = fixed.filter(pl.col("Date").dt.month() == 2)["C"].sum()
    assert corrected["C"].sum() == pytest.approx(expected)
