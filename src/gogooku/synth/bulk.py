"""Bulk download on the synthetic V2 service: ``/bulk/list``, ``/bulk/get`` and the signed files.

Each bulk-able dataset of the market has one file per month holding the rows the paging endpoint
serves for that month's dates (same plan window, same Premium fields), in table order.
``/bulk/get`` answers a URL on the same server, ``/bulk-files/<key>?expires=…&signature=…``,
signed with HMAC-SHA256 over key, expiry and a per-URL nonce, valid ``URL_TTL_S`` seconds and usable once; an
expired, reused or forged URL is refused with 403 (the spec does not state the status; 403 is
what a signed-URL store answers). The file URL needs no ``x-api-key``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import quote

import polars as pl
from fastapi import FastAPI, Request
from fastapi.responses import Response

from gogooku.jquants.bulk import FREE_BULK, NOT_BULK
from gogooku.jquants.bulkfile import bulk_key, write_csv_gz
from gogooku.jquants.endpoints import ENDPOINTS, Endpoint
from gogooku.jquants.plans import plan_allows
from gogooku.settings import Plan

FILES_PREFIX = "/bulk-files/"
URL_TTL_S = 300


def url_signature(secret: bytes, key: str, expires: int, nonce: str) -> str:
    """HMAC-SHA256 of ``key``, expiry and nonce: the signature of every signed file URL."""
    text = f"{key}\n{expires}\n{nonce}".encode()
    return hmac.new(secret, text, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class BulkFile:
    key: str
    endpoint_id: str
    first: dt.date
    last: dt.date


def _key_stem(ep: Endpoint) -> str:
    return ep.path.strip("/") + "/historical/"


def _month_span(year: int, month: int) -> tuple[dt.date, dt.date]:
    first = dt.date(year, month, 1)
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return first, following - dt.timedelta(days=1)


def _parse_month_or_day(name: str, text: str) -> tuple[dt.date, dt.date]:
    """``YYYY-MM``/``YYYYMM`` → that month; ``YYYY-MM-DD``/``YYYYMMDD`` → that day (both ends)."""
    digits = text.replace("-", "")
    try:
        if len(digits) == 6 and digits.isdigit():
            return _month_span(int(digits[:4]), int(digits[4:]))
        if len(digits) == 8 and digits.isdigit():
            day = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
            return day, day
    except ValueError:
        pass
    raise ValueError(f"Invalid {name}: {text!r} (expected YYYY-MM, YYYYMM, YYYY-MM-DD or YYYYMMDD)")


class BulkService:
    """The month files of a ``SyntheticV2`` service, their bytes and sizes, and signed URLs."""

    def __init__(self, service, *, secret: bytes, clock: Callable[[], float]) -> None:
        self.service = service
        self.secret = secret
        self.clock = clock
        self.used: set[str] = set()
        self._content: dict[tuple[str, dt.date], bytes] = {}
        self._modified: dict[str, str] = {}
        self.files = {f.key: f for f in self._catalogue()}

    def allowed(self, ep: Endpoint) -> bool:
        if ep.add_on is not None:
            return ep.add_on in self.service.addons
        if self.service.plan is Plan.FREE:
            return ep.id in FREE_BULK
        return plan_allows(self.service.plan, ep.min_plan)

    def _catalogue(self) -> list[BulkFile]:
        files = []
        for ep_id, table in self.service.tables.items():
            if ep_id in NOT_BULK or not self.allowed(ENDPOINTS[ep_id]):
                continue
            window = self.service.window_for(ENDPOINTS[ep_id])
            dates = table.dates.drop_nulls()
            dates = dates.filter((dates >= window.earliest) & (dates <= window.latest))
            months = dates.dt.truncate("1mo").unique().sort()
            for month in months:
                first, last = _month_span(month.year, month.month)
                key = bulk_key(ep_id, month.year, month.month)
                files.append(
                    BulkFile(key, ep_id, max(first, window.earliest), min(last, window.latest))
                )
        return files

    def rows(self, file: BulkFile) -> pl.DataFrame:
        """The rows of ``file``: the dataset's rows dated in its month, as paging serves them."""
        rows = self.service.tables[file.endpoint_id].between(file.first, file.last)
        renderer = self.service.renderers.get(file.endpoint_id)
        return renderer(rows) if renderer is not None else rows

    def content(self, file: BulkFile) -> bytes:
        """The file's bytes (deterministic), built once per process and kept: a listing needs
        every file's size and a download its bytes, so each file is compressed once."""
        data = self._content.get((file.key, file.last))
        if data is None:
            ep = ENDPOINTS[file.endpoint_id]
            data = write_csv_gz(ep.id, self.rows(file), self.service.omitted_fields(ep))
            self._content[(file.key, file.last)] = data
        return data

    def published(self, file: BulkFile) -> BulkFile | None:
        """``file`` as the service's ``now`` sees it: cut at the last record date published by
        then, as paging is (None while none of its month is); ``file`` itself without ``now``."""
        if self.service.now is None or file.endpoint_id == "markets_calendar":
            return file
        ep = ENDPOINTS[file.endpoint_id]
        last = self.service._last_published(self.service.tables[ep.id], ep)
        if last < file.first:
            return None
        return file if last >= file.last else replace(file, last=last)

    def size(self, file: BulkFile) -> int:
        return len(self.content(file))

    def last_modified(self, file: BulkFile) -> str:
        """The file's last write: 18:00 JST (09:00 UTC) of the day after its last row's date, or
        the time of the last correction that changed it (``correct``)."""
        if file.key in self._modified:
            return self._modified[file.key]
        last = self.service.tables[file.endpoint_id].last_date_upto(file.last) or file.last
        return f"{last + dt.timedelta(days=1):%Y-%m-%d}T09:00:00Z"

    def correct(self, endpoint_id: str, frame: pl.DataFrame, at: dt.datetime) -> list[str]:
        """Replace ``endpoint_id``'s rows by ``frame`` (a correction, served to paging too) and,
        as the API replaces a file in place, give every month file whose bytes change the
        ``LastModified`` ``at``; returns the changed keys."""
        keys = [k for k, f in self.files.items() if f.endpoint_id == endpoint_id]
        before = {k: self.content(self.files[k]) for k in keys}
        table = self.service.tables[endpoint_id]
        self.service.tables[endpoint_id] = type(table)(ENDPOINTS[endpoint_id], frame)
        self._content = {k: v for k, v in self._content.items() if k[0] not in before}
        changed = []
        for key in keys:
            if self.content(self.files[key]) != before[key]:
                self._modified[key] = f"{at.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}"
                changed.append(key)
        return changed

    def listing(self, params: dict[str, str]) -> list[dict]:
        endpoint = params.get("endpoint")
        if not endpoint and not params.get("date"):
            raise ValueError("This API requires at least 1 parameter as follows; endpoint, date")
        if ("from" in params or "to" in params) and not endpoint:
            raise ValueError("from/to can only be used together with endpoint")
        wanted = None
        if endpoint:
            wanted = self._endpoint_id(endpoint)
        lo, hi = dt.date.min, dt.date.max
        if params.get("date"):
            lo, hi = _parse_month_or_day("date", params["date"])
        if "from" in params:
            lo = max(lo, _parse_month_or_day("from", params["from"])[0])
        if "to" in params:
            hi = min(hi, _parse_month_or_day("to", params["to"])[1])
        chosen = [
            self.published(f)
            for f in self.files.values()
            if (wanted is None or f.endpoint_id == wanted) and f.first <= hi and f.last >= lo
        ]
        return [
            {"Key": f.key, "LastModified": self.last_modified(f), "Size": self.size(f)}
            for f in chosen
            if f is not None
        ]

    def _endpoint_id(self, path: str) -> str:
        ep = next((e for e in ENDPOINTS.values() if e.path == "/" + path.strip("/")), None)
        if ep is None or ep.id in NOT_BULK:
            raise ValueError(f"Invalid endpoint: {path!r} has no bulk files")
        self._check_plan(ep)
        return ep.id

    def _check_plan(self, ep: Endpoint) -> None:
        if not self.allowed(ep):
            raise PermissionError(
                f"Bulk files of {ep.path} are not available on the {self.service.plan} plan"
            )

    def resolve(self, params: dict[str, str]) -> BulkFile:
        """The file named by ``key``, or by ``endpoint`` + month ``date`` (not all three)."""
        if "key" in params and ("endpoint" in params or "date" in params):
            raise ValueError("Specify either key, or endpoint and date")
        if "key" in params:
            key = params["key"]
        elif "endpoint" in params and "date" in params:
            ep_id = self._endpoint_id(params["endpoint"])
            first, _ = _parse_month_or_day("date", params["date"])
            key = bulk_key(ep_id, first.year, first.month)
        else:
            raise ValueError("This API requires key, or endpoint and date")
        if key not in self.files:
            owner = next((e for e in ENDPOINTS.values() if key.startswith(_key_stem(e))), None)
            if owner is not None:
                self._check_plan(owner)
            raise ValueError(f"Invalid key: {key!r} is not a bulk file")
        if self.published(self.files[key]) is None:
            raise ValueError(f"Invalid key: {key!r} is not published yet")
        return self.files[key]

    def _signature(self, key: str, expires: int, nonce: str) -> str:
        return url_signature(self.secret, key, expires, nonce)

    def sign(self, key: str) -> str:
        """The path and query of a URL for ``key`` valid ``URL_TTL_S`` seconds from now.

        Each URL has its own nonce, so two URLs for one file are each usable once.
        """
        expires = int(self.clock()) + URL_TTL_S
        nonce = secrets.token_hex(8)
        signature = self._signature(key, expires, nonce)
        return f"{FILES_PREFIX}{quote(key)}?expires={expires}&nonce={nonce}&signature={signature}"

    def redeem(self, key: str, params: dict[str, str]) -> tuple[int, str | bytes]:
        """(200, file bytes) for a valid unused URL, else (403, the reason)."""
        try:
            expires = int(params.get("expires", ""))
        except ValueError:
            return 403, "Request has no valid expiry"
        signature, nonce = params.get("signature", ""), params.get("nonce", "")
        expected = self._signature(key, expires, nonce)
        if key not in self.files or not hmac.compare_digest(signature, expected):
            return 403, "Signature does not match"
        if self.clock() > expires:
            return 403, "Request has expired"
        if nonce in self.used:
            return 403, "This URL has already been used"
        file = self.published(self.files[key])
        if file is None:
            return 403, "Signature does not match"
        self.used.add(nonce)
        return 200, self.content(file)


def add_bulk_routes(app: FastAPI, bulk: BulkService, prefix: str, respond) -> None:
    """Mount ``/bulk/list`` and ``/bulk/get`` under ``prefix`` and the signed files at the root.

    ``respond(status, payload)`` builds the JSON response the rest of the service uses.
    """

    def _errors(call):
        try:
            return respond(200, call())
        except PermissionError as error:
            return respond(403, {"message": str(error)})
        except ValueError as error:
            return respond(400, {"message": str(error)})

    async def listing(request: Request) -> Response:
        return _errors(lambda: {"data": bulk.listing(dict(request.query_params))})

    async def get(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return _errors(
            lambda: {"url": base + bulk.sign(bulk.resolve(dict(request.query_params)).key)}
        )

    async def download(request: Request, key: str) -> Response:
        status, body = bulk.redeem(key, dict(request.query_params))
        if status != 200:
            return respond(status, {"message": body})
        return Response(body, media_type="application/gzip")

    app.add_api_route(prefix + "/bulk/list", listing, methods=["GET"])
    app.add_api_route(prefix + "/bulk/get", get, methods=["GET"])
    app.add_api_route(FILES_PREFIX + "{key:path}", download, methods=["GET"])
