"""Incremental fetch orchestration: calendar first, then each dataset unit by unit into the store.

Units by ``Endpoint.fetch_mode``:

- ``"range"``: one request per calendar month (``from`` = first, ``to`` = last day of the month,
  clipped to the plan's history window and, except for the calendar, to today); unit key
  ``YYYY-MM``. The calendar is published ahead, so its months run past ``end`` through
  ``published_through(end)`` (31 December of the following year), clipped to what the plan may
  read (paid plans: through the end of the year after today; Free: its window) and to
  ``source_end`` when given (the last calendar day the synthetic market publishes);
- ``"date"`` / ``"disc_date"``: one request per trading day (``date=D`` / ``disc_date=D``) returning
  the whole market; unit key ``YYYY-MM-DD``. Trading days come from the *stored* calendar
  (``HolDiv`` in {"1", "2"}), so weekends and holidays are never requested; 2020-10-01 is a
  business day and is requested;
- ``"latest"``: one request without parameters; unit key = today's date (JST, or the ``today``
  given: the synthetic market's last day). Only fetched when the requested range reaches today,
  since the API serves no history for these datasets. Each fetch day keeps its own unit (a dated
  snapshot; a later fetch on the same day replaces that day's), so the history of a latest-only
  dataset (the earnings calendar) accumulates in daily use.

The calendar is always fetched first (``markets_calendar``, range mode), whatever ``datasets`` says.
Fetched units are written in batches of one month (``RawStore.write_units``), so each month file
is rewritten once per run; a batch is always written before ``fetch`` returns or raises.

Re-fetch rule (so revisions land and late publications are not missed): a unit is *settled* when
it was fetched at or after 09:00 JST on the calendar day after the publication day of its last
covered date (``gogooku.jquants.publication``: the date itself for same-day data, so
``unit_end + 1 day, 09:00 JST``; the 2nd business day after the week's last business day for
weekly margin interest; the next business day for daily margin interest). By then every J-Quants
publication for the day has landed (evening data 16:30-18:00, statements' final 24:30,
derivatives 03:00, the master's 08:00 re-update). A unit whose publication day lies past the
stored calendar is never settled. A unit fetched before its publication (stored empty) is thus
requested again until it is settled. Units missing from the catalog, left ``pending``
by an interrupted write, or not yet settled are requested; every other unit is skipped, so
re-running a completed historical fetch makes no request. In a daily routine this means the last
trading day (and the current month's range chunk) is fetched again on the next run. Calendar
months published ahead (wholly after the day they were fetched and after today) are refreshed
once a month instead: on the first run in a later month than their fetch. A unit whose
planned period now ends later than the stored one (a month chunk clipped at ``today`` or at the
plan window the last time, or at the end of a shorter synthetic market) is requested again too.
``units_to_fetch`` applies the same rules without a client, from the store alone.

Cursor mode (``gogooku.jquants.cursor``): for a dataset whose cursor mode the plan allows
(``fins_summary``, ``fins_details`` on Premium) the unit of ``today`` is fetched with
``get_since``; the cursor the server returns is kept in that unit's catalogue query, so the next
run on the same day asks only for the records published since and adds them to the unit's stored
rows (a record seen again replaces its earlier version, by the endpoint key). A cursor the server
no longer accepts (400) restarts the day without one; where the server refuses the mode (403) the
plain ``date=`` query is used. Below the cursor plan nothing changes.
TDnet (``td_list``, day units): when two or more days are due, one ``/td/bulk`` file stores every
day it settles (settle time not after its ``lastUpdated``) and only the later days are paged.

Datasets the plan lacks are skipped with one message each; days outside the plan's history window
and days after today are not requested (and reported). Nor are days before an endpoint's coverage
start (``Endpoint.coverage_from``: the EDINET datasets hold filings from 2016-06-01, 2020-03-31 and
2021-07-01), whatever the plan's window: the plan window is intersected with it, and a range
ending before it skips the dataset with a message.

Bulk (``fetch(bulk=True)``, what ``gogooku fetch`` does unless ``--no-bulk``): the units of every
month that ended before today come from the dataset's V2 bulk file when one is listed, split into
the same units with the same parameters, and only the rest is paged; see ``gogooku.store.bulk``.
A dataset without an API call (``Endpoint.bulk_only``: the ticks ``equities_trades``, minute
add-on) is fetched only this way: its day units come from the monthly files alone, the units no
listed file covers (the current month, or days before the first file) are not fetched and are
counted in a note; without ``bulk`` it is skipped with a message.
The units it stores follow the rules above like paged ones (a bulk file is listed only when some
unit of the dataset is due, so a completed historical fetch still makes no request).

Derived datasets (``gogooku.jquants.derived``: the minute bars' daily summary) are written with
their parent's units; after its requests a fetch also derives the units a store written before
them lacks (``gogooku.store.derive``, reported as a note of the parent dataset).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence

import polars as pl
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gogooku.calendar import TradingCalendar, published_through
from gogooku.errors import GogookuError
from gogooku.jquants.cursor import CURSOR_PARAM, supports_cursor
from gogooku.jquants.derived import derived_of
from gogooku.jquants.endpoints import ENDPOINTS, Endpoint
from gogooku.jquants.errors import TRANSIENT_ERRORS, BadRequestError, PlanError
from gogooku.jquants.plans import HistoryWindow, access_refusal, history_window
from gogooku.jquants.publication import needs_calendar, publication_day
from gogooku.settings import AddOn, Plan
from gogooku.store.bulk import backfill, bulk_capable
from gogooku.store.catalog import UnitRecord
from gogooku.store.derive import derive
from gogooku.store.raw import RawStore, UnitWrite
from gogooku.store.units import DatasetResult, FetchClient, FetchReport, Unit

log = logging.getLogger(__name__)

JST = dt.timezone(dt.timedelta(hours=9), "JST")
CALENDAR = "markets_calendar"
TD_LIST = "td_list"
BUSINESS_DAY_CODES = ("1", "2")
SETTLE_HOUR_JST = 9
FLUSH_ROWS = 250_000


class SourceMismatchError(GogookuError, ValueError):
    """The store holds data from another source (J-Quants, or another synthetic market); like a
    usage error (another GOGOOKU_HOME is needed) it exits 2."""

    exit_code = 2


class FetchStoppedError(GogookuError):
    """A request still failed after every retry (server errors, rate limits, a broken
    connection or body); the units fetched before it are stored, so a re-run resumes."""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def settle_time(day: dt.date) -> dt.datetime:
    """09:00 JST on the calendar day after ``day``: when data published on ``day`` is final."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(SETTLE_HOUR_JST), JST)


def unit_settle_time(
    dataset: str, unit_end: dt.date, calendar: TradingCalendar | None = None
) -> dt.datetime | None:
    """When a unit of ``dataset`` ending on ``unit_end`` is final: ``settle_time`` of the day its
    last date is published; None while that day lies past ``calendar``."""
    published = publication_day(dataset, unit_end, calendar)
    return None if published is None else settle_time(published)


def needs_fetch(
    record: UnitRecord | None,
    planned_end: dt.date | None = None,
    today: dt.date | None = None,
    *,
    settles: Callable[[dt.date], dt.datetime | None] = settle_time,
) -> bool:
    """True for a unit that is unknown, pending (interrupted), fetched before it settled, or that
    now covers more than when it was fetched (stored ``unit_end`` before ``planned_end``: a month
    chunk whose end moved with ``today`` or with a longer synthetic market). ``settles`` maps the
    unit's last date to its settle time (default: same-day publication; None: not yet known).

    With ``today`` (calendar units), a month published ahead (it started after the day it was
    fetched and still starts after ``today``) is refreshed once a month rather than on every run:
    it needs a fetch only when ``today`` is in a later month than its fetch.
    """
    if record is None or not record.committed:
        return True
    if record.unit_end is None:
        return True
    if planned_end is not None and record.unit_end < planned_end:
        return True
    settled_at = settles(record.unit_end)
    if settled_at is not None and record.fetched_at >= settled_at:
        return False
    if today is None or record.unit_start is None:
        return True
    fetched_on = record.fetched_at.astimezone(JST).date()
    ahead = fetched_on < record.unit_start and today < record.unit_start
    return not (ahead and (fetched_on.year, fetched_on.month) == (today.year, today.month))


def month_chunks(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Whole calendar months (first day, last day) overlapping [start, end]."""
    chunks = []
    first = start.replace(day=1)
    while first <= end:
        following = (first + dt.timedelta(days=32)).replace(day=1)
        chunks.append((first, following - dt.timedelta(days=1)))
        first = following
    return chunks


def trading_days(store: RawStore, start: dt.date, end: dt.date) -> list[dt.date]:
    """Business days (``HolDiv`` "1" or "2") in [start, end] according to the stored calendar."""
    days = (
        store.scan(CALENDAR)
        .filter(pl.col("Date").is_between(start, end), pl.col("HolDiv").is_in(BUSINESS_DAY_CODES))
        .select("Date")
        .unique()
        .sort("Date")
        .collect()
    )
    return days.get_column("Date").to_list()


def _calendar_window(plan: Plan, window: HistoryWindow, today: dt.date) -> HistoryWindow:
    # Paid plans may read the calendar up to the end of next year; Free only inside its window.
    if plan is Plan.FREE:
        return window
    return HistoryWindow(window.earliest, dt.date(today.year + 1, 12, 31))


def range_units(
    endpoint: Endpoint, start: dt.date, end: dt.date, window: HistoryWindow
) -> list[Unit]:
    units = []
    for first, last in month_chunks(start, end):
        clipped = window.clamp(first, last)
        if clipped is None:
            continue
        lo, hi = clipped
        params = {"from": lo.isoformat(), "to": hi.isoformat()}
        units.append(Unit(endpoint.id, first.strftime("%Y-%m"), params, lo, hi))
    return units


def day_units(endpoint: Endpoint, days: Iterable[dt.date]) -> list[Unit]:
    param = "disc_date" if endpoint.fetch_mode == "disc_date" else "date"
    return [Unit(endpoint.id, d.isoformat(), {param: d.isoformat()}, d, d) for d in days]


class _Progress:
    """Rich progress: one bar per dataset with units done/total and left, the requests made so
    far (pages included) and the pacing delay the next request waits for."""

    def __init__(self, enabled: bool, console: Console | None) -> None:
        self.bar = (
            Progress(
                TextColumn("{task.description:<28}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("units, {task.remaining:.0f} left"),
                TextColumn("requests {task.fields[requests]}"),
                TextColumn("pacing {task.fields[pacing]:.2f}s"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )
            if enabled
            else None
        )

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def add(self, dataset: str, total: int) -> int | None:
        if self.bar is None:
            return None
        return self.bar.add_task(dataset, total=total, requests=0, pacing=0.0)

    def advance(self, task: int | None, requests: int, pacing: float) -> None:
        if self.bar is not None and task is not None:
            self.bar.update(task, advance=1, requests=requests, pacing=pacing)


def _todo(store: RawStore, dataset: str, units: Sequence[Unit], today: dt.date) -> list[Unit]:
    records = {r.unit_key: r for r in store.catalog.units(dataset)}
    ahead_rule = today if dataset == CALENDAR else None
    calendar = _stored_calendar(store) if needs_calendar(dataset) else None

    def settles(day: dt.date) -> dt.datetime | None:
        return unit_settle_time(dataset, day, calendar)

    return [u for u in units if needs_fetch(records.get(u.key), u.end, ahead_rule, settles=settles)]


def _stored_calendar(store: RawStore) -> TradingCalendar | None:
    frame = store.scan(CALENDAR).select("Date", "HolDiv").collect()
    return TradingCalendar.from_frame(frame) if frame.height else None


def _since(
    store: RawStore, client: FetchClient, unit: Unit, stored: UnitRecord | None
) -> tuple[pl.DataFrame, dict[str, str]]:
    """The rows and catalogue query of today's ``unit`` by the cursor mode (see module doc)."""
    ep = ENDPOINTS[unit.dataset]
    known = stored.query.get(CURSOR_PARAM) if stored is not None and stored.committed else None
    get_since = client.get_since  # type: ignore[attr-defined]
    try:
        try:
            new, cursor = get_since(unit.dataset, unit.start, known)
        except BadRequestError:
            if known is None:
                raise
            log.warning(
                "%s %s: the stored cursor was refused; fetching the day again", ep.id, unit.key
            )
            known = None
            new, cursor = get_since(unit.dataset, unit.start, None)
    except PlanError as exc:
        log.warning("%s: cursor mode refused (%s); using the date query", ep.id, exc)
        return client.fetch(unit.dataset, **unit.params), unit.params
    frame = new
    if known is not None:
        old = store.scan(unit.dataset).filter(pl.col(ep.date_field) == unit.start)
        frame = pl.concat([old.select(list(ep.schema)).collect(), new]).unique(
            subset=list(ep.key), keep="last", maintain_order=True
        )
    return frame, {**unit.params, **({CURSOR_PARAM: cursor} if cursor is not None else {})}


def _fetch_units(
    store: RawStore,
    client: FetchClient,
    units: Sequence[Unit],
    result: DatasetResult,
    progress: _Progress,
    source: str,
    clock: Callable[[], dt.datetime],
    today: dt.date,
    cursor_mode: bool = False,
    bulk: bool = False,
) -> None:
    """Request the units that need it; write them in batches of one month (or FLUSH_ROWS rows).

    With ``bulk``, the units of months a bulk file covers come from the files first
    (``gogooku.store.bulk.backfill``) and only the others are paged. A batch is written before
    the next month starts and, whatever happens, before this function returns or raises, so
    every unit a request completed for is stored.
    """
    todo = _todo(store, result.dataset, units, today)
    if bulk:

        def files_bar(total: int) -> Callable[[], None]:
            task = progress.add(f"{result.dataset} (bulk files)", total)
            return lambda: progress.advance(task, result.requests, 0.0)

        covered = backfill(
            store,
            client,
            units,
            todo,
            result,
            source=source,
            clock=clock,
            today=today,
            progress=files_bar,
        )
        todo = [u for u in todo if u.key not in covered]
    if ENDPOINTS[result.dataset].bulk_only:
        if todo:
            result.notes.append(
                f"{len(todo)} unit(s) ({todo[0].key}..{todo[-1].key}) in no listed bulk file "
                "(a month's file is used once the month has ended): not fetched, the endpoint "
                "has no API call"
            )
            log.info("%s: %s", result.dataset, result.notes[-1])
        result.planned = result.fetched
        return
    records = {r.unit_key: r for r in store.catalog.units(result.dataset)} if cursor_mode else {}
    path = ENDPOINTS[result.dataset].path
    result.planned = len(todo) + result.fetched
    task = progress.add(result.dataset, len(todo))
    batch: list[UnitWrite] = []

    def flush() -> None:
        # Taken out of the batch first: a failed write is not retried by the final flush.
        units = batch.copy()
        batch.clear()
        store.write_units(result.dataset, units, source=source)

    try:
        for unit in todo:
            month = unit.start.strftime("%Y-%m")
            if batch and (
                batch[-1].start.strftime("%Y-%m") != month
                or sum(b.frame.height for b in batch) >= FLUSH_ROWS
            ):
                flush()
            before = client.requests_made
            query = unit.params
            try:
                if cursor_mode and unit.start == today:
                    frame, query = _since(store, client, unit, records.get(unit.key))
                else:
                    frame = client.fetch(unit.dataset, **unit.params)
            except PlanError as exc:
                result.skipped = (
                    f"the API refused it for this plan ({exc}); remaining units not requested"
                )
                log.warning("%s: %s", unit.dataset, result.skipped)
                return
            finally:
                result.requests += client.requests_made - before
            batch.append(UnitWrite(unit.key, frame, query, unit.start, unit.end, clock()))
            result.fetched += 1
            result.rows += frame.height
            progress.advance(task, result.requests, client.pacing_delay(path))
    finally:
        if batch:
            flush()


def _td_bulk_backfill(
    store: RawStore,
    client: FetchClient,
    units: Sequence[Unit],
    result: DatasetResult,
    source: str,
    today: dt.date,
) -> None:
    """Store the ``td_list`` day units that ``/td/bulk``'s file settles, from one download.

    Used when two or more day units are due: one ``/td/bulk`` request plus one file instead of a
    request per day. A day whose settle time (09:00 JST the next day) is not after the file's
    ``lastUpdated`` is written from the file, stamped ``fetched_at = lastUpdated``; the later days
    stay due and are paged with ``date=`` as usual. File rows dated on a day without a unit (a
    closed day, outside the range) are not stored: paging could never refresh them.
    """
    todo = _todo(store, TD_LIST, units, today)
    if len(todo) < 2:
        return
    before = client.requests_made
    try:
        stamp, frame = client.td_bulk()
    finally:
        result.requests += client.requests_made - before
    settled = [u for u in todo if settle_time(u.end) <= stamp]
    days = frame.partition_by("DiscDate", as_dict=True)
    writes = [
        UnitWrite(u.key, days.get((u.start,), frame.clear()), u.params, u.start, u.end, stamp)
        for u in settled
    ]
    by_month: dict[str, list[UnitWrite]] = {}
    for write in writes:
        by_month.setdefault(write.key[:7], []).append(write)
    for month in by_month.values():
        store.write_units(TD_LIST, month, source=source)
    result.fetched += len(writes)
    result.rows += sum(w.frame.height for w in writes)
    result.notes.append(
        f"{len(writes)} day(s) from /td/bulk (lastUpdated {stamp:%Y-%m-%dT%H:%M:%SZ}); "
        f"{len(todo) - len(writes)} later day(s) paged"
    )


def _order(
    store: RawStore, start: dt.date, end: dt.date, datasets: Sequence[str] | None, source: str
) -> list[str]:
    """Validated dataset ids, calendar first; refuses a store holding another source's data."""
    if end < start:
        raise ValueError(f"fetch: end {end} is before start {start}")
    wanted = list(ENDPOINTS) if datasets is None else list(dict.fromkeys(datasets))
    unknown = [d for d in wanted if d not in ENDPOINTS]
    if unknown:
        raise ValueError(f"fetch: unknown dataset(s) {unknown}; known: {', '.join(ENDPOINTS)}")
    foreign = store.catalog.sources() - {source}
    if foreign:
        raise SourceMismatchError(
            f"raw store {store.root} holds data from {sorted(foreign)}, this fetch is from "
            f"{source!r}; mixing sources in one store would blend two markets: use another "
            "GOGOOKU_HOME"
        )
    return [CALENDAR, *(d for d in wanted if d != CALENDAR)]


def _plan_dataset(
    store: RawStore,
    dataset: str,
    start: dt.date,
    end: dt.date,
    plan: Plan,
    window: HistoryWindow,
    today: dt.date,
    source_end: dt.date | None,
    result: DatasetResult,
    addons: frozenset[AddOn] = frozenset(),
    bulk: bool = False,
) -> list[Unit] | None:
    """The units of ``dataset`` for the range, or None with ``result.skipped`` set."""
    endpoint = ENDPOINTS[dataset]
    refusal = access_refusal(endpoint.min_plan, endpoint.add_on, plan, addons)
    if refusal is not None:
        result.skipped = refusal
        return None
    if endpoint.bulk_only and not bulk:
        result.skipped = f"{endpoint.path} has no API call: bulk files only (not with --no-bulk)"
        return None
    if endpoint.add_on is not None:
        window = history_window(plan, today, endpoint.add_on)
    if endpoint.coverage_from is not None and end < endpoint.coverage_from:
        result.skipped = (
            f"{endpoint.path} holds data from {endpoint.coverage_from} (coverage start), "
            f"after the range's end {end}"
        )
        return None
    return _units_for(store, endpoint, start, end, plan, window, today, source_end, result)


def units_to_fetch(
    store: RawStore,
    start: dt.date,
    end: dt.date,
    datasets: Sequence[str] | None = None,
    plan: Plan = Plan.FREE,
    *,
    source: str = "jquants",
    today: dt.date,
    source_end: dt.date | None = None,
    addons: frozenset[AddOn] = frozenset(),
    bulk: bool = False,
) -> dict[str, list[Unit]]:
    """The units ``fetch`` would request now with these arguments, without making a request.

    Planned from the stored catalog and calendar alone. When calendar units are due, only they are
    returned: the trading days, hence the day units, depend on the calendar those bring. An empty
    result means a ``fetch`` with the same arguments makes no request.
    """
    order = _order(store, start, end, datasets, source)
    window = history_window(plan, today)
    due: dict[str, list[Unit]] = {}
    for dataset in order:
        result = DatasetResult(dataset)
        units = _plan_dataset(
            store, dataset, start, end, plan, window, today, source_end, result, addons, bulk
        )
        todo = _todo(store, dataset, units or [], today)
        if todo:
            due[dataset] = todo
        if dataset == CALENDAR and todo:
            break
    return due


def fetch(
    store: RawStore,
    client: FetchClient,
    start: dt.date,
    end: dt.date,
    datasets: Sequence[str] | None = None,
    plan: Plan = Plan.FREE,
    progress: bool = True,
    *,
    source: str = "jquants",
    clock: Callable[[], dt.datetime] = _utcnow,
    today: dt.date | None = None,
    source_end: dt.date | None = None,
    console: Console | None = None,
    addons: frozenset[AddOn] = frozenset(),
    bulk: bool = False,
) -> FetchReport:
    """Fetch every missing or unsettled unit of ``datasets`` (default: all) over [start, end].

    With ``bulk``, bulk-capable datasets take their complete months from V2 bulk files and page
    the rest (``gogooku.store.bulk``).

    ``plan`` and ``addons`` gate datasets (skipped with a message) and the history window; ``clock`` gives the
    current time (UTC-aware) stamped as each unit's ``fetched_at``; ``today`` (default: the
    clock's date in Tokyo) is the day the plan window and the ``latest`` units are counted from
    (the synthetic market's own last day when fetching from it); ``source_end`` is the last day
    the source holds a calendar for (the synthetic market's published calendar; None for
    J-Quants), to which the calendar's month chunks are clipped. The calendar is requested through
    ``published_through(end)`` (see the module doc).
    A request that still fails after the client's retries (a transient error: server errors,
    rate limits, a broken connection or body) raises ``FetchStoppedError`` naming the dataset,
    endpoint and status; any other client error propagates. Either way the units stored before it
    stay stored, so a re-run resumes where it stopped.
    """
    order = _order(store, start, end, datasets, source)
    today = today or clock().astimezone(JST).date()
    window = history_window(plan, today)
    report = FetchReport()
    with _Progress(progress, console) as bars:
        for dataset in order:
            result = report.results.setdefault(dataset, DatasetResult(dataset))
            units = _plan_dataset(
                store, dataset, start, end, plan, window, today, source_end, result, addons, bulk
            )
            if units is None:
                log.warning("%s: skipped: %s", dataset, result.skipped)
                continue
            for note in result.notes:
                log.info("%s: %s", dataset, note)
            try:
                cursor_mode = supports_cursor(dataset, plan) and hasattr(client, "get_since")
                if dataset == TD_LIST:
                    _td_bulk_backfill(store, client, units, result, source, today)
                _fetch_units(
                    store,
                    client,
                    units,
                    result,
                    bars,
                    source,
                    clock,
                    today,
                    cursor_mode,
                    bulk=bulk and bulk_capable(dataset, plan),
                )
            except TRANSIENT_ERRORS as exc:
                raise FetchStoppedError(
                    f"{dataset}: {exc}; {report.fetched} unit(s) fetched before it are stored: "
                    "re-run to resume"
                ) from exc
    for dataset in order:
        for derived in derived_of(dataset):
            done = derive(store, [derived.id])[0]
            if done.units:
                report.results[dataset].notes.append(
                    f"{done.units} unit(s) of {derived.id} derived from stored rows"
                )
    return report


def _units_for(
    store: RawStore,
    endpoint: Endpoint,
    start: dt.date,
    end: dt.date,
    plan: Plan,
    window: HistoryWindow,
    today: dt.date,
    source_end: dt.date | None,
    result: DatasetResult,
) -> list[Unit] | None:
    """The units of ``endpoint`` for [start, end], or None (with ``result.skipped`` set)."""
    mode = endpoint.fetch_mode
    if endpoint.id == CALENDAR:
        calendar_window = _calendar_window(plan, window, today)
        if source_end is not None:
            latest = min(calendar_window.latest, source_end)
            calendar_window = HistoryWindow(calendar_window.earliest, latest)
        return range_units(endpoint, start, published_through(end), calendar_window)
    if endpoint.coverage_from is not None:
        window = HistoryWindow(max(window.earliest, endpoint.coverage_from), window.latest)
    if mode == "range":
        published = HistoryWindow(window.earliest, min(window.latest, today))
        return range_units(endpoint, start, end, published)
    if mode in ("date", "disc_date"):
        days = trading_days(store, start, end)
        if not days:
            result.skipped = f"the stored calendar has no trading day in [{start}, {end}]"
            return None
        known = store.scan(CALENDAR).select(pl.col("Date").max()).collect().item()
        if known < end:
            result.notes.append(
                f"the stored calendar ends on {known}: days after it are not requested"
            )
        coverage = endpoint.coverage_from
        if coverage is not None and days[0] < coverage:
            before = [d for d in days if d < coverage]
            days = days[len(before) :]
            result.notes.append(
                f"{len(before)} trading day(s) before the coverage start {coverage} of "
                f"{endpoint.path} not requested"
            )
        inside = [d for d in days if window.contains(d) and d <= today]
        if len(inside) < len(days):
            result.notes.append(
                f"{len(days) - len(inside)} trading day(s) outside the {plan.value} plan window "
                f"[{window.earliest}, {min(window.latest, today)}] not requested"
            )
        return day_units(endpoint, inside)
    if mode == "latest":
        if not start <= today <= end:
            result.skipped = (
                f"serves only the latest data (as of {today}), outside [{start}, {end}]"
            )
            return None
        return [Unit(endpoint.id, today.isoformat(), {}, today, today)]
    raise ValueError(f"{endpoint.id}: unknown fetch_mode {mode!r}")
