"""The synthetic J-Quants V2 service: an ASGI app that serves a market's tables at the V2 paths.

``create_app(market)`` serves every catalogue endpoint under ``/v2`` with the V2 envelope
``{"data": [...], "pagination_key": "..."}``, ``x-api-key`` auth (403), plan gating (403),
plan history windows (rows outside are left out), per-plan rate limits over a sliding 60 s window
(429, no Retry-After), paging by ``page_size`` rows, gzip, and injectable faults
(``gogooku.synth.faults``: 500s, dropped connections, 429 bursts and the ~5-minute block,
truncated or non-JSON bodies, slow first bytes), bulk download (``gogooku.synth.bulk``), the
cursor mode of ``fins/summary`` and ``fins/details`` (``gogooku.synth.cursor``) and TDnet's list
cursor, document URLs and whole-index file (``gogooku.synth.tdnet``). ``market`` is any object whose ``tables`` map
dataset ids to frames in the catalogue schema (``gogooku.jquants.endpoints``); on the Premium plan its optional
``premium_renderers`` (dataset id → function of a page of rows) add that dataset's Premium-only
fields to each served page (the synthetic market's bars session fields, ``gogooku.synth.sessions``);
its optional ``day_sources`` (dataset id → ``gogooku.synth.day_sources.DaySource``) are rendered
per requested day (minute bars, ticks, the morning-session endpoint, all options). The
morning-session endpoint serves the service's ``today`` only and answers 210 with no rows when
``today`` has no bars (outside its window); a bulk-only dataset (ticks) has no API route.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import polars as pl
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from gogooku.calendar import TradingCalendar
from gogooku.errors import GogookuError
from gogooku.jquants.endpoints import ENDPOINTS, Endpoint, records_json
from gogooku.jquants.plans import (
    ENDPOINT_RATE_PER_MINUTE,
    RATE_PER_MINUTE,
    HistoryWindow,
    access_refusal,
    addon_rates_by_path,
    history_window,
    plan_allows,
)
from gogooku.jquants.publication import JST, published_at
from gogooku.settings import AddOn, Plan
from gogooku.synth.bulk import FILES_PREFIX, BulkService, add_bulk_routes
from gogooku.synth.cursor import CursorBook, CursorRefused, uses_cursor
from gogooku.synth.faults import (
    FaultAction,
    Faults,
    SlidingWindowLimiter,
    admit,
    retry_after_value,
)
from gogooku.synth.tdnet import TD_FILES_PREFIX, TdService, add_td_routes

PREFIX = "/v2"
BAD_KEY_MESSAGE = "The incoming api key is invalid or expired."
RATE_MESSAGE = "Rate limit exceeded"
# Level 1: 0.03 s for a 2.2 MB bars page against 0.38 s at Starlette's default 9 (measured), ~20% larger.
GZIP_LEVEL = 1
# Datasets whose ``code`` is a 4-character index code, matched as given (issue codes have 5).
_INDEX_CODES = frozenset({"indices_bars_daily"})
# EDINET: ``edinet_code`` xor ``code`` (both: 400); no parameter at all: today's filings.
_EDINET = frozenset(
    {"edinet_major_shareholders", "edinet_cross_shareholdings", "edinet_large_volume_shareholders"}
)


class QueryError(GogookuError, ValueError):
    """A request the real API answers with 400."""


class NoContentError(GogookuError, ValueError):
    """A request the real API answers with 210 ("No Content (Partial)") and no rows."""


MORNING = "equities_bars_daily_am"
NO_CONTENT_STATUS = 210


def _json_response(status: int, payload: dict[str, Any]) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json")


def _parse_day(name: str, text: str) -> dt.date:
    """A query date in ``YYYYMMDD`` or ``YYYY-MM-DD`` form that exists on the calendar."""
    digits = text.replace("-", "") if len(text) == 10 and text[4] == text[7] == "-" else text
    if len(digits) != 8 or not digits.isdigit():
        raise QueryError(f"Invalid {name}: {text!r} (expected YYYYMMDD or YYYY-MM-DD)")
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise QueryError(f"Invalid {name}: {text!r} is not a calendar date") from None


def _issue_code(ep: Endpoint, text: str) -> str:
    if ep.id in _INDEX_CODES:
        return text
    if len(text) == 4:
        return text + "0"
    if len(text) == 5:
        return text
    raise QueryError(f"Invalid code: {text!r} (expected 4 or 5 characters)")


def sorted_by(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """``frame`` sorted by ``keys`` (nulls last, stable); ``frame`` itself when already in order.

    A market table the simulator built in key order is served without a copy, which keeps the
    in-process fetch of a large market from holding every table twice.
    """
    order = frame.select(pl.arg_sort_by(keys, nulls_last=True, maintain_order=True)).to_series()
    if order.equals(pl.int_range(frame.height, dtype=order.dtype, eager=True), check_names=False):
        return frame
    return frame[order]


class _Table:
    """One dataset sorted by its date field (nulls last), sliceable by date in O(log n)."""

    def __init__(self, ep: Endpoint, frame: pl.DataFrame) -> None:
        missing = [c for c in ep.schema if c not in frame.columns]
        if not set(missing) <= ep.premium_fields:
            raise ValueError(f"market table {ep.id} lacks catalogue column(s) {missing}")
        # Premium-only fields a simulator leaves out are omitted on the wire, as below Premium.
        self.absent = frozenset(missing)
        self.frame = sorted_by(
            frame.select([c for c in ep.schema if c not in self.absent]),
            [ep.date_field, *(k for k in ep.key if k != ep.date_field)],
        )
        self.dates = self.frame[ep.date_field]
        self.n_dated = self.frame.height - self.dates.null_count()

    def between(self, lo: dt.date, hi: dt.date) -> pl.DataFrame:
        if lo > hi or self.n_dated == 0:
            return self.frame.clear()
        dated = self.dates.slice(0, self.n_dated)
        start = int(dated.search_sorted(lo, side="left"))
        stop = int(dated.search_sorted(hi, side="right"))
        return self.frame.slice(start, max(stop - start, 0))

    def last_date_upto(self, day: dt.date) -> dt.date | None:
        dated = self.dates.slice(0, self.n_dated)
        index = int(dated.search_sorted(day, side="right")) - 1
        return dated[index] if index >= 0 else None

    def first_date_from(self, day: dt.date) -> dt.date | None:
        dated = self.dates.slice(0, self.n_dated)
        index = int(dated.search_sorted(day, side="left"))
        return dated[index] if index < self.n_dated else None


class _DayTable(_Table):
    """A dataset rendered on request, day by day (``gogooku.synth.day_sources.DaySource``)."""

    def __init__(self, ep: Endpoint, source: Any) -> None:
        self.absent = frozenset()
        self.frame = pl.DataFrame(schema=ep.schema)
        self.dates = source.days
        self.n_dated = source.days.len()
        self.render = source.render
        self._last: tuple[tuple[dt.date, dt.date], pl.DataFrame] | None = None

    def between(self, lo: dt.date, hi: dt.date) -> pl.DataFrame:
        if lo > hi or self.n_dated == 0:
            return self.frame
        # The pages of one query ask for the same days: render them once, not once per page.
        if self._last is None or self._last[0] != (lo, hi):
            self._last = ((lo, hi), self.render(lo, hi))
        return self._last[1]


class SyntheticV2:
    """Tables indexed by date, plan and history window; ``select`` and ``page`` answer a query."""

    def __init__(
        self,
        market: Any,
        *,
        plan: Plan,
        today: dt.date | None,
        page_size: int,
        addons: frozenset[AddOn] = frozenset(),
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        sources = getattr(market, "day_sources", {})
        unknown = sorted((set(market.tables) | set(sources)) - ENDPOINTS.keys())
        if unknown:
            raise ValueError(f"market tables {unknown} are not catalogue dataset ids")
        self.tables: dict[str, _Table] = {
            i: _Table(ENDPOINTS[i], f) for i, f in market.tables.items()
        }
        self.tables |= {i: _DayTable(ENDPOINTS[i], s) for i, s in sources.items()}
        self.plan = plan
        self.addons = frozenset(addons)
        self.now = now
        calendar = market.tables.get("markets_calendar")
        self.calendar = (
            TradingCalendar.from_frame(calendar)
            if now is not None and calendar is not None
            else None
        )
        renderers = getattr(market, "premium_renderers", {}) if plan is Plan.PREMIUM else {}
        self.renderers: dict[str, Callable[[pl.DataFrame], pl.DataFrame]] = dict(renderers)
        self.page_size = page_size
        self.today = today or self._last_market_date()
        self.window = history_window(plan, self.today)
        self.cursors = CursorBook(secrets.token_bytes(32), time.time, now)

    def _last_market_date(self) -> dt.date:
        bars = self.tables.get("equities_bars_daily")
        candidates = [bars] if bars is not None and bars.n_dated else list(self.tables.values())
        days = [t.dates[t.n_dated - 1] for t in candidates if t.n_dated]
        if not days:
            raise ValueError("market has no dated rows: pass today= explicitly")
        return max(days)

    def omitted_fields(self, ep: Endpoint) -> frozenset[str]:
        """Fields left out of every record: Premium-only ones below Premium or not simulated."""
        table = self.tables.get(ep.id)
        absent = table.absent if table is not None else frozenset()
        if ep.id in self.renderers:
            absent = absent - ep.premium_fields
        return absent | (frozenset() if self.plan is Plan.PREMIUM else ep.premium_fields)

    def window_for(self, ep: Endpoint) -> HistoryWindow:
        if ep.add_on is not None:
            return history_window(self.plan, self.today, ep.add_on)
        if ep.id == "markets_calendar" and self.plan is not Plan.FREE:
            return HistoryWindow(self.window.earliest, dt.date(self.today.year + 1, 12, 31))
        return self.window

    def select(self, ep: Endpoint, params: dict[str, str]) -> pl.DataFrame:
        """Rows of ``ep`` matching ``params`` inside the plan window, in table order."""
        table = self.tables.get(ep.id)
        if table is None:
            return pl.DataFrame(schema=ep.schema)
        if ep.id == MORNING:
            return self._morning(table, ep, params)
        if ep.fetch_mode == "latest":
            return self._latest(table)
        window = self.window_for(ep)
        days = {k: _parse_day(k, v) for k, v in params.items() if k in _DATE_PARAMS}
        lo, hi = window.earliest, window.latest
        if ep.id == "fins_earnings_date":
            if sum(k in params for k in ("code", "date", "scheduled_date")) != 1:
                raise QueryError("Specify exactly one of code, date, scheduled_date")
            if "date" in days and not window.contains(days["date"]):
                raise QueryError(f"date {days['date']} is outside the {self.plan} plan window")
        if ep.id in _EDINET:
            if "code" in params and "edinet_code" in params:
                raise QueryError("Specify either edinet_code or code, not both")
            if not params:
                days["date"] = self.today
        if "published_date" in params and {"date", "from", "to"} & set(params):
            raise QueryError("published_date cannot be combined with date, from or to")
        if ep.id == "equities_master":
            return self._master(table, ep, params, days, window)
        lo, hi = self._narrow(ep, days, lo, hi)
        continuous = ep.cursor_plan is not None and plan_allows(self.plan, ep.cursor_plan)
        if self.now is not None and ep.id != "markets_calendar" and not continuous:
            # Premium statements are published continuously: the cursor book cuts them by time.
            hi = min(hi, self._last_published(table, ep))
        rows = table.between(lo, hi)
        filters = self._filters(ep, params, days)
        if filters is not None:
            rows = rows.filter(filters)
        if self.now is not None and continuous:
            rows = self.cursors.published(rows)
        if "scheduled_date" in days:
            rows = (
                rows.sort("PubDate")
                .group_by("Code", "FQName", maintain_order=True)
                .last()
                .filter(pl.col("SchDate") == days["scheduled_date"])
                .select(rows.columns)
            )
        return rows

    def _last_published(self, table: _Table, ep: Endpoint) -> dt.date:
        """The last record date of ``ep`` published by ``now`` (publication is non-decreasing in
        the record date, so every earlier date is published too)."""
        now = self.now()
        day = table.last_date_upto(now.astimezone(JST).date())
        while day is not None:
            moment = published_at(ep.id, day, self.calendar)
            if moment is not None and moment <= now:
                return day
            day = table.last_date_upto(day - dt.timedelta(days=1))
        return dt.date.min

    @staticmethod
    def _narrow(
        ep: Endpoint, days: dict[str, dt.date], lo: dt.date, hi: dt.date
    ) -> tuple[dt.date, dt.date]:
        pairs = [("date", "date"), ("from", "to")]
        if ep.id == "markets_short_sale_report":
            pairs = [("disc_date", "disc_date"), ("disc_date_from", "disc_date_to")]
        for start_key, end_key in pairs:
            if start_key in days:
                lo = max(lo, days[start_key])
            if end_key in days:
                hi = min(hi, days[end_key])
        return lo, hi

    @staticmethod
    def _filters(ep: Endpoint, params: dict[str, str], days: dict[str, dt.date]) -> pl.Expr | None:
        exprs = []
        if "code" in params:
            exprs.append(pl.col("Code") == _issue_code(ep, params["code"]))
        if "edinet_code" in params:
            exprs.append(pl.col("EdinetCode") == params["edinet_code"])
        if "s33" in params:
            exprs.append(pl.col("S33") == params["s33"].zfill(4))
        if "section" in params:
            exprs.append(pl.col("Section") == params["section"])
        if "hol_div" in params:
            exprs.append(pl.col("HolDiv") == params["hol_div"])
        if "published_date" in days:
            exprs.append(pl.col("PubDate") == days["published_date"])
        if "calc_date" in days:
            exprs.append(pl.col("CalcDate") == days["calc_date"])
        if "category" in params:
            exprs.append(pl.col("ProdCat") == params["category"])
        if params.get("contract_flag") == "1":
            exprs.append(pl.col("CCMFlag"))
        return pl.all_horizontal(exprs) if exprs else None

    def _master(
        self,
        table: _Table,
        ep: Endpoint,
        params: dict[str, str],
        days: dict[str, dt.date],
        window: HistoryWindow,
    ) -> pl.DataFrame:
        """One snapshot: ``date`` → the first snapshot on/after it, else the latest in the window."""
        if "date" in days:
            if not window.contains(days["date"]):
                return table.frame.clear()
            snapshot = table.first_date_from(days["date"])
            if snapshot is not None and snapshot > window.latest:
                snapshot = None
        else:
            snapshot = table.last_date_upto(window.latest)
        if snapshot is None or snapshot < window.earliest:
            return table.frame.clear()
        rows = table.between(snapshot, snapshot)
        filters = self._filters(ep, params, days)
        return rows.filter(filters) if filters is not None else rows

    def _morning(self, table: _Table, ep: Endpoint, params: dict[str, str]) -> pl.DataFrame:
        """Today's morning-session rows; 210 when today has none (outside the endpoint's window)."""
        if table.first_date_from(self.today) != self.today:
            raise NoContentError(
                f"No Content (Partial): {ep.path} serves the morning session of the current day "
                f"only, and {self.today} has none"
            )
        rows = table.between(self.today, self.today)
        filters = self._filters(ep, params, {})
        return rows.filter(filters) if filters is not None else rows

    def _latest(self, table: _Table) -> pl.DataFrame:
        """Earnings calendar: the next announcement date after ``today``, else the last one."""
        day = table.first_date_from(self.today + dt.timedelta(days=1))
        if day is None:
            day = table.last_date_upto(dt.date.max)
        if day is None:
            return table.frame
        return table.between(day, day)

    def page(self, ep: Endpoint, rows: pl.DataFrame, query_hash: str, key: str | None):
        """The page of ``rows`` selected by ``key`` and the key of the next page (or None)."""
        if not ep.paginated:
            return rows, None
        offset = _decode_key(key, query_hash) if key is not None else 0
        if offset > rows.height:
            raise QueryError("Invalid pagination_key")
        end = offset + self.page_size
        next_key = _encode_key(end, query_hash) if end < rows.height else None
        return rows.slice(offset, self.page_size), next_key


_DATE_PARAMS = frozenset(
    {
        "date",
        "from",
        "to",
        "disc_date",
        "disc_date_from",
        "disc_date_to",
        "calc_date",
        "scheduled_date",
        "published_date",
    }
)


def _query_hash(path: str, params: dict[str, str]) -> str:
    text = path + "?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode_key(offset: int, query_hash: str) -> str:
    raw = json.dumps({"o": offset, "q": query_hash}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_key(key: str, query_hash: str) -> int:
    try:
        payload = json.loads(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)))
        offset, owner = int(payload["o"]), payload["q"]
    except (ValueError, KeyError, TypeError):
        raise QueryError("Invalid pagination_key") from None
    if owner != query_hash or offset < 0:
        raise QueryError("pagination_key does not belong to this query")
    return offset


def _handler(service: SyntheticV2, ep: Endpoint) -> Callable[[Request], Response]:
    drop = service.omitted_fields(ep)

    async def handle(request: Request) -> Response:
        if access_refusal(ep.min_plan, ep.add_on, service.plan, service.addons) is not None:
            needs = f"the {ep.add_on} add-on" if ep.add_on else f"the {ep.min_plan} plan or higher"
            return _json_response(
                403,
                {
                    "message": f"This API is not available on your subscription plan "
                    f"({service.plan}): {ep.path} requires {needs}."
                },
            )
        params = dict(request.query_params)
        key = params.pop("pagination_key", None)
        try:
            unknown = sorted(set(params) - ep.params)
            if unknown:
                raise QueryError(f"Unknown parameter(s) for {ep.path}: {', '.join(unknown)}")
            if ep.required_any and not any(params.get(k) for k in ep.required_any):
                raise QueryError(
                    "This API requires at least 1 parameter as follows; "
                    + ", ".join(ep.required_any)
                )
            rows = service.select(ep, params)
            cursor = None
            if uses_cursor(ep, service.plan, params):
                plain = {k: v for k, v in params.items() if k != "cursor"}
                day = _parse_day("date", params["date"])
                page, next_key, cursor = service.cursors.page(
                    service.cursors.appeared(rows, day),
                    day,
                    params,
                    key,
                    service.page_size,
                    _query_hash(ep.path, plain),
                )
            else:
                page, next_key = service.page(ep, rows, _query_hash(ep.path, params), key)
        except NoContentError as error:
            return _json_response(NO_CONTENT_STATUS, {"data": [], "message": str(error)})
        except CursorRefused as error:
            return _json_response(403, {"message": str(error)})
        except (QueryError, ValueError) as error:
            return _json_response(400, {"message": str(error)})
        if ep.id in service.renderers:
            page = service.renderers[ep.id](page)
        body = '{"data":' + records_json(ep.id, page, drop)
        if next_key is not None:
            body += f',"pagination_key":"{next_key}"'
        if cursor is not None:
            body += f',"cursor":"{cursor}"'
        return Response(body + "}", media_type="application/json")

    return handle


class _Gate:
    """Outermost ASGI layer: an ongoing block, faults, then ``x-api-key`` auth, then rate limits."""

    def __init__(
        self,
        app,
        *,
        api_key: str | None,
        plan: Plan,
        rate_limit: bool,
        faults: Faults | None,
        clock: Callable[[], float],
    ) -> None:
        self.app = app
        self.api_key = api_key
        self.faults = faults
        self.clock = clock
        self.rate_limit = rate_limit
        self.plan_limiter = SlidingWindowLimiter(RATE_PER_MINUTE[plan])
        self.path_limiters = {
            p: SlidingWindowLimiter(n) for p, n in ENDPOINT_RATE_PER_MINUTE.items()
        }
        self.addon_limiters = {p: SlidingWindowLimiter(n) for p, n in addon_rates_by_path().items()}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"].removeprefix(PREFIX)
        action = FaultAction.PASS
        if self.faults is not None:
            blocked = self.faults.blocked_for(self.clock())
            if blocked:
                await self._refuse(scope, receive, send, blocked)
                return
            action = self.faults.decide(path)
            wait = self.faults.delay_s if self.faults.targets(path) else 0.0
            wait += self.faults.slow_s if action is FaultAction.SLOW else 0.0
            if wait:
                await asyncio.sleep(wait)
            if action is FaultAction.ERROR:
                await _json_response(500, {"message": "Internal Server Error"})(
                    scope, receive, send
                )
                return
            if action is FaultAction.DROP:
                await send({"type": "http.response.start", "status": 200, "headers": []})
                # Raised after the response has started, so uvicorn closes the socket without a
                # body; an httpx error type so in-process (ASGITransport) clients see the same
                # transport error as clients of a real socket.
                raise httpx.RemoteProtocolError(f"synthetic fault: connection to {path} dropped")
            if action is FaultAction.THROTTLE:
                await self._refuse(scope, receive, send, 1.0)
                return
            if action is FaultAction.INVALID_JSON:
                await Response(_PROXY_PAGE, status_code=200, media_type="text/html")(
                    scope, receive, send
                )
                return
        if scope["path"].startswith((FILES_PREFIX, TD_FILES_PREFIX)):
            # A signed file URL (bulk, TDnet) carries its own authority (signature, expiry).
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self.api_key is not None and headers.get(b"x-api-key", b"").decode() != self.api_key:
            await _json_response(403, {"message": BAD_KEY_MESSAGE})(scope, receive, send)
            return
        if self.rate_limit:
            limiters = (
                [self.addon_limiters[path]] if path in self.addon_limiters else [self.plan_limiter]
            )
            if path in self.path_limiters:
                limiters.append(self.path_limiters[path])
            if not admit(limiters, self.clock):
                wait = max(limiter.wait_s(self.clock()) for limiter in limiters)
                await self._refuse(scope, receive, send, wait)
                return
        if action is FaultAction.TRUNCATE:
            await _truncated(self.app, scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _refuse(self, scope, receive, send, wait_s: float) -> None:
        """Answer 429, count it towards a block, and say how long to wait when asked to."""
        response = _json_response(429, {"message": RATE_MESSAGE})
        if self.faults is not None:
            now = self.clock()
            self.faults.refused(now)
            if self.faults.retry_after:
                wait_s = max(wait_s, self.faults.blocked_for(now))
                response.headers["retry-after"] = retry_after_value(wait_s)
        await response(scope, receive, send)


# What a proxy in front of an API answers when the API behind it is gone.
_PROXY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>"


async def _truncated(app, scope, receive, send) -> None:
    """Serve ``app``'s answer uncompressed with its body cut in half (Content-Length fitted)."""
    plain = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"accept-encoding"]}
    start: dict = {}
    chunks: list[bytes] = []

    async def collect(message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        else:
            chunks.append(message.get("body", b""))

    await app(plain, receive, collect)
    body = b"".join(chunks)
    body = body[: len(body) // 2]
    headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(
    market: Any,
    *,
    api_key: str | None = "synthetic",
    plan: Plan = Plan.PREMIUM,
    page_size: int = 5000,
    rate_limit: bool = True,
    faults: Faults | None = None,
    today: dt.date | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    bulk_secret: bytes | None = None,
    addons: frozenset[AddOn] = frozenset(AddOn),
    now: Callable[[], dt.datetime] | None = None,
) -> FastAPI:
    """The V2-compatible app serving ``market.tables`` (dataset id → catalogue-typed frame).

    ``today`` (default: the market's last bar date) anchors the plan's history window;
    ``api_key=None`` disables auth; ``clock`` drives the rate limiter's 60 s window;
    ``wall_clock`` (epoch seconds) the expiry of signed bulk-file URLs, signed with
    ``bulk_secret`` (default: random per app); ``addons`` are the add-on contracts the key holds
    (default: all), whose endpoints answer 403 otherwise. With ``now`` (a JST-aware clock) a
    record is served only once it is published (``gogooku.jquants.publication``: its dataset's
    business-day lag and approximate time); without it every record dated up to ``today`` is.
    The wall clock also decides which of today's records the cursor-mode
    endpoints have published (``gogooku.synth.cursor``; cursors are signed with the same secret).
    """
    service = SyntheticV2(
        market,
        plan=Plan(plan),
        today=today,
        page_size=page_size,
        addons=frozenset(addons),
        now=now,
    )
    app = FastAPI(title="gogooku synthetic J-Quants V2", openapi_url=None, docs_url=None)
    app.state.service = service
    for ep in ENDPOINTS.values():
        if ep.id != "td_list" and not ep.bulk_only:  # served with its cursor by gogooku.synth.tdnet
            app.add_api_route(PREFIX + ep.path, _handler(service, ep), methods=["GET"])
    secret = bulk_secret if bulk_secret is not None else secrets.token_bytes(32)
    service.cursors = CursorBook(secret, wall_clock, now)
    app.state.bulk = BulkService(service, secret=secret, clock=wall_clock)
    add_bulk_routes(app, app.state.bulk, PREFIX, _json_response)
    app.state.td = TdService(service, secret=secret, clock=wall_clock)
    add_td_routes(app, app.state.td, PREFIX, _json_response)

    @app.exception_handler(StarletteHTTPException)
    async def _unknown_path(request: Request, exc: StarletteHTTPException) -> Response:
        return _json_response(
            403 if exc.status_code in (404, 405) else exc.status_code,
            {"message": f"Missing Authentication Token ({request.method} {request.url.path})"},
        )

    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=GZIP_LEVEL)
    app.add_middleware(
        _Gate, api_key=api_key, plan=Plan(plan), rate_limit=rate_limit, faults=faults, clock=clock
    )
    return app


__all__ = ["Faults", "SyntheticV2", "create_app"]
