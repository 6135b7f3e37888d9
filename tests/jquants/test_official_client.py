"""The official ``jquants-api-client`` (``jquantsapi.ClientV2`` 2.8.0) against our synthetic V2
server on a real socket: for every endpoint both know, its frame equals our client's.

The official client returns pandas frames: dates as ``datetime64`` where it converts them, wire
strings elsewhere (fins numbers, flags, dates it leaves alone), nested objects as dicts.
``official_frame`` maps each cell to our catalogue dtype on its own (not through our parser):
timestamps and ``YYYY-MM-DD`` strings → ``pl.Date``; numbers and number strings → ``Float64``
with ``""``/``"-"``/``"*"``/NaN → null; ``"0"``/``"1"``/``"true"``/``"false"`` → ``Boolean``;
dicts of flags → the struct; lists of strings (TDnet) → ``|``-joined. Rows are compared in key order (the official client sorts its own
way).
"""

from __future__ import annotations

import datetime as dt
import gzip
import inspect
import json
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
import requests
from jquantsapi import ClientV2
from jquantsapi.apis import v2 as official_apis
from polars.testing import assert_frame_equal

from gogooku.httpserver import background_server
from gogooku.jquants.bulkfile import read_csv_gz
from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.jquants.errors import AuthError
from gogooku.settings import AddOn, Plan
from gogooku.synth.api import create_app
from gogooku.synth.request_log import RequestLog

from ..support.clock import FakeClock

KEY = "official-key"
PAGE_SIZE = 7
RANGE = {"from_yyyymmdd": "2026-09-01", "to_yyyymmdd": "2026-10-31"}
OUR_RANGE = {"from": "2026-09-01", "to": "2026-10-31"}
_TRUTH = {"0": False, "1": True, "false": False, "true": True}


@dataclass(frozen=True)
class Case:
    """One query: the official method and its kwargs, our ``fetch`` params; ``day`` is a date of
    the dataset with rows (its busiest day)."""

    dataset: str
    method: str
    official: Callable[[str], dict]
    ours: Callable[[str], dict]


def _on_day(param: str = "date_yyyymmdd", ours: str = "date") -> tuple[Callable, Callable]:
    return (lambda day: {param: day}), (lambda day: {ours: day})


def _ranged() -> tuple[Callable, Callable]:
    return (lambda _: RANGE), (lambda _: OUR_RANGE)


CASES = [
    Case("equities_master", "get_eq_master", *_on_day("date")),
    Case("equities_bars_daily", "get_eq_bars_daily", *_on_day()),
    Case("markets_calendar", "get_mkt_calendar", *_ranged()),
    Case("indices_topix", "get_idx_bars_daily_topix", *_ranged()),
    Case("indices_bars_daily", "get_idx_bars_daily", *_on_day()),
    Case("equities_investor_types", "get_eq_investor_types", *_ranged()),
    Case("markets_margin_interest", "get_mkt_margin_interest", *_on_day()),
    Case(
        "markets_margin_interest",
        "get_mkt_margin_interest",
        lambda day: {"published_date_yyyymmdd": day},
        lambda day: {"published_date": day},
    ),
    Case("markets_margin_alert", "get_mkt_margin_alert", *_on_day()),
    Case("markets_short_ratio", "get_mkt_short_ratio", *_on_day()),
    Case(
        "markets_short_sale_report",
        "get_mkt_short_sale_report",
        *_on_day("disclosed_date", "disc_date"),
    ),
    Case("options_225", "get_drv_bars_daily_opt_225", *_on_day()),
    Case("futures", "get_drv_bars_daily_fut", *_on_day()),
    Case("fins_summary", "get_fin_summary", *_on_day()),
    Case("fins_summary", "get_fin_summary_cursor", *_on_day()),
    Case("fins_details", "get_fin_details", *_on_day()),
    Case("fins_details", "get_fin_details_cursor", *_on_day()),
    Case("fins_earnings_date", "get_fin_earnings_date", *_on_day()),
    Case("equities_earnings_calendar", "get_eq_earnings_cal", lambda _: {}, lambda _: {}),
    Case("fins_dividend", "get_fin_dividend", *_on_day()),
    Case("markets_breakdown", "get_mkt_breakdown", *_on_day()),
    Case("equities_valuation", "get_eq_valuation", *_on_day()),
    Case("equities_bars_minute", "get_eq_bars_minute", *_on_day()),
    Case("equities_bars_daily_am", "get_eq_bars_daily_am", lambda _: {}, lambda _: {}),
    Case("options_all", "get_drv_bars_daily_opt", *_on_day()),
    Case("td_list", "get_td_list", *_on_day("date")),
    Case("edinet_major_shareholders", "get_edinet_major_shareholders", *_on_day()),
    Case("edinet_cross_shareholdings", "get_edinet_cross_shareholdings", *_on_day()),
    Case("edinet_large_volume_shareholders", "get_edinet_large_volume_shareholders", *_on_day()),
]


def official_paths() -> set[str]:
    """Every V2 path the official client's endpoint modules request."""
    paths: set[str] = set()
    for name in ("bulk", "derivatives", "edinet", "equities", "fins", "indices", "markets", "td"):
        source = inspect.getsource(getattr(official_apis, name))
        paths |= set(re.findall(r"[\"'}](/[a-z][a-z0-9/_-]*)[\"']", source))
    return paths


def test_every_catalogue_endpoint_the_official_client_knows_is_compared():
    known = official_paths()
    assert {"/equities/bars/daily", "/fins/summary", "/bulk/list"} <= known
    wired = {case.dataset for case in CASES}
    missing = sorted(e.id for e in ENDPOINTS.values() if e.path in known and e.id not in wired)
    assert missing == [], f"add a Case for {missing} to CASES"
    assert all(hasattr(ClientV2, case.method) for case in CASES)


# -- normalising the official frame -----------------------------------------------------------


def _cell(value: object, dtype: pl.DataType) -> object:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(dtype, pl.Struct):
        return {f.name: _cell(value[f.name], f.dtype) for f in dtype.fields}
    if isinstance(value, list):  # TDnet DiscItems/Docs: stored |-joined, [] as null
        return "|".join(value) or None
    if isinstance(value, str) and value in ("", "-", "*"):
        return None
    if dtype == pl.Date:
        return value.date() if isinstance(value, pd.Timestamp) else dt.date.fromisoformat(value)
    if dtype == pl.Float64:
        return float(value)
    if dtype == pl.Boolean:
        return _TRUTH[str(value).lower()]
    return str(value)


def _nested(value: object) -> str | None:
    """The official client keeps nested objects and lists (FS, EDINET holders) as they are; we keep
    their JSON text, keys sorted."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return _cell(value, pl.String)


def official_frame(dataset: str, frame: pd.DataFrame) -> pl.DataFrame:
    """The official client's frame in our catalogue's column order and dtypes (module doc)."""
    ep = ENDPOINTS[dataset]
    schema = {name: t for name, t in ep.schema.items() if name in ep.wire_names}
    assert sorted(frame.columns) == sorted(schema), dataset
    objects = {s.name for s in ep.fields if s.kind == "json"}
    rows = [
        {
            name: _nested(record[name]) if name in objects else _cell(record[name], schema[name])
            for name in schema
        }
        for record in frame.to_dict("records")
    ]
    return pl.DataFrame(rows, schema=schema, orient="row")


def in_key_order(dataset: str, frame: pl.DataFrame) -> pl.DataFrame:
    columns = [n for n, t in frame.schema.items() if not isinstance(t, pl.Struct)]
    return frame.sort(columns, nulls_last=True, maintain_order=True)


# -- the server --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(switch_market):
    app = RequestLog(
        create_app(
            switch_market, api_key=KEY, plan=Plan.PREMIUM, page_size=PAGE_SIZE, rate_limit=False
        )
    )
    with background_server(app) as url:
        yield switch_market, app, f"{url}/v2"


def official_client(base: str, key: str = KEY) -> ClientV2:
    client = ClientV2(api_key=key)
    client.JQUANTS_API_BASE = base
    return client


def ours(base: str, today: dt.date) -> JQuantsClient:
    return JQuantsClient(
        KEY, Plan.PREMIUM, base, pacing=False, today=today, addons=frozenset(AddOn)
    )


def busiest_day(market, dataset: str, today: dt.date) -> str:
    ep = ENDPOINTS[dataset]
    if dataset in market.day_sources:  # rendered per request: its last day up to today
        days = market.day_sources[dataset].days
        return days.filter(days <= today).max().isoformat()
    counts = market.tables[dataset].group_by(ep.date_field).len().drop_nulls()
    counts = counts.filter(pl.col(ep.date_field) <= today)
    if dataset == "markets_margin_interest":
        counts = counts.filter(pl.col(ep.date_field) >= dt.date(2026, 9, 25))
    if dataset == "td_list":  # today's disclosures appear through the day (wall-clock time)
        counts = counts.filter(pl.col(ep.date_field) < today)
    return counts.sort("len", ep.date_field)[-1, ep.date_field].isoformat()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.dataset}-{c.method}")
def test_official_frame_equals_ours(served, case):
    market, app, base = served
    today = app.state.service.today
    day = busiest_day(market, case.dataset, today)
    if "published_date" in case.ours(day):
        day = market.tables[case.dataset]["PubDate"].drop_nulls().max().isoformat()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # get_fin_summary: use the cursor one
        answer = getattr(official_client(base), case.method)(**case.official(day))
    if isinstance(answer, tuple):
        answer, cursor = answer
        assert cursor is not None  # a date query's last page carries the cursor
    with ours(base, today) as client:
        expected = client.fetch(case.dataset, **case.ours(day))
    assert expected.height > 0
    got = official_frame(case.dataset, answer)
    expected = expected.select(got.columns)  # derived columns (fins_details items) are ours only
    assert_frame_equal(in_key_order(case.dataset, got), in_key_order(case.dataset, expected))


def test_official_client_follows_pagination_and_sends_the_key(served):
    market, app, base = served
    day = busiest_day(market, "equities_bars_daily", app.state.service.today)
    before = len(app.requests)
    frame = official_client(base).get_eq_bars_daily(date_yyyymmdd=day)
    calls = app.requests[before:]
    assert len(calls) == math.ceil(len(frame) / PAGE_SIZE) > 1
    assert all("pagination_key=" in query for _, query, _ in calls[1:])
    assert {key for _, _, key in calls} == {KEY}


def test_a_wrong_key_is_403_for_both_clients(served):
    *_, base = served
    with pytest.raises(requests.HTTPError, match=r"403 .*invalid or expired"):
        official_client(base, "wrong").get_eq_bars_daily(date_yyyymmdd="2026-10-01")
    with (
        JQuantsClient("wrong", Plan.PREMIUM, base, pacing=False) as client,
        pytest.raises(AuthError),
    ):
        client.get_page("/equities/bars/daily", {"date": "2026-10-01"})


def test_bulk_list_and_files_agree(served, tmp_path: Path):
    market, app, base = served
    endpoint = "/equities/bars/daily"
    listing = official_client(base).get_bulk_list(endpoint=endpoint)
    with ours(base, app.state.service.today) as client:
        records = client.get_records("/bulk/list", {"endpoint": endpoint})
    assert listing["Key"].tolist() == [r["Key"] for r in records]
    assert listing["Size"].tolist() == [r["Size"] for r in records]
    assert [t.isoformat().replace("+00:00", "Z") for t in listing["LastModified"]] == [
        r["LastModified"] for r in records
    ]
    month = official_client(base).get_bulk_list(date="2026-10")
    with ours(base, app.state.service.today) as client:
        across = client.get_records("/bulk/list", {"date": "2026-10"})
    assert month["Key"].tolist() == [r["Key"] for r in across]
    assert len({k.split("/historical/")[0] for k in month["Key"]}) > 10
    key = next(k for k in listing["Key"] if k.endswith("_202610.csv.gz"))
    target = tmp_path / "bars.csv.gz"
    official_client(base).download_bulk(key, str(target))
    data = target.read_bytes()
    gzip.decompress(data)
    from_file = read_csv_gz("equities_bars_daily", data)
    days = market.tables["markets_calendar"].filter(
        pl.col("Date").is_between(dt.date(2026, 10, 1), dt.date(2026, 10, 31)),
        pl.col("HolDiv") == "1",
    )["Date"]
    with ours(base, app.state.service.today) as client:
        paged = pl.concat([client.fetch("equities_bars_daily", date=d) for d in days])
    assert_frame_equal(from_file, paged)
    by_endpoint = tmp_path / "by_endpoint.csv.gz"
    official_client(base).download_bulk_by_endpoint(endpoint, "2026-10", str(by_endpoint))
    assert by_endpoint.read_bytes() == data


def test_official_client_on_429(switch_market):
    """Over http:// the official session has no retry adapter (it mounts one on https:// only):
    a 429 raises at once. With its https adapter (urllib3 ``Retry(total=3)``, no back-off) it
    re-fires three times at once, all refused within the minute; our server keeps answering 429
    without a block, and answers the same query correctly once the minute has passed."""
    clock = FakeClock()
    app = RequestLog(
        create_app(switch_market, api_key=KEY, plan=Plan.FREE, page_size=500, clock=clock)
    )
    query = {"from_yyyymmdd": "2026-07-01", "to_yyyymmdd": "2026-07-31"}
    with background_server(app) as url:
        client = official_client(f"{url}/v2")
        for _ in range(5):  # the Free plan's 5 requests a minute
            client.get_mkt_calendar(**query)
        with pytest.raises(requests.HTTPError, match="429"):
            client.get_mkt_calendar(**query)
        session = client._request_session()
        session.mount("http://", session.adapters["https://"])
        before = len(app.requests)
        with pytest.raises(requests.exceptions.RetryError):
            client.get_mkt_calendar(**query)
        assert len(app.requests) - before == 4
        clock.sleep(61)
        frame = client.get_mkt_calendar(**query)
    calendar = switch_market.tables["markets_calendar"]
    assert len(frame) == calendar.filter(pl.col("Date").dt.strftime("%Y-%m") == "2026-07").height


def test_td_cursor_files_and_bulk_agree(served):
    """The two clients' td/list cursors are interchangeable (nothing new since either), the
    official client's /td/files URLs and /td/bulk file give what ours do."""
    market, app, base = served
    today = app.state.service.today
    day = busiest_day(market, "td_list", today)
    official = official_client(base)
    frame, cursor = official.get_td_list(date=day)
    with ours(base, today) as client:
        again, ours_cursor = client.td_list_since(day, cursor)
        assert again.height == 0 and ours_cursor
        assert len(official.get_td_list(date=day, cursor=ours_cursor)[0]) == 0
        disc_no = frame["DiscNo"].iloc[0]
        files = official.get_td_files(disc_no)
        assert files["discNo"] == disc_no
        assert requests.get(files["files"]["pdf"], timeout=30).content.startswith(b"%PDF")
        stamp, ours_bulk = client.td_bulk()
    bulk = official.get_td_bulk()
    assert bulk["lastUpdated"] == stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    from_file = read_csv_gz("td_list", requests.get(bulk["url"], timeout=30).content)
    assert_frame_equal(from_file, ours_bulk)
