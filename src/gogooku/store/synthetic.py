"""``gogooku fetch --source synthetic``: the real client, in process, against the synthetic market.

The market (``gogooku.synth``) is served by its V2 app through ``httpx``'s ASGI transport, so the
rows reach the store by the same pagination, parsing and unit bookkeeping as from J-Quants; its
oracle is written next to them (``raw/synthetic_oracle/``). A store holds one synthetic market,
named by ``synthetic_label`` (seed, size, start, market version); a longer ``end`` grows it (the generator is
prefix-stable), and ``synthetic_up_to_date`` lets a re-run skip generating the market at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl
from rich.console import Console

from gogooku.calendar import published_through
from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.transport import ASGISyncTransport
from gogooku.settings import AddOn, Plan
from gogooku.store.catalog import UnitRecord
from gogooku.store.fetch import CALENDAR, FetchReport, fetch, trading_days, units_to_fetch
from gogooku.store.raw import ORACLE_DATASET, RawStore
from gogooku.synth.request_log import RequestLog

if TYPE_CHECKING:
    from gogooku.synth.market import SyntheticMarket

SYNTHETIC_API_KEY = "synthetic-local-key"
SYNTHETIC_BASE_URL = "http://synthetic.local/v2"


def synthetic_label(seed: int, stocks: int, start: dt.date, market_version: int = 2) -> str:
    """The catalog ``source`` of a synthetic market: what fixes it apart from its end.

    Version 1 keeps the label of the releases before market versions existed, so a store
    fetched then stays up to date; later versions append ``,version=N``.
    """
    base = f"synthetic(seed={seed},stocks={stocks},start={start}"
    return f"{base})" if market_version == 1 else f"{base},version={market_version})"


def synthetic_up_to_date(
    store: RawStore,
    first: dt.date,
    last: dt.date,
    datasets: Sequence[str] | None,
    plan: Plan,
    label: str,
    addons: frozenset[AddOn] = frozenset(),
) -> bool:
    """True when a synthetic fetch of first..last would request nothing and write no oracle row.

    Decided from the stored calendar and catalog only, so a re-run skips generating the market:
    the stored calendar must reach ``last``, ``units_to_fetch`` must be empty for the market's
    "today" (its last trading day, as the service counts it), and every month of trading days up
    to it must hold a committed oracle unit reaching that month's last trading day.
    """
    calendar = store.scan(CALENDAR).filter(pl.col("Date").is_between(first, last)).collect()
    if calendar.is_empty() or calendar.get_column("Date").max() < last:
        return False
    days = trading_days(store, first, last)
    if not days:
        return False
    due = units_to_fetch(
        store,
        first,
        last,
        datasets,
        plan,
        source=label,
        today=days[-1],
        source_end=published_through(days[-1]),
        addons=addons,
    )
    if due:
        return False
    month_ends = {day.strftime("%Y-%m"): day for day in days}
    oracle = {r.unit_key: r for r in store.catalog.units(ORACLE_DATASET)}
    return all(
        key in oracle
        and oracle[key].committed
        and oracle[key].unit_end is not None
        and oracle[key].unit_end >= month_end
        for key, month_end in month_ends.items()
    )


def fetch_synthetic_market(
    store: RawStore,
    market: SyntheticMarket,
    datasets: Sequence[str] | None = None,
    plan: Plan = Plan.PREMIUM,
    *,
    progress: bool = True,
    console: Console | None = None,
    bulk: bool = False,
    addons: frozenset[AddOn] = frozenset(AddOn),
    log: RequestLog | None = None,
) -> tuple[FetchReport, list[UnitRecord]]:
    """Fetch ``market`` over its whole period into ``store`` and write its oracle.

    Returns the fetch report and the oracle's month units. The market's "today" is its last bar
    date: plan windows and the latest-only datasets are counted from it on both sides of the
    in-process connection; the calendar's month chunks stop where the market's published calendar
    does (31 December of the year after its last trading day). ``bulk`` takes complete months from
    the service's bulk files, as from J-Quants. ``log`` (``gogooku.synth.request_log``) records
    every request the app receives.
    """
    from gogooku.synth.api import create_app

    config = market.config
    label = synthetic_label(config.seed, config.stocks, config.start, config.market_version)
    app = create_app(market, api_key=SYNTHETIC_API_KEY, plan=plan, rate_limit=False, addons=addons)
    today = app.state.service.today
    client = JQuantsClient(
        SYNTHETIC_API_KEY,
        plan=plan,
        base_url=SYNTHETIC_BASE_URL,
        transport=ASGISyncTransport(app if log is None else log.wrap(app)),
        pacing=False,
        today=today,
        addons=addons,
    )
    with client:
        report = fetch(
            store,
            client,
            config.start,
            config.end,
            datasets,
            plan,
            progress=progress,
            source=label,
            today=today,
            source_end=market.state.calendar["Date"].max(),
            console=console,
            bulk=bulk,
            addons=addons,
        )
    return report, store.write_oracle(market.oracle, source=label)
