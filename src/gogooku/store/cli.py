"""``gogooku fetch`` and ``gogooku store status`` (the work is ``gogooku.store.sources``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gogooku.logs import console
from gogooku.settings import AddOn, Plan, get_settings, parse_addons
from gogooku.store.derive import derive
from gogooku.store.fetch import FetchReport
from gogooku.store.health import repair, store_problems
from gogooku.store.raw import CATALOG_FILE, RawStore
from gogooku.store.sources import Source, fetch_from_source, fetched_datasets, parse_datasets
from gogooku.store.status import store_status

store_app = typer.Typer(
    name="store", help="Inspect the raw store ($GOGOOKU_HOME/raw).", no_args_is_help=True
)


def _parse_date(option: str, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date YYYY-MM-DD", param_hint=option) from None


def _stdout() -> Console:
    """Console on stdout; wide enough off a terminal that table cells are not truncated."""
    out = Console()
    return out if out.is_terminal else Console(width=200)


def _print_report(report: FetchReport) -> None:
    table = Table(title="fetch")
    for column in ("dataset", "units fetched", "rows", "requests", "bulk files", "note"):
        table.add_column(column, justify="left" if column in ("dataset", "note") else "right")
    for result in report.results.values():
        note = f"skipped: {result.skipped}" if result.skipped else "; ".join(result.notes)
        table.add_row(
            result.dataset,
            str(result.fetched),
            str(result.rows),
            str(result.requests),
            str(result.bulk_files),
            note,
        )
    out = _stdout()
    out.print(table)
    out.print(f"requests made: {report.requests}")


def _parse_addons(text: str | None) -> frozenset[AddOn] | None:
    if text is None:
        return None
    try:
        return parse_addons(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--addons") from None


def fetch_command(
    start: Annotated[str, typer.Option("--start", help="First day to fetch (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--end", help="Last day to fetch (YYYY-MM-DD), inclusive.")],
    datasets: Annotated[
        str | None,
        typer.Option(
            "--datasets",
            help="Comma-separated dataset ids (default: all the plan allows). "
            "markets_calendar is always fetched first.",
        ),
    ] = None,
    plan: Annotated[
        Plan | None,
        typer.Option(
            "--plan",
            help="Subscription plan: gates datasets and the history window. "
            "Default: JQUANTS_PLAN for jquants, premium for synthetic.",
        ),
    ] = None,
    addons: Annotated[
        str | None,
        typer.Option(
            "--addons",
            help="Comma-separated add-on contracts held (minute, tdnet): their datasets are "
            "fetched, others skipped with a message. Default: JQUANTS_ADDONS for jquants, "
            "every add-on for synthetic; --addons '' holds none.",
        ),
    ] = None,
    source: Annotated[
        Source,
        typer.Option(
            "--source",
            help="jquants: the J-Quants V2 API (needs JQUANTS_API_KEY). synthetic: generate the "
            "synthetic market (--seed, --stocks; --start fixes it, a later --end grows it) for "
            "start..end, serve it in-process to the same client and store its oracle too; "
            "nothing is generated when the store already holds it all.",
        ),
    ] = Source.JQUANTS,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="API base URL for --source jquants (default: JQUANTS_BASE_URL, else the "
            "official https://api.jquants.com/v2).",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Synthetic market seed (--source synthetic).")
    ] = 7,
    stocks: Annotated[
        int, typer.Option("--stocks", help="Synthetic market size in stocks (--source synthetic).")
    ] = 300,
    market_version: Annotated[
        int,
        typer.Option(
            "--market-version",
            help="Synthetic market version (--source synthetic): 2 adds the nonlinear effects "
            "of docs/synthetic_market.md; 1 is the earlier linear market, bit for bit.",
        ),
    ] = 2,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="First set aside every corrupt or missing month partition of the datasets "
            "(`gogooku store status` lists them) and fetch their units again. Without it a "
            "fetch refuses to start on such a store.",
        ),
    ] = False,
    no_bulk: Annotated[
        bool,
        typer.Option(
            "--no-bulk",
            help="Page every unit instead of downloading the bulk files of complete months "
            "(for a contract without bulk download, or to compare the two paths).",
        ),
    ] = False,
) -> None:
    """Fetch into the raw store what it lacks for start..end; a re-run is a no-op.

    Requests one unit at a time (a trading day of the stored calendar for daily datasets, a month for range datasets, today for latest-only ones: each fetch day keeps its own dated snapshot), only units missing from the catalog, left pending by an interrupted run, grown since (a month chunk whose end moved), or not yet settled: a unit fetched before 09:00 JST of the day after it ends is fetched again on the next run, so revisions replace it. The trading calendar is fetched first and ahead, through 31 December of the year after --end (as far as the plan allows; months ahead are refreshed once a month). Safe to interrupt at any point: the next run resumes.

    On Light and above (Free: the calendar only) the complete months of every bulk-capable dataset come from the V2 bulk files (one gzip CSV per dataset and month: one listing call per dataset, one URL call and one download per file, each file checked for size, gzip integrity, header, rows and month before anything is stored) and only the rest (the current month, the calendar's months ahead) is paged; `raw/<dataset>/_bulk.json` records the stored files, so an interrupted backfill resumes and a file whose LastModified or Size changed is downloaded again. Ticks (`equities_trades`, minute add-on) have no API call: they come from their monthly bulk files only (the current month's once it has ended). --no-bulk pages everything (and skips the ticks).
    """
    first, last = _parse_date("--start", start), _parse_date("--end", end)
    store = RawStore(get_settings().raw_dir)
    wanted = parse_datasets(datasets)
    if repair:
        _repair(store, wanted, first, last)
    done = fetch_from_source(
        store,
        source,
        first,
        last,
        wanted,
        plan,
        base_url=base_url,
        seed=seed,
        stocks=stocks,
        market_version=market_version,
        console=console,
        bulk=not no_bulk,
        addons=_parse_addons(addons),
    )
    if done.report is None:
        _stdout().print(
            f"the store already holds every unit and the oracle of {done.label} up to {last}: "
            "nothing to generate\nrequests made: 0"
        )
        return
    _print_report(done.report)
    if done.source is Source.SYNTHETIC:
        rows = sum(r.rows or 0 for r in done.oracle)
        _stdout().print(f"oracle: {rows} rows in {len(done.oracle)} month(s)")


def _repair(store: RawStore, datasets: list[str] | None, first: dt.date, last: dt.date) -> None:
    """Move the bad partitions of ``datasets`` (all when None; the calendar and the oracle
    always) aside and mark their units pending, saying which fall outside first..last."""
    problems = store_problems(store, fetched_datasets(store, datasets))
    out = _stdout()
    if not problems:
        out.print("repair: no corrupt or missing partition")
        return
    units = repair(store, problems)
    for problem in problems:
        out.print(f"repair: {problem}; set aside, its {len(problem.units)} unit(s) fetched again")
    outside = [
        u
        for u in units
        if u.unit_end and u.unit_start and not (first <= u.unit_start and u.unit_end <= last)
    ]
    if outside:
        lo = min(u.unit_start for u in outside)
        hi = max(u.unit_end for u in outside)
        out.print(
            f"repair: {len(outside)} unit(s) lie outside {first}..{last}; they stay pending "
            f"until a fetch covers {lo}..{hi}"
        )


@store_app.command("status")
def status_command(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (one object per dataset) instead of a table.")
    ] = False,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep", help="Also decode every page of every partition (reads the whole store)."
        ),
    ] = False,
) -> None:
    """Per dataset: first/last date, rows, units (those stored from bulk files included), bulk (month files downloaded, per `raw/<dataset>/_bulk.json`), gaps, pending (interrupted) units, revised rows (superseded versions kept when a re-fetch brought a correction) and corrupt partitions.

    Coverage from is the first date the API holds data for (the EDINET datasets: filings from 2016-06-01, 2020-03-31, 2021-07-01; fetch requests nothing before it), "-" where only the plan's window limits the history.

    Gaps are trading days of the stored calendar between a day-by-day dataset's first and last fetched day that have no unit ("-" for month-range and latest-only datasets). Corrupt partitions (an unreadable Parquet footer, a missing file, fewer rows than the catalog recorded; with --deep a page that does not decode) are listed by file under the table, and exit 1: `gogooku fetch --repair` fetches them again.
    """
    raw_dir = get_settings().raw_dir
    if not (raw_dir / CATALOG_FILE).exists():
        if as_json:
            typer.echo("[]")
            return
        _stdout().print(f"raw store {raw_dir} is empty: run gogooku fetch")
        return
    store = RawStore(raw_dir)
    lines = store_status(store, deep)
    corrupt = [problem for line in lines for problem in line.corrupt]
    if as_json:
        rows = [dataclasses.asdict(line) for line in lines]
        typer.echo(json.dumps(rows, indent=2, default=str))
        if corrupt:
            raise typer.Exit(1)
        return
    table = Table(title=f"raw store {store.root}")
    columns = (
        "dataset",
        "mode",
        "coverage\nfrom",
        "first",
        "last",
        "rows",
        "units",
        "bulk",
        "gaps",
        "pending",
        "revised",
        "corrupt",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("dataset", "mode") else "right")
    for line in lines:
        if line.gaps is None:
            gaps = "-"
        elif line.gaps:
            shown = ", ".join(d.isoformat() for d in line.gaps[:3])
            gaps = f"{len(line.gaps)} ({shown}{', ...' if len(line.gaps) > 3 else ''})"
        else:
            gaps = "0"
        table.add_row(
            line.dataset,
            line.fetch_mode,
            str(line.coverage_from or "-"),
            str(line.first or "-"),
            str(line.last or "-"),
            str(line.rows),
            str(line.units),
            str(line.bulk_files),
            gaps,
            str(line.pending),
            str(line.revised),
            str(len(line.corrupt)),
        )
    out = _stdout()
    out.print(table)
    if corrupt:
        for problem in corrupt:
            out.print(f"corrupt: {problem}", soft_wrap=True)  # a path is copied, never wrapped
        out.print(
            f"{len(corrupt)} corrupt or missing partition(s): `gogooku fetch --repair` with "
            "--start/--end covering them fetches their units again",
            soft_wrap=True,
        )
        raise typer.Exit(1)


@store_app.command("derive")
def derive_command() -> None:
    """Write the derived datasets a store fetched before them lacks (the minute bars' daily summary `equities_bars_minute_summary`, which the mb feature block reads), from the stored rows; a re-run derives nothing.

    `gogooku fetch` writes them with every unit it stores and runs this step after its requests, so only a store fetched by an older version needs it.
    """
    raw_dir = get_settings().raw_dir
    if not (raw_dir / CATALOG_FILE).exists():
        _stdout().print(f"raw store {raw_dir} is empty: run gogooku fetch")
        return
    for done in derive(RawStore(raw_dir)):
        _stdout().print(
            f"{done.dataset}: {done.units} unit(s) derived from {done.parent_rows} stored row(s)"
        )
