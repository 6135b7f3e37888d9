"""A tiny V2-envelope service over hand-made tables, and clients wired to it in-process.

The service filters a dataset's table by the query (``date``/``disc_date`` on the endpoint's date
field, ``from``/``to`` as an inclusive range), pages ``page_size`` rows at a time with an opaque
``pagination_key``, checks ``x-api-key`` and answers 403 for endpoints its plan lacks. Every
request is logged so tests can count them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import polars as pl
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.endpoints import ENDPOINTS, ENDPOINTS_BY_PATH, empty_frame, to_records
from gogooku.jquants.plans import plan_allows
from gogooku.jquants.transport import ASGISyncTransport
from gogooku.settings import Plan
from gogooku.store.raw import RawStore

D = dt.date
API_KEY = "test-key"
BASE_URL = "http://tiny.test/v2"
# Tokyo holidays in Jan/Feb 2024 (New Year 1-3 Jan, Coming of Age Day 8 Jan, National Foundation
# Day observed 12 Feb, Emperor's Birthday 23 Feb).
HOLIDAYS = {
    D(2024, 1, 1),
    D(2024, 1, 2),
    D(2024, 1, 3),
    D(2024, 1, 8),
    D(2024, 2, 12),
    D(2024, 2, 23),
}
CODES = ["13010", "130A0", "72030"]
SETTLED = dt.datetime(2024, 6, 3, tzinfo=dt.UTC)
JAN_1, FEB_29 = D(2024, 1, 1), D(2024, 2, 29)


def calendar(start: dt.date, end: dt.date) -> pl.DataFrame:
    days = pl.date_range(start, end, eager=True).to_list()
    div = ["1" if d.weekday() < 5 and d not in HOLIDAYS else "0" for d in days]
    return pl.DataFrame({"Date": days, "HolDiv": div}, schema=ENDPOINTS["markets_calendar"].schema)


def business_days(start: dt.date, end: dt.date) -> list[dt.date]:
    frame = calendar(start, end)
    return frame.filter(pl.col("HolDiv") == "1")["Date"].to_list()


def typed(dataset: str, columns: dict[str, list]) -> pl.DataFrame:
    """A frame with the full schema of ``dataset``; columns not given are null."""
    schema = ENDPOINTS[dataset].schema
    height = len(next(iter(columns.values())))
    return pl.DataFrame(
        {name: columns.get(name, [None] * height) for name in schema}, schema=schema
    )


def market_tables(start: dt.date = JAN_1, end: dt.date = FEB_29) -> dict:
    days = business_days(start, end)
    n = len(CODES)
    bars = typed(
        "equities_bars_daily",
        {
            "Date": [d for d in days for _ in CODES],
            "Code": CODES * len(days),
            "C": [100.0 + i for i in range(len(days) * n)],
            "UL": [False] * (len(days) * n),
        },
    )
    topix = typed("indices_topix", {"Date": days, "C": [2500.0 + i for i in range(len(days))]})
    reports = typed(
        "markets_short_sale_report",
        {
            "DiscDate": days[::5],
            "CalcDate": days[::5],
            "Code": ["72030"] * len(days[::5]),
            "SSName": ["Fund A"] * len(days[::5]),
            "ShrtPosToSO": [0.6] * len(days[::5]),
        },
    )
    alerts = typed(
        "markets_margin_alert",
        {
            "PubDate": days[:3],
            "Code": ["13010"] * 3,
            "AppDate": days[:3],
            "ShrtOut": [1.0, 2.0, 3.0],
        },
    )
    earnings = typed("equities_earnings_calendar", {"Date": [end], "Code": ["72030"]})
    return {
        "markets_calendar": calendar(start, end),
        "equities_bars_daily": bars,
        "indices_topix": topix,
        "markets_short_sale_report": reports,
        "markets_margin_alert": alerts,
        "equities_earnings_calendar": earnings,
    }


class TinyV2:
    """The in-test V2 service (see module docstring)."""

    def __init__(
        self, tables: dict[str, pl.DataFrame], plan: Plan = Plan.PREMIUM, page_size: int = 2
    ) -> None:
        self.tables = tables
        self.plan = plan
        self.page_size = page_size
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.app = Starlette(routes=[Route("/v2/{path:path}", self.handle)])

    def paths(self, dataset: str) -> list[dict[str, str]]:
        """Query parameters of every request made to ``dataset``'s endpoint."""
        return [p for path, p in self.requests if path == ENDPOINTS[dataset].path]

    async def handle(self, request: Request) -> JSONResponse:
        path = "/" + request.path_params["path"]
        params = dict(request.query_params)
        self.requests.append((path, params))
        if request.headers.get("x-api-key") != API_KEY:
            return JSONResponse({"message": "The incoming api key is invalid or expired."}, 403)
        endpoint = ENDPOINTS_BY_PATH.get(path)
        if endpoint is None or not plan_allows(self.plan, endpoint.min_plan):
            return JSONResponse({"message": "This API is not available on your subscription"}, 403)
        frame = self.tables.get(endpoint.id, empty_frame(endpoint.id))
        column = pl.col(endpoint.date_field)
        for name in ("date", "disc_date"):
            if name in params:
                frame = frame.filter(column == D.fromisoformat(params[name]))
        if "from" in params:
            frame = frame.filter(column >= D.fromisoformat(params["from"]))
        if "to" in params:
            frame = frame.filter(column <= D.fromisoformat(params["to"]))
        if not endpoint.paginated:
            return JSONResponse({"data": to_records(endpoint.id, frame)})
        offset = int(params.get("pagination_key", "0"))
        body: dict = {"data": to_records(endpoint.id, frame.slice(offset, self.page_size))}
        if offset + self.page_size < frame.height:
            body["pagination_key"] = str(offset + self.page_size)
        return JSONResponse(body)


def make_client(
    service: TinyV2, plan: Plan = Plan.PREMIUM, today: dt.date | None = None
) -> JQuantsClient:
    return JQuantsClient(
        API_KEY,
        plan=plan,
        base_url=BASE_URL,
        transport=ASGISyncTransport(service.app),
        pacing=False,
        today=today or SETTLED.date(),
    )


@pytest.fixture
def service() -> TinyV2:
    return TinyV2(market_tables())


@pytest.fixture
def client(service) -> Iterator[JQuantsClient]:
    with make_client(service) as c:
        yield c


@pytest.fixture
def store(tmp_path) -> RawStore:
    return RawStore(tmp_path / "raw")
