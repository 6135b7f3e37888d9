"""``gogooku fetch`` and ``gogooku store status``."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.logs import console
from gogooku.settings import Plan, get_settings
from gogooku.store.fetch import FetchReport, SourceMismatchError, fetch
from gogooku.store.raw import CATALOG_FILE, RawStore
from gogooku.store.status import store_status
from gogooku.store.synthetic import fetch_synthetic_market, synthetic_label, synthetic_up_to_date

store_app = typer.Typer(
    name="store", help="Inspect the raw store ($GOGOOKU_HOME/raw).", no_args_is_help=True
)


class Source(StrEnum):
    JQUANTS = "jquants"
    SYNTHETIC = "synthetic"


def _parse_date(option: str, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date YYYY-MM-DD", param_hint=option) from None


def _parse_datasets(text: str | None) -> list[str] | None:
    if text is None:
        return None
    wanted = [d.strip() for d in text.split(",") if d.strip()]
    unknown = [d for d in wanted if d not in ENDPOINTS]
    if unknown or not wanted:
        raise typer.BadParameter(
            f"unknown dataset(s) {unknown or [text]}; known: {', '.join(ENDPOINTS)}",
            param_hint="--datasets",
        )
    return wanted


def _stdout() -> Console:
    """Console on stdout; wide enough off a terminal that table cells are not truncated."""
    out = Console()
    return out if out.is_terminal else Console(width=160)


def _print_report(report: FetchReport) -> None:
    table = Table(title="fetch")
    for column in ("dataset", "units fetched", "rows", "requests", "note"):
        table.add_column(column, justify="left" if column in ("dataset", "note") else "right")
    for result in report.results.values():
        note = f"skipped: {result.skipped}" if result.skipped else "; ".join(result.notes)
        table.add_row(
            result.dataset, str(result.fetched), str(result.rows), str(result.requests), note
        )
    out = _stdout()
    out.print(table)
    out.print(f"requests made: {report.requests}")


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
) -> None:
    """Fetch into the raw store what it lacks for start..end; a re-run is a no-op.

    Requests one unit at a time (a trading day of the stored calendar for daily datasets, a month for range datasets, today for latest-only ones), only units missing from the catalog, left pending by an interrupted run, grown since (a month chunk whose end moved), or not yet settled: a unit fetched before 09:00 JST of the day after it ends is fetched again on the next run, so revisions replace it. Safe to interrupt at any point: the next run resumes.
    """
    try:
        _fetch(start, end, datasets, plan, source, base_url, seed, stocks)
    except SourceMismatchError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


def _fetch(
    start: str,
    end: str,
    datasets: str | None,
    plan: Plan | None,
    source: Source,
    base_url: str | None,
    seed: int,
    stocks: int,
) -> None:
    first, last = _parse_date("--start", start), _parse_date("--end", end)
    if last < first:
        raise typer.BadParameter(f"--end {last} is before --start {first}", param_hint="--end")
    wanted = _parse_datasets(datasets)
    settings = get_settings()
    store = RawStore(settings.raw_dir)

    if source is Source.JQUANTS:
        if settings.jquants_api_key is None:
            console.print(
                "[red]JQUANTS_API_KEY is not set.[/] Export the API key from the J-Quants "
                "dashboard (API Keys), or run with --source synthetic."
            )
            raise typer.Exit(2)
        chosen = plan or settings.jquants_plan
        client = JQuantsClient(
            settings.jquants_api_key.get_secret_value(),
            plan=chosen,
            base_url=base_url or settings.jquants_base_url,
        )
        with client:
            report = fetch(
                store,
                client,
                first,
                last,
                wanted,
                chosen,
                progress=True,
                source="jquants",
                console=console,
            )
        _print_report(report)
        return

    if base_url is not None:
        raise typer.BadParameter(
            "--base-url applies to --source jquants (a served synthetic market is reached with "
            "--source jquants --base-url URL)",
            param_hint="--base-url",
        )
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market

    chosen = plan or Plan.PREMIUM
    label = synthetic_label(seed, stocks, first)
    if synthetic_up_to_date(store, first, last, wanted, chosen, label):
        _stdout().print(
            f"the store already holds every unit and the oracle of {label} up to {last}: "
            "nothing to generate\nrequests made: 0"
        )
        return
    console.print(f"generating the synthetic market: seed {seed}, {stocks} stocks, {first}..{last}")
    market = generate_market(SynthConfig(seed=seed, stocks=stocks, start=first, end=last))
    report, oracle = fetch_synthetic_market(store, market, wanted, chosen, console=console)
    _print_report(report)
    _stdout().print(f"oracle: {sum(r.rows or 0 for r in oracle)} rows in {len(oracle)} month(s)")


@store_app.command("status")
def status_command() -> None:
    """Per dataset: first/last date, rows, units, gaps and pending (interrupted) units.

    Gaps are trading days of the stored calendar between a day-by-day dataset's first and last fetched day that have no unit ("-" for month-range and latest-only datasets).
    """
    raw_dir = get_settings().raw_dir
    if not (raw_dir / CATALOG_FILE).exists():
        _stdout().print(f"raw store {raw_dir} is empty: run gogooku fetch")
        return
    store = RawStore(raw_dir)
    lines = store_status(store)
    table = Table(title=f"raw store {store.root}")
    for column in ("dataset", "mode", "first", "last", "rows", "units", "gaps", "pending"):
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
            str(line.first or "-"),
            str(line.last or "-"),
            str(line.rows),
            str(line.units),
            gaps,
            str(line.pending),
        )
    _stdout().print(table)
