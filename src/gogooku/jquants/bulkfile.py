"""V2 bulk files: one gzip CSV per endpoint per month, written and read in the catalogue schema.

The header is the endpoint's V2 field names in catalogue order (Premium-only fields left out where
the plan omits them); a null is an empty cell. The real files' treatment of nested fields is not
documented: ``PubReason`` (margin alert) is written as the JSON text of its object, and the
``FS`` object of ``fins_details`` as its JSON text with sorted keys (our choice; the same text the
store keeps). Derived columns (the ``fins_details`` line items) are not written: reading parses
them from ``FS`` again, exactly as for a paged answer. Arrays of
strings (TDnet ``DiscItems``/``Docs``) are ``|``-joined, as the ``/td/bulk`` CSV is specified.
"""

from __future__ import annotations

import gzip
import io

import polars as pl

from gogooku.jquants.endpoints import get_endpoint, parse_text_frame, wire_frame


def bulk_key(endpoint_id: str, year: int, month: int) -> str:
    """The file key, as the spec's sample ``equities/bars/daily/historical/2025/…_202501.csv.gz``."""
    path = get_endpoint(endpoint_id).path.strip("/")
    return f"{path}/historical/{year:04d}/{path.replace('/', '_')}_{year:04d}{month:02d}.csv.gz"


def write_csv_gz(endpoint_id: str, frame: pl.DataFrame, drop: frozenset[str]) -> bytes:
    """The gzip CSV of ``frame`` (catalogue-typed rows), deterministic bytes (gzip mtime 0)."""
    ep = get_endpoint(endpoint_id)
    wire = wire_frame(endpoint_id, frame, drop)
    structs = [s.name for s in ep.fields if s.kind == "struct" and s.name not in drop]
    if structs:
        wire = wire.with_columns(pl.col(n).struct.json_encode() for n in structs)
    lists = [s.name for s in ep.fields if s.kind == "list" and s.name not in drop]
    if lists:
        wire = wire.with_columns(pl.col(n).list.join("|") for n in lists)
    return gzip.compress(wire.write_csv().encode(), compresslevel=6, mtime=0)


def read_csv_gz(endpoint_id: str, data: bytes) -> pl.DataFrame:
    """The typed frame (catalogue schema) of a bulk file, parsed exactly as paged records are.

    Raises ``ValueError`` naming the endpoint when the bytes are not a gzip CSV with that
    endpoint's fields.
    """
    try:
        text = gzip.decompress(data)
    except (OSError, EOFError) as error:
        raise ValueError(f"{endpoint_id}: bulk file is not valid gzip ({error})") from None
    return parse_csv(endpoint_id, text)


def parse_csv(endpoint_id: str, text: bytes) -> pl.DataFrame:
    """The typed frame of a bulk file's decompressed CSV ``text`` (see ``read_csv_gz``)."""
    ep = get_endpoint(endpoint_id)
    raw = pl.read_csv(io.BytesIO(text), infer_schema=False)
    unknown = sorted(set(raw.columns) - {s.name for s in ep.fields})
    if unknown:
        raise ValueError(f"{ep.id}: bulk file has column(s) {unknown} not in the catalogue")
    return parse_text_frame(ep.id, raw)
