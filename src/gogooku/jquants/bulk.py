"""Client side of V2 bulk download: typed ``/bulk/list`` entries and the checks a file must pass.

A downloaded file is accepted only when all of these hold, else ``BulkFileError`` names the key
and the failed check and nothing is stored:

1. its byte size equals the listing's ``Size``;
2. it decompresses completely as gzip;
3. its CSV header is the endpoint's V2 field order, Premium-only fields possibly left out (as
   paging leaves them out below Premium) and nothing else;
4. it holds at least one row, and every row's date field lies in the month named by the key
   (``…_YYYYMM.csv.gz``);
5. its rows parse through the catalogue (``gogooku.jquants.bulkfile.parse_csv``) into the same
   typed frame paging gives.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from gogooku.jquants.bulkfile import parse_csv
from gogooku.jquants.endpoints import get_endpoint
from gogooku.jquants.errors import JQuantsError, ResponseFormatError

# Not bulk per the official client's BulkEndpoint enum: today-only or snapshot-of-now endpoints,
# TDnet (its own /td/bulk) and EDINET (API only, reference section 2.6).
NOT_BULK = frozenset(
    {
        "equities_earnings_calendar",
        "equities_bars_daily_am",
        "td_list",
        "edinet_major_shareholders",
        "edinet_cross_shareholdings",
        "edinet_large_volume_shareholders",
    }
)
# The only bulk dataset on the Free plan.
FREE_BULK = frozenset({"markets_calendar"})

_MONTH_IN_KEY = re.compile(r"_(\d{4})(\d{2})\.csv\.gz$")


class BulkFileError(JQuantsError):
    """A downloaded bulk file failed a check (size, gzip, header, rows); nothing was stored."""


@dataclass(frozen=True)
class BulkEntry:
    """One ``/bulk/list`` entry: the file's key, last write (ISO-8601 text) and byte size."""

    key: str
    last_modified: str
    size: int

    @property
    def month(self) -> tuple[dt.date, dt.date]:
        """First and last day of the month the key names."""
        return key_month(self.key)


def key_month(key: str) -> tuple[dt.date, dt.date]:
    """(first, last) day of the month in a monthly file's key ``…_YYYYMM.csv.gz``."""
    match = _MONTH_IN_KEY.search(key)
    if match is None:
        raise BulkFileError(f"bulk file {key}: the key names no month (…_YYYYMM.csv.gz)")
    year, month = int(match[1]), int(match[2])
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return dt.date(year, month, 1), following - dt.timedelta(days=1)


def parse_listing(data: Sequence[object], *, path: str) -> list[BulkEntry]:
    """The typed entries of a ``/bulk/list`` ``data`` array (``Size`` may arrive as a float)."""
    entries = []
    for item in data:
        try:
            size = float(item["Size"])  # type: ignore[index]
            entry = BulkEntry(str(item["Key"]), str(item["LastModified"]), int(size))  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            raise ResponseFormatError(
                f"bulk list entry {item!r} lacks Key, LastModified or a numeric Size", path=path
            ) from None
        if entry.size != size or entry.size < 0:
            raise ResponseFormatError(f"bulk list entry {item!r}: Size is not a byte count")
        entries.append(entry)
    return entries


def verify(endpoint_id: str, entry: BulkEntry, data: bytes) -> pl.DataFrame:
    """The typed rows of a downloaded file after every check of the module doc."""

    def fail(what: str) -> BulkFileError:
        return BulkFileError(f"bulk file {entry.key} ({endpoint_id}): {what}; nothing stored")

    if len(data) != entry.size:
        raise fail(f"{len(data)} bytes downloaded, the listing says Size {entry.size}")
    try:
        text = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise fail(f"not a complete gzip stream ({error})") from None
    ep = get_endpoint(endpoint_id)
    header = text.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r").split(",")
    fields = [s.name for s in ep.fields]
    expected = [name for name in fields if name in header]
    absent = set(fields) - set(header)
    if header != expected or not absent <= ep.premium_fields:
        raise fail(
            f"CSV header {header} is not the V2 field order {fields} "
            "(only Premium-only fields may be absent)"
        )
    try:
        frame = parse_csv(endpoint_id, text)
    except (ValueError, pl.exceptions.PolarsError) as error:
        raise fail(f"rows do not parse ({error})") from None
    if frame.height == 0:
        raise fail("no rows")
    first, last = entry.month
    dates = frame.get_column(ep.date_field)
    outside = frame.height - int(dates.is_between(first, last).sum())
    if outside:
        raise fail(f"{outside} row(s) with {ep.date_field} outside {first:%Y-%m}")
    return frame
