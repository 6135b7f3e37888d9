"""Where a fetch reads from: the J-Quants V2 API or the synthetic market.

``fetch_from_source`` is what ``gogooku fetch`` and the daily ``gogooku update`` run: for
``jquants`` a :class:`JQuantsClient` with the API key, plan and base URL of the settings (or the
caller's), for ``synthetic`` the market of ``seed`` and ``stocks`` for start..end, generated only
when the store does not already hold it, served in-process to the same client (its oracle is
stored too). ``parse_datasets`` checks a comma-separated list of dataset ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from rich.console import Console

from gogooku.errors import GogookuError
from gogooku.jquants.client import JQuantsClient, jst_today
from gogooku.jquants.derived import derived_of
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.settings import AddOn, Plan, get_settings
from gogooku.store.catalog import UnitRecord
from gogooku.store.fetch import CALENDAR, FetchReport, fetch
from gogooku.store.health import store_problems
from gogooku.store.partition import REPAIR_HINT, CorruptPartitionError
from gogooku.store.raw import ORACLE_DATASET, RawStore
from gogooku.store.synthetic import fetch_synthetic_market, synthetic_label, synthetic_up_to_date


class Source(StrEnum):
    JQUANTS = "jquants"
    SYNTHETIC = "synthetic"


class SourceError(GogookuError, ValueError):
    """The fetch cannot start as asked (no API key, an unknown dataset id, an option of the other
    source); like a usage error it exits 2."""

    exit_code = 2


@dataclass(frozen=True)
class SourceFetch:
    """What a fetch did: ``report`` is None when the synthetic market ``label`` was already
    stored up to the end (nothing generated, no request); ``oracle`` holds the oracle's months of
    a synthetic fetch."""

    source: Source
    report: FetchReport | None
    oracle: list[UnitRecord]
    label: str | None


def parse_datasets(text: str | None) -> list[str] | None:
    """The dataset ids of a comma-separated list (None: all); an unknown id is a SourceError."""
    if text is None:
        return None
    wanted = [d.strip() for d in text.split(",") if d.strip()]
    unknown = [d for d in wanted if d not in ENDPOINTS]
    if unknown or not wanted:
        raise SourceError(
            f"--datasets: unknown dataset(s) {unknown or [text]}; known: {', '.join(ENDPOINTS)}"
        )
    return wanted


def fetched_datasets(store: RawStore, datasets: Sequence[str] | None) -> list[str]:
    """The stored datasets a fetch of ``datasets`` (all when None) touches: their derived
    datasets too, the calendar and the synthetic oracle always."""
    present = store.catalog.datasets()
    if datasets is None:
        return present
    derived = [x.id for d in datasets for x in derived_of(d)]
    return [d for d in (CALENDAR, *datasets, *derived, ORACLE_DATASET) if d in present]


def refuse_corrupt(store: RawStore, datasets: Sequence[str] | None) -> None:
    """Stop before any request when a partition the fetch would keep is corrupt or missing."""
    problems = store_problems(store, fetched_datasets(store, datasets))
    if problems:
        names = "; ".join(str(p) for p in problems)
        raise CorruptPartitionError(f"{names}; {REPAIR_HINT}")


def fetch_from_source(
    store: RawStore,
    source: Source,
    start: dt.date,
    end: dt.date,
    datasets: Sequence[str] | None = None,
    plan: Plan | None = None,
    *,
    base_url: str | None = None,
    seed: int = 7,
    stocks: int = 300,
    market_version: int = 2,
    console: Console | None = None,
    addons: frozenset[AddOn] | None = None,
    bulk: bool = True,
) -> SourceFetch:
    """Fetch into ``store`` what it lacks for start..end from ``source`` (see module doc).

    ``plan`` defaults to JQUANTS_PLAN for jquants and premium for synthetic, ``addons`` to
    JQUANTS_ADDONS for jquants and every add-on for synthetic; ``base_url`` (jquants
    only) to JQUANTS_BASE_URL; ``seed``, ``stocks`` and ``market_version`` (``SynthConfig``)
    fix a synthetic market and name it in the catalog; ``console`` shows progress and what is being generated; ``bulk``
    takes complete months from V2 bulk files where the plan allows (``gogooku.store.bulk``).
    A ``start`` after today (Tokyo) or an ``end`` before ``start`` is a ``SourceError`` naming
    the parameter and the dates, before any request.
    """
    if end < start:
        raise SourceError(f"--end {end} is before --start {start}")
    today = jst_today()
    if start > today:
        raise SourceError(f"--start {start} is after today ({today}): nothing is published yet")
    refuse_corrupt(store, datasets)  # `gogooku fetch --repair` sets such files aside first
    if source is Source.JQUANTS:
        settings = get_settings()
        if settings.jquants_api_key is None:
            raise SourceError(
                "JQUANTS_API_KEY is not set. Export the API key from the J-Quants dashboard "
                "(API Keys), or run with --source synthetic."
            )
        chosen = plan or settings.jquants_plan
        held = settings.jquants_addons if addons is None else addons
        client = JQuantsClient.from_settings(
            settings, plan=chosen, base_url=base_url or settings.jquants_base_url, addons=held
        )
        with client:
            report = fetch(
                store,
                client,
                start,
                end,
                datasets,
                chosen,
                progress=console is not None,
                source="jquants",
                console=console,
                bulk=bulk,
                addons=held,
            )
        return SourceFetch(source, report, [], None)

    if base_url is not None:
        raise SourceError(
            "--base-url applies to --source jquants (a served synthetic market is reached with "
            "--source jquants --base-url URL)"
        )
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market

    chosen = plan or Plan.PREMIUM
    held = frozenset(AddOn) if addons is None else addons
    config = SynthConfig(
        seed=seed, stocks=stocks, start=start, end=end, market_version=market_version
    )
    label = synthetic_label(seed, stocks, start, market_version)
    if synthetic_up_to_date(store, start, end, datasets, chosen, label, held):
        return SourceFetch(source, None, [], label)
    if console is not None:
        console.print(
            f"generating the synthetic market: seed {seed}, {stocks} stocks, {start}..{end}, "
            f"market version {market_version}"
        )
    market = generate_market(config)
    report, oracle = fetch_synthetic_market(
        store,
        market,
        datasets,
        chosen,
        progress=console is not None,
        console=console,
        bulk=bulk,
        addons=held,
    )
    return SourceFetch(source, report, oracle, label)
