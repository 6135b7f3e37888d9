"""The plain types of a fetch: a unit of work, what one dataset's fetch did, the whole report, and
what the orchestration needs from a client (``gogooku.store.fetch`` runs it, ``gogooku.store.bulk``
takes the units bulk files cover)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

import polars as pl

from gogooku.jquants.bulk import BulkEntry


class FetchClient(Protocol):
    """What the orchestration needs from a client (``JQuantsClient`` provides it)."""

    @property
    def requests_made(self) -> int: ...

    def pacing_delay(self, path: str = "") -> float: ...

    def fetch(self, dataset_id: str, **params: object) -> pl.DataFrame: ...

    def td_bulk(self) -> tuple[dt.datetime, pl.DataFrame]: ...

    def bulk_list(
        self, dataset_id: str, from_: dt.date | None = None, to: dt.date | None = None
    ) -> list[BulkEntry]: ...

    def fetch_bulk(self, dataset_id: str, entry: BulkEntry) -> pl.DataFrame: ...


@dataclass(frozen=True)
class Unit:
    """One request's worth of a dataset: its key, query parameters and covered period."""

    dataset: str
    key: str
    params: dict[str, str]
    start: dt.date
    end: dt.date


@dataclass
class DatasetResult:
    """What ``fetch`` did for one dataset."""

    dataset: str
    planned: int = 0
    fetched: int = 0
    rows: int = 0
    requests: int = 0
    bulk_files: int = 0
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class FetchReport:
    results: dict[str, DatasetResult] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.results.values())

    @property
    def fetched(self) -> int:
        return sum(r.fetched for r in self.results.values())

    @property
    def messages(self) -> list[str]:
        out = [f"{r.dataset}: skipped: {r.skipped}" for r in self.results.values() if r.skipped]
        out += [f"{r.dataset}: {note}" for r in self.results.values() for note in r.notes]
        return out
