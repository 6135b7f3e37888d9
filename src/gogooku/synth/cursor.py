"""Cursor mode of the synthetic service (``fins/summary``, ``fins/details``; any endpoint whose
catalogue entry has a ``cursor_plan``; and TDnet's ``/td/list``): records appear through the day,
a cursor resumes after the last one delivered. ``CursorBook.page`` is the one cursor and
pagination server of both: it pages a day's records given in publication order, and each caller
decides what has appeared (``CursorBook.appeared`` here; the listing time in
``gogooku.synth.tdnet``).

A record of day D *appears* at ``DiscDate + DiscTime`` JST (a null ``DiscTime``: at 23:59:59, our
choice — the API's final batch comes ~24:30). With the app's ``now`` clock every day is cut at
``now`` (these endpoints are continuous on the cursor plan, so the app's publication-time cut
does not apply to them there); without it only a query for the wall clock's own JST date is cut
at the wall clock, earlier days having fully appeared and later days served as they are, as for
every other dataset of the synthetic market. The day's appeared records are served in
publication order (appearance time, then ``DiscNo``, ``Code``), so new records only ever come at
the end and a position in that order identifies what a client has seen.

On a plan at or above ``cursor_plan`` every ``date=`` query without ``code`` is answered in that
order; its last page carries ``cursor``: ``<D>.<position>.<signature>`` (HMAC-SHA256 of the first
two parts, keyed per app — opaque to clients, unforgeable). ``date=D&cursor=C`` returns only the
records after C's position. Paging uses ``pagination_key``, which holds the absolute position of
its page; a ``cursor`` sent with it is ignored (the reference says never to send both, yet the
official client 2.8.0 resends the cursor on every page: both work here, as on our TDnet list). Below ``cursor_plan`` a ``cursor`` is refused
with 403 (the spec says Premium-only but not which status: our choice) and no cursor is sent.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from zoneinfo import ZoneInfo

import polars as pl

from gogooku.errors import GogookuError
from gogooku.jquants.endpoints import Endpoint
from gogooku.jquants.plans import plan_allows

JST = ZoneInfo("Asia/Tokyo")
LATE = "23:59:59"


class CursorRefused(GogookuError):
    """A cursor request the plan does not allow (403)."""


def uses_cursor(ep: Endpoint, plan, params: dict[str, str]) -> bool:
    """True when this query is answered in publication order (see module doc)."""
    allowed = ep.cursor_plan is not None and plan_allows(plan, ep.cursor_plan)
    if "cursor" in params and not allowed:
        raise CursorRefused(
            f"cursor is not available on your subscription plan ({plan}): {ep.path} needs the "
            f"{ep.cursor_plan or 'premium'} plan for cursor requests"
        )
    if "cursor" in params and ("date" not in params or "code" in params):
        raise ValueError("cursor requires date and cannot be combined with code")
    return allowed and "date" in params and "code" not in params


def _appearance() -> pl.Expr:
    """``DiscDate + DiscTime`` (JST, naive); a null or unreadable time counts as 23:59:59."""
    text = pl.col("DiscTime").fill_null(LATE)
    time = pl.coalesce(
        text.str.to_time("%H:%M:%S", strict=False), text.str.to_time("%H:%M", strict=False)
    )
    return pl.col("DiscDate").dt.combine(time.fill_null(dt.time(23, 59, 59)))


class CursorBook:
    """Signs and reads cursors and page keys; orders and cuts one day's records."""

    def __init__(
        self,
        secret: bytes,
        wall_clock: Callable[[], float],
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.secret = secret
        self.wall_clock = wall_clock
        self.now = now

    def now_jst(self) -> dt.datetime:
        if self.now is not None:
            return self.now().astimezone(JST).replace(tzinfo=None)
        return dt.datetime.fromtimestamp(self.wall_clock(), JST).replace(tzinfo=None)

    def published(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``rows`` that have appeared by now (any day)."""
        return rows.filter(_appearance() <= self.now_jst())

    def appeared(self, rows: pl.DataFrame, day: dt.date) -> pl.DataFrame:
        """The records of ``day`` that have appeared by now, in publication order."""
        ordered = rows.with_columns(_appearance().alias("_at")).sort("_at", "DiscNo", "Code")
        now = self.now_jst()
        if self.now is not None or now.date() == day:
            ordered = ordered.filter(pl.col("_at") <= now)
        return ordered.drop("_at")

    def _sign(self, text: str) -> str:
        digest = hmac.new(self.secret, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:12]).decode()

    def cursor(self, day: dt.date, position: int) -> str:
        body = f"{day:%Y%m%d}.{position}"
        return f"{body}.{self._sign(body)}"

    def position(self, cursor: str, day: dt.date) -> int:
        """The position a cursor resumes after; ``ValueError`` (a 400) when it is not one of ours
        or belongs to another date."""
        parts = cursor.split(".")
        if len(parts) != 3 or not hmac.compare_digest(self._sign(".".join(parts[:2])), parts[2]):
            raise ValueError("Invalid cursor")
        if parts[0] != f"{day:%Y%m%d}":
            raise ValueError(f"cursor belongs to date {parts[0]}, not {day:%Y%m%d}")
        return int(parts[1])

    def page_key(self, offset: int, query_hash: str) -> str:
        raw = json.dumps({"p": offset, "q": query_hash}, separators=(",", ":"))
        sig = self._sign(raw)
        return base64.urlsafe_b64encode(f"{raw}|{sig}".encode()).decode().rstrip("=")

    def key_offset(self, key: str, query_hash: str) -> int:
        try:
            raw, sig = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode().split("|")
            payload = json.loads(raw)
            offset, owner = int(payload["p"]), payload["q"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise ValueError("Invalid pagination_key") from None
        if not hmac.compare_digest(self._sign(raw), sig) or owner != query_hash or offset < 0:
            raise ValueError("pagination_key does not belong to this query")
        return offset

    def page(
        self,
        rows: pl.DataFrame,
        day: dt.date,
        params: dict[str, str],
        key: str | None,
        page_size: int,
        query_hash: str,
    ) -> tuple[pl.DataFrame, str | None, str | None]:
        """(page rows, next pagination_key, cursor on the last page) of a cursor-mode query.

        ``rows`` are the day's records that have appeared, in publication order (a record that
        appears later comes after every one before it, so a position names what was delivered).
        ``params`` may hold ``cursor`` (first page); a set ``key`` takes precedence over it: the
        key holds the page's absolute position, so nothing of the cursor needs remembering.
        """
        ordered = rows
        if key is not None:
            start = self.key_offset(key, query_hash)
        elif "cursor" in params:
            start = self.position(params["cursor"], day)
        else:
            start = 0
        if start > ordered.height:
            raise ValueError("Invalid cursor")
        end = start + page_size
        if end < ordered.height:
            return ordered.slice(start, page_size), self.page_key(end, query_hash), None
        return ordered.slice(start), None, self.cursor(day, ordered.height)
