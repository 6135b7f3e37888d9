"""Bulk backfill: the months a V2 bulk file covers come from the file, the rest is paged.

For a bulk-capable dataset (``bulk_capable``: Light and above every dataset not in
``gogooku.jquants.bulk.NOT_BULK``; Free only the calendar) ``backfill`` runs before paging when some
unit of the dataset is due (missing, pending or unsettled, per ``gogooku.store.fetch``):

1. one ``/bulk/list`` call for the dataset over the planned period (paced like every request);
2. a listed file is used for a month that ended before ``today`` (a *complete* month: the current
   month's file, if the server lists one, is still growing, so that month is paged), when that
   month holds a planned unit;
3. a file is downloaded when a unit of its month is due, or when the manifest holds its key with
   another ``LastModified`` or ``Size`` (a correction replaced it). Its verified rows are split
   into the month's planned units, exactly the units paging would have requested (a trading day
   ``YYYY-MM-DD`` with ``date=D``, or the month ``YYYY-MM`` with ``from``/``to``) with the same
   query parameters, and written through ``RawStore.write_units`` as one batch, so the stored
   partitions, the catalog and the vintages of superseded rows are those of a paged fetch;
4. a file whose units are all stored and settled but which the manifest lacks (its month was
   paged before the file existed) is recorded without a download, so a later change of its
   ``LastModified`` is noticed;
5. the units of every month a listed file covers are taken off the paging list.

The manifest ``raw/<dataset>/_bulk.json`` maps each key to ``LastModified``, ``Size``, ``rows``,
``stored_at`` (UTC ISO-8601) and ``how`` (``downloaded`` or ``paged``); it is rewritten atomically
after every file, so an interrupted run resumes at the first file not recorded. A 403 to the
listing (a contract without bulk) falls back to paging with a note.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from gogooku.io import atomic_write_json
from gogooku.jquants.bulk import FREE_BULK, NOT_BULK, BulkEntry, BulkFileError
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.jquants.errors import PlanError
from gogooku.jquants.plans import plan_allows
from gogooku.settings import Plan
from gogooku.store.raw import RawStore, UnitWrite

if TYPE_CHECKING:
    from gogooku.store.units import DatasetResult, FetchClient, Unit

log = logging.getLogger(__name__)

MANIFEST_FILE = "_bulk.json"


def bulk_capable(dataset: str, plan: Plan) -> bool:
    """Whether ``plan`` may take ``dataset``'s history from bulk files (an add-on dataset: when
    its add-on is held, which the fetch has checked before)."""
    endpoint = ENDPOINTS[dataset]
    if endpoint.fetch_mode == "latest" or dataset in NOT_BULK:
        return False
    if endpoint.add_on is not None:
        return True
    if plan is Plan.FREE:
        return dataset in FREE_BULK
    return plan_allows(plan, endpoint.min_plan)


def manifest_path(store: RawStore, dataset: str) -> Path:
    return store.dataset_dir(dataset) / MANIFEST_FILE


def read_manifest(store: RawStore, dataset: str) -> dict[str, dict]:
    """The dataset's bulk manifest (key → LastModified, Size, rows, stored_at, how); {} if none."""
    path = manifest_path(store, dataset)
    if not path.exists():
        return {}
    try:
        payload = json.loads(path.read_text())
    except ValueError as error:
        raise BulkFileError(f"bulk manifest {path} is not JSON ({error}); delete it") from None
    return payload if isinstance(payload, dict) else {}


def _month_end(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def _split(frame: pl.DataFrame, date_field: str, units: Sequence[Unit]) -> list[pl.DataFrame]:
    """The rows of each unit (its ``start..end`` on the date field); empty where none."""
    if all(u.start == u.end for u in units):
        parts = frame.partition_by(date_field, as_dict=True, maintain_order=True)
        return [parts.get((u.start,), frame.clear()) for u in units]
    dates = pl.col(date_field)
    return [frame.filter(dates.is_between(u.start, u.end)) for u in units]


def backfill(
    store: RawStore,
    client: FetchClient,
    units: Sequence[Unit],
    due: Sequence[Unit],
    result: DatasetResult,
    *,
    source: str,
    clock: Callable[[], dt.datetime],
    today: dt.date,
    progress: Callable[[int], Callable[[], None]] | None = None,
) -> set[str]:
    """Store what bulk files cover of ``units`` (see module doc); the keys now covered.

    ``units`` are the dataset's planned units, ``due`` those that need a fetch. Requests (list and
    URL calls) are added to ``result.requests``, downloads to ``result.bulk_files``.
    ``progress(n)``, called once with the number of listed files of planned months, returns the
    callable called after each of them.
    """
    dataset = result.dataset
    complete = [u for u in units if _month_end(u.start) < today]
    if not due or not complete:
        return set()
    by_month: dict[str, list[Unit]] = {}
    for unit in complete:
        by_month.setdefault(unit.start.strftime("%Y-%m"), []).append(unit)
    before = client.requests_made
    try:
        listed = client.bulk_list(dataset, complete[0].start, _month_end(complete[-1].start))
    except PlanError as exc:
        result.notes.append(f"bulk files refused ({exc.server_message or exc}); paged instead")
        return set()
    finally:
        result.requests += client.requests_made - before
    due_keys = {u.key for u in due}
    manifest = read_manifest(store, dataset)
    date_field = ENDPOINTS[dataset].date_field
    covered: set[str] = set()
    used = [(e, by_month[m]) for e in listed if (m := _month_key(e)) in by_month]
    advance = progress(len(used)) if progress is not None else lambda: None

    def take(entry: BulkEntry, month_units: list[Unit]) -> None:
        covered.update(u.key for u in month_units)
        recorded = manifest.get(entry.key)
        same = recorded is not None and (recorded["LastModified"], recorded["Size"]) == (
            entry.last_modified,
            entry.size,
        )
        if not any(u.key in due_keys for u in month_units) and (same or recorded is None):
            if recorded is None:
                stored = store.catalog.units(dataset, [u.key for u in month_units])
                _record(manifest, entry, sum(r.rows or 0 for r in stored), clock(), "paged")
                _save(store, dataset, manifest)
            return
        before = client.requests_made
        try:
            frame = client.fetch_bulk(dataset, entry)
        except BulkFileError as exc:
            raise BulkFileError(f"{exc}; `gogooku fetch --no-bulk` pages it instead") from None
        finally:
            result.requests += client.requests_made - before
        fetched_at = clock()
        writes = [
            UnitWrite(u.key, part, u.params, u.start, u.end, fetched_at)
            for u, part in zip(month_units, _split(frame, date_field, month_units), strict=True)
        ]
        store.write_units(dataset, writes, source=source)
        _record(manifest, entry, frame.height, fetched_at, "downloaded")
        _save(store, dataset, manifest)
        result.bulk_files += 1
        result.fetched += len(writes)
        result.rows += sum(w.frame.height for w in writes)

    for entry, month_units in used:
        take(entry, month_units)
        advance()
    return covered


def _month_key(entry: BulkEntry) -> str | None:
    """``YYYY-MM`` of a monthly file; None for a key of another pattern (a per-day file of the
    current month, whose pattern is unknown: that month is paged)."""
    try:
        return entry.month[0].strftime("%Y-%m")
    except BulkFileError:
        return None


def _record(
    manifest: dict[str, dict], entry: BulkEntry, rows: int, when: dt.datetime, how: str
) -> None:
    manifest[entry.key] = {
        "LastModified": entry.last_modified,
        "Size": entry.size,
        "rows": rows,
        "stored_at": when.astimezone(dt.UTC).isoformat(),
        "how": how,
    }


def _save(store: RawStore, dataset: str, manifest: dict[str, dict]) -> None:
    path = manifest_path(store, dataset)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, dict(sorted(manifest.items())))
