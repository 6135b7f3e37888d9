"""TDnet on the synthetic V2 service: ``/td/list`` (with its cursor), ``/td/files``, ``/td/bulk``.

All three need the TDnet add-on (403 naming it otherwise) and see the add-on's 5-year window.

- **Listing time.** A record is in the API ``3 + (DiscNo mod 55)`` minutes after its ``DiscTime``
  (the reference: minutes to ~1 h). The service's "now" is its publication clock
  (``create_app(now=)``), else the market's ``today`` at the JST time of day of the wall clock; a
  record is visible once listed by then.
- ``/td/list``: ``date`` → that day, ``code`` → the window, ``code`` + ``from``/``to`` (a pair,
  only with ``code``) → that range; ``discItems`` (comma list, all must be present). Rows come in
  listing order (listing time, then ``DiscNo``), so a record listed later is appended after the
  ones served. With ``date`` the query is paged by the service's one cursor server
  (``gogooku.synth.cursor.CursorBook.page``, as ``fins/summary``): the last page carries
  ``cursor``, the signed (date, position) after the last record delivered; ``date`` + ``cursor``
  returns only the records listed after it, with a new cursor; ``cursor`` without ``date``, for
  another date or forged is a 400. A ``pagination_key`` holds its page's absolute position and
  wins over a resent ``cursor``, so the server keeps no state per query.
- ``/td/files?discNo=&docs=g,s,x`` → ``{"discNo", "files": {"pdf", "summaryPdf", "xbrl"}}``, a
  URL per requested kind the record has (null otherwise). URLs are signed like bulk files
  (``gogooku.synth.bulk.url_signature``), expire after 15 minutes and may be used any number of
  times until then (the spec says only "URLs expire in 15 minutes"; a single-use rule is not
  stated). Their bytes are small placeholders (a PDF header, an XBRL stub): a URL-protocol check.
- ``/td/bulk`` → ``{"lastUpdated", "url"}``: the file is rebuilt daily at 17:00 JST
  (``08:00:00Z``, as the spec's sample); it holds every record in the window listed by then, a gzip
  CSV with ``|``-joined ``DiscItems``/``Docs``; its URL lasts 15 minutes, like ``/td/files``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Callable

import polars as pl
from fastapi import FastAPI, Request
from fastapi.responses import Response

from gogooku.jquants.bulkfile import write_csv_gz
from gogooku.jquants.endpoints import ENDPOINTS, records_json
from gogooku.jquants.plans import access_refusal
from gogooku.jquants.tdnet import DOC_KINDS
from gogooku.synth.bulk import url_signature

TD_FILES_PREFIX = "/td-files/"
TD_URL_TTL_S = 900
BULK_HOUR_JST = 17
JST = dt.timezone(dt.timedelta(hours=9), "JST")
PLACEHOLDERS = {
    "g": (b"%PDF-1.4\n% gogooku synthetic TDnet document\n%%EOF\n", "application/pdf"),
    "s": (b"%PDF-1.4\n% gogooku synthetic TDnet summary\n%%EOF\n", "application/pdf"),
    "x": (b"<?xml version='1.0'?><xbrl><!-- synthetic --></xbrl>", "application/xml"),
}


class TdError(ValueError):
    """A TDnet request the API answers with 400."""


def listed_at() -> pl.Expr:
    """When a record appears in the API: ``DiscDate`` + ``DiscTime`` + ``3 + DiscNo mod 55`` min."""
    c = pl.col
    minutes = (
        c("DiscTime").fill_null("23:59").str.slice(0, 2).cast(pl.Int64) * 60
        + c("DiscTime").fill_null("23:59").str.slice(3, 2).cast(pl.Int64)
        + 3
        + c("DiscNo").cast(pl.Int64) % 55
    )
    return c("DiscDate").cast(pl.Datetime("us")) + pl.duration(minutes=minutes)


class TdService:
    """The ``td_list`` table of a ``SyntheticV2`` service, its listing clock and signed URLs."""

    def __init__(self, service, *, secret: bytes, clock: Callable[[], float]) -> None:
        self.service = service
        self.ep = ENDPOINTS["td_list"]
        self.secret = secret
        self.clock = clock
        table = service.tables.get("td_list")
        frame = table.frame if table is not None else pl.DataFrame(schema=self.ep.schema)
        window = service.window_for(self.ep)
        self.frame = (
            frame.filter(pl.col("DiscDate").is_between(window.earliest, window.latest))
            .with_columns(listed_at().alias("_listed"))
            .sort("_listed", "DiscNo")
        )

    def refusal(self) -> str | None:
        return access_refusal(
            self.ep.min_plan, self.ep.add_on, self.service.plan, self.service.addons
        )

    def now(self) -> dt.datetime:
        """The service's publication clock (``create_app(now=)``) as naive JST; without one, the
        market's ``today`` at the wall clock's JST time of day."""
        if self.service.now is not None:
            return self.service.now().astimezone(JST).replace(tzinfo=None)
        wall = dt.datetime.fromtimestamp(self.clock(), JST)
        return dt.datetime.combine(self.service.today, wall.time().replace(tzinfo=None))

    def listing(self, params: dict[str, str], now: dt.datetime) -> pl.DataFrame:
        """The rows listed by ``now`` matching ``params`` (``cursor`` aside), in listing order."""
        unknown = sorted(set(params) - (self.ep.params - {"pagination_key"}))
        if unknown:
            raise TdError(f"Unknown parameter(s) for /td/list: {', '.join(unknown)}")
        if not params.get("date") and not params.get("code"):
            raise TdError("This API requires at least 1 parameter as follows; date, code")
        if ("from" in params) != ("to" in params) or ("from" in params and "code" not in params):
            raise TdError("from and to must be given together, and only with code")
        if "cursor" in params and "date" not in params:
            raise TdError("cursor can only be used together with date")
        c = pl.col
        rows = self.frame.filter(c("_listed") <= now)
        if "date" in params:
            day = _day("date", params["date"])
            rows = rows.filter(c("DiscDate") == day)
        if "code" in params:
            code = params["code"] + "0" if len(params["code"]) == 4 else params["code"]
            rows = rows.filter(c("Code") == code)
        if "from" in params:
            lo, hi = _day("from", params["from"]), _day("to", params["to"])
            rows = rows.filter(c("DiscDate").is_between(lo, hi))
        for item in filter(None, params.get("discItems", "").split(",")):
            rows = rows.filter(c("DiscItems").fill_null("").str.split("|").list.contains(item))
        return rows.drop("_listed")

    def last_updated(self, now: dt.datetime) -> dt.datetime:
        """The latest daily rebuild (17:00 JST) at or before ``now`` (naive JST)."""
        today = dt.datetime.combine(now.date(), dt.time(BULK_HOUR_JST))
        return today if today <= now else today - dt.timedelta(days=1)

    def bulk_bytes(self, as_of: dt.datetime) -> bytes:
        rows = self.frame.filter(pl.col("_listed") <= as_of).drop("_listed")
        return write_csv_gz(self.ep.id, rows.sort("DiscDate", "DiscNo"), frozenset())

    def files(self, params: dict[str, str]) -> dict:
        disc_no = params.get("discNo", "")
        if len(disc_no) != 14 or not disc_no.isdigit():
            raise TdError(f"Invalid discNo: {disc_no!r} (expected 14 digits)")
        wanted = [d for d in params.get("docs", "g,s,x").split(",") if d]
        bad = sorted(set(wanted) - DOC_KINDS.keys())
        if bad:
            raise TdError(f"Invalid docs: {bad} (expected g, s, x)")
        found = self.frame.filter(pl.col("DiscNo") == disc_no)
        if found.is_empty():
            raise TdError(f"Invalid discNo: {disc_no} is not a disclosure")
        held = set((found["Docs"][0] or "").split("|"))
        return {
            "discNo": disc_no,
            "files": {
                name: self.sign(f"{disc_no}/{kind}") if kind in wanted and kind in held else None
                for kind, name in DOC_KINDS.items()
            },
        }

    def sign(self, key: str) -> str:
        expires = int(self.clock()) + TD_URL_TTL_S
        nonce = secrets.token_hex(8)
        signature = url_signature(self.secret, key, expires, nonce)
        return f"{TD_FILES_PREFIX}{key}?expires={expires}&nonce={nonce}&signature={signature}"

    def redeem(self, key: str, params: dict[str, str]) -> tuple[int, str | tuple[bytes, str]]:
        """(200, (bytes, media type)) for a valid unexpired URL, else (403, the reason)."""
        try:
            expires = int(params.get("expires", ""))
        except ValueError:
            return 403, "Request has no valid expiry"
        expected = url_signature(self.secret, key, expires, params.get("nonce", ""))
        if params.get("signature", "") != expected:
            return 403, "Signature does not match"
        if self.clock() > expires:
            return 403, "Request has expired"
        if key.startswith("bulk/"):
            as_of = dt.datetime.fromisoformat(key.removeprefix("bulk/").removesuffix(".csv.gz"))
            return 200, (self.bulk_bytes(as_of), "application/gzip")
        kind = key.rsplit("/", 1)[-1]
        return 200, PLACEHOLDERS[kind]


def _day(name: str, text: str) -> dt.date:
    digits = text.replace("-", "")
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise TdError(f"Invalid {name}: {text!r} (expected YYYYMMDD or YYYY-MM-DD)") from None


def add_td_routes(app: FastAPI, td: TdService, prefix: str, respond) -> None:
    """Mount ``/td/list``, ``/td/files``, ``/td/bulk`` under ``prefix`` and the signed files."""

    def refused() -> Response | None:
        reason = td.refusal()
        if reason is None:
            return None
        return respond(
            403,
            {
                "message": f"This API is not available on your subscription plan "
                f"({td.service.plan}): /td requires the {td.ep.add_on} add-on."
            },
        )

    async def listing(request: Request) -> Response:
        if (answer := refused()) is not None:
            return answer
        params = dict(request.query_params)
        key = params.pop("pagination_key", None)
        query = {k: v for k, v in params.items() if k != "cursor"}
        owner = hashlib.sha256(json.dumps(sorted(query.items())).encode()).hexdigest()[:16]
        cursor = None
        try:
            rows = td.listing(params, td.now())
            if "date" in params:  # the cursor server, as for fins/summary
                day = _day("date", params["date"])
                page, next_key, cursor = td.service.cursors.page(
                    rows, day, params, key, td.service.page_size, owner
                )
            else:
                page, next_key = td.service.page(td.ep, rows, owner, key)
        except ValueError as error:
            return respond(400, {"message": str(error)})
        body = '{"data":' + records_json(td.ep.id, page)
        if next_key is not None:
            body += f',"pagination_key":"{next_key}"'
        elif cursor is not None:
            body += f',"cursor":"{cursor}"'
        return Response(body + "}", media_type="application/json")

    async def files(request: Request) -> Response:
        if (answer := refused()) is not None:
            return answer
        try:
            payload = td.files(dict(request.query_params))
        except TdError as error:
            return respond(400, {"message": str(error)})
        base = str(request.base_url).rstrip("/")
        payload["files"] = {k: v and base + v for k, v in payload["files"].items()}
        return respond(200, payload)

    async def bulk(request: Request) -> Response:
        if (answer := refused()) is not None:
            return answer
        as_of = td.last_updated(td.now())
        base = str(request.base_url).rstrip("/")
        stamp = as_of.replace(tzinfo=JST).astimezone(dt.UTC)
        return respond(
            200,
            {
                "lastUpdated": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "url": base + td.sign(f"bulk/{as_of.isoformat()}.csv.gz"),
            },
        )

    async def download(request: Request, key: str) -> Response:
        status, body = td.redeem(key, dict(request.query_params))
        if status != 200:
            return respond(status, {"message": body})
        content, media = body
        return Response(content, media_type=media)

    app.add_api_route(prefix + "/td/list", listing, methods=["GET"])
    app.add_api_route(prefix + "/td/files", files, methods=["GET"])
    app.add_api_route(prefix + "/td/bulk", bulk, methods=["GET"])
    app.add_api_route(TD_FILES_PREFIX + "{key:path}", download, methods=["GET"])
