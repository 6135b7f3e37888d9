"""Bulk backfill in ``gogooku fetch``: complete months from bulk files, the tail paged, resumable,
corrections re-downloaded, bad files refused, identical partitions to a paged fetch."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.httpserver import background_server
from gogooku.jquants.bulk import BulkEntry, BulkFileError, key_month, verify
from gogooku.jquants.bulkfile import bulk_key
from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.jquants.transport import ASGISyncTransport
from gogooku.settings import AddOn, Plan
from gogooku.store.bulk import MANIFEST_FILE
from gogooku.store.fetch import fetch
from gogooku.store.raw import RawStore
from gogooku.synth.api import create_app
from gogooku.synth.config import SynthConfig
from gogooku.synth.market import generate_market
from gogooku.synth.request_log import RequestLog

D = dt.date
START, END = D(2024, 1, 1), D(2024, 3, 8)
DATASETS = ["equities_bars_daily", "indices_topix"]
BARS = "equities_bars_daily"
runner = CliRunner()


@pytest.fixture(scope="module")
def market():
    return generate_market(SynthConfig(seed=11, stocks=20, start=START, end=END))


def served(market, plan: Plan, today: dt.date | None = None) -> RequestLog:
    return RequestLog(create_app(market, api_key="k", plan=plan, rate_limit=False, today=today))


def tail_days(market) -> int:
    calendar = market.tables["markets_calendar"]
    open_days = calendar.filter(
        pl.col("HolDiv").is_in(["1", "2"]), pl.col("Date").is_between(D(2024, 3, 1), END)
    )
    return open_days.height


def cli_fetch(url: str, plan: Plan, *extra: str):
    args = ["fetch", "--start", "2024-01-01", "--end", str(END), "--plan", plan.value]
    args += ["--datasets", ",".join(DATASETS), "--base-url", f"{url}/v2", *extra]
    return runner.invoke(app, args)


def cli_on_market_day(monkeypatch) -> None:
    """The CLI fetches on the market's last day (its "today"), unpaced: the plan's pace would
    only add waiting (requests are counted instead)."""
    monkeypatch.setenv("JQUANTS_API_KEY", "k")
    monkeypatch.setattr("gogooku.jquants.client.jst_today", lambda: END)
    after_close = dt.datetime(2024, 3, 8, 12, tzinfo=dt.UTC)
    monkeypatch.setattr(
        "gogooku.store.sources.fetch", partial(fetch, today=END, clock=lambda: after_close)
    )
    from_settings = JQuantsClient.from_settings.__func__
    monkeypatch.setattr(
        JQuantsClient,
        "from_settings",
        classmethod(lambda cls, settings, **kw: from_settings(cls, settings, pacing=False, **kw)),
    )


@contextmanager
def home(monkeypatch, root: Path):
    monkeypatch.setenv("GOGOOKU_HOME", str(root))
    yield RawStore(root / "raw")


def partitions(store: RawStore, dataset: str) -> dict[str, pl.DataFrame]:
    return {p.name: pl.read_parquet(p).drop("_fetched_at") for p in store.partitions(dataset)}


def in_process(
    market, store: RawStore, plan: Plan, wrapped: RequestLog, client_cls=JQuantsClient, bulk=True
):
    today = wrapped.state.service.today
    client = client_cls(
        "k",
        plan=plan,
        base_url="http://synthetic.local/v2",
        transport=ASGISyncTransport(wrapped),
        pacing=False,
        today=today,
    )
    with client:
        return fetch(
            store, client, START, END, DATASETS, plan, progress=False, today=today, bulk=bulk
        )


@pytest.mark.parametrize("plan", [Plan.STANDARD, Plan.PREMIUM])
def test_cli_backfills_complete_months_from_bulk_and_pages_the_tail(
    market, monkeypatch, tmp_path, plan
):
    cli_on_market_day(monkeypatch)
    server = served(market, plan)
    with background_server(server) as url, home(monkeypatch, tmp_path / "a") as store:
        result = cli_fetch(url, plan)
    assert result.exit_code == 0, result.output
    counts = server.counts()
    # One listing per dataset (calendar, bars, TOPIX), one URL and one download per complete month
    # (January, February) and dataset; March is paged: a page per trading day of bars, one TOPIX
    # range, and the calendar's months ahead (March 2024 to December 2025).
    assert counts["/bulk/list"] == 3
    assert counts["/bulk/get"] == counts["/bulk-files/"] == 6
    assert counts["/equities/bars/daily"] == tail_days(market)
    assert counts["/indices/bars/daily/topix"] == 1
    assert counts["/markets/calendar"] == 22
    manifest = json.loads((store.dataset_dir(BARS) / MANIFEST_FILE).read_text())
    assert sorted(manifest) == [bulk_key(BARS, 2024, m) for m in (1, 2)]
    assert all(entry["how"] == "downloaded" and entry["rows"] > 0 for entry in manifest.values())
    assert store.verify(BARS) == []
    with home(monkeypatch, tmp_path / "a"):
        status = runner.invoke(app, ["store", "status", "--json"])
    bars = next(line for line in json.loads(status.output) if line["dataset"] == BARS)
    # Every trading day is a unit, bulk-stored or paged: no gap, two files downloaded.
    assert bars["gaps"] == [] and bars["bulk_files"] == 2 and bars["pending"] == 0
    assert bars["units"] == len(store.catalog.units(BARS)) > tail_days(market)


def test_premium_bulk_and_paging_store_the_same_partitions(market, tmp_path):
    stores = {}
    for bulk in (True, False):
        server = served(market, Plan.PREMIUM)
        store = RawStore(tmp_path / str(bulk))
        in_process(market, store, Plan.PREMIUM, server, bulk=bulk)
        stores[bulk] = (store, server.counts())
    (ours, counts), (paged, paged_counts) = stores[True], stores[False]
    assert counts["/bulk-files/"] == 6 and "/bulk/list" not in paged_counts
    assert counts["/equities/bars/daily"] == tail_days(market)
    assert paged_counts["/equities/bars/daily"] > 3 * tail_days(market)
    for dataset in ["markets_calendar", *DATASETS]:
        mine, theirs = partitions(ours, dataset), partitions(paged, dataset)
        assert list(mine) == list(theirs) and mine, dataset
        for name in mine:
            assert_frame_equal(mine[name], theirs[name])
        assert units(ours, dataset) == units(paged, dataset)


def units(store: RawStore, dataset: str) -> set[tuple]:
    return {
        (r.unit_key, r.rows, r.content_hash, json.dumps(r.query), r.unit_start, r.unit_end)
        for r in store.catalog.units(dataset)
    }


class Interrupted(JQuantsClient):
    """Stops the run (as a kill would) at the ``stop_at``-th download."""

    stop_at = 2

    def download(self, url: str) -> bytes:
        if self.downloads + 1 == self.stop_at:
            raise KeyboardInterrupt
        return super().download(url)


def test_an_interrupted_backfill_resumes_with_the_missing_files_only(market, tmp_path):
    store = RawStore(tmp_path / "raw")
    first = served(market, Plan.STANDARD)
    with pytest.raises(KeyboardInterrupt):
        in_process(market, store, Plan.STANDARD, first, Interrupted)
    calendar_files = first.counts()["/bulk-files/"]
    assert calendar_files == 1  # the calendar's January; its February download was cut off
    again = served(market, Plan.STANDARD)
    report = in_process(market, store, Plan.STANDARD, again)
    downloaded = [p for p in again.paths if p.startswith("/bulk-files/")]
    assert len(downloaded) == 5 and not any("202401" in p and "calendar" in p for p in downloaded)
    assert report.results["markets_calendar"].bulk_files == 1
    reference = RawStore(tmp_path / "reference")
    in_process(market, reference, Plan.STANDARD, served(market, Plan.STANDARD))
    for dataset in ["markets_calendar", *DATASETS]:
        assert partitions(store, dataset).keys() == partitions(reference, dataset).keys()
        for name, frame in partitions(store, dataset).items():
            assert_frame_equal(frame, partitions(reference, dataset)[name])


def test_a_corrected_file_alone_is_downloaded_again_and_keeps_the_old_rows(market, tmp_path):
    store = RawStore(tmp_path / "raw")
    server = served(market, Plan.STANDARD)
    in_process(market, store, Plan.STANDARD, server)
    bars = market.tables[BARS]
    fixed = bars.with_columns(
        pl.when((pl.col("Date") == D(2024, 2, 15)) & (pl.col("Code") == bars["Code"][0]))
        .then(pl.col("C") + 1.0)
        .otherwise(pl.col("C"))
        .alias("C")
    )
    changed = server.state.bulk.correct(BARS, fixed, dt.datetime(2024, 3, 9, 9, tzinfo=dt.UTC))
    assert changed == [bulk_key(BARS, 2024, 2)]
    last_day = max(r.unit_key for r in store.catalog.units(BARS))
    store.remove_units(BARS, [last_day])  # the next daily run's due day
    server.requests.clear()
    report = in_process(market, store, Plan.STANDARD, server)
    downloads = [p for p in server.paths if p.startswith("/bulk-files/")]
    assert len(downloads) == 1 and "equities_bars_daily_202402" in downloads[0]
    assert report.results[BARS].bulk_files == 1
    assert store.vintage_rows(BARS) == 1
    manifest = json.loads((store.dataset_dir(BARS) / MANIFEST_FILE).read_text())
    assert manifest[bulk_key(BARS, 2024, 2)]["LastModified"] == "2024-03-09T09:00:00Z"


def test_a_bad_file_stops_the_fetch_naming_its_key_and_stores_nothing_of_it(
    market, monkeypatch, tmp_path
):
    cli_on_market_day(monkeypatch)
    server = served(market, Plan.STANDARD)
    bulk = server.state.bulk
    key = bulk_key(BARS, 2024, 2)
    data = bulk.content(bulk.files[key])
    bulk._content[(key, bulk.files[key].last)] = data[:-20]  # cut short, its Size listed to match
    with background_server(server) as url, home(monkeypatch, tmp_path / "a") as store:
        result = cli_fetch(url, Plan.STANDARD)
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = [x for x in result.output.splitlines() if "failed" in x]
    assert line.startswith(f"fetch failed: bulk file {key} (equities_bars_daily): not a complete")
    assert "nothing stored" in line and "--no-bulk" in line
    stored = {r.unit_key[:7] for r in store.catalog.units(BARS)}
    assert stored == {"2024-01"}
    manifest = json.loads((store.dataset_dir(BARS) / MANIFEST_FILE).read_text())
    assert list(manifest) == [bulk_key(BARS, 2024, 1)]


def test_free_plan_takes_only_the_calendar_from_bulk(market, tmp_path):
    store = RawStore(tmp_path / "raw")
    # Free sees two years ending 12 weeks before today: a later today puts the market inside it.
    today = D(2024, 5, 31)
    server = served(market, Plan.FREE, today)
    client = JQuantsClient(
        "k",
        plan=Plan.FREE,
        base_url="http://synthetic.local/v2",
        transport=ASGISyncTransport(server),
        pacing=False,
        today=today,
    )
    with client:
        report = fetch(
            store, client, START, END, [BARS], Plan.FREE, progress=False, today=today, bulk=True
        )
    listed = [p for p in server.paths if p == "/bulk/list"]
    assert len(listed) == 1 and report.results[BARS].bulk_files == 0
    assert report.results["markets_calendar"].bulk_files >= 2
    assert report.results[BARS].requests == report.results[BARS].fetched > 0


def _entry(data: bytes, key: str = bulk_key(BARS, 2024, 2), size: int | None = None) -> BulkEntry:
    return BulkEntry(key, "2024-03-01T09:00:00Z", len(data) if size is None else size)


def test_verify_names_the_key_and_the_failed_check(market):
    bulk = served(market, Plan.STANDARD).state.bulk
    key = bulk_key(BARS, 2024, 2)
    good = bulk.content(bulk.files[key])
    assert verify(BARS, _entry(good), good).height == bulk.rows(bulk.files[key]).height > 0
    header, body = gzip.decompress(good).split(b"\n", 1)
    swapped = header.replace(b"Date,Code", b"Code,Date") + b"\n" + body
    cases = {
        "bytes downloaded, the listing says Size": (good, len(good) + 1),
        "not a complete gzip stream": (good[:-8], None),
        "is not the V2 field order": (gzip.compress(swapped), None),
        "no rows": (gzip.compress(header + b"\n"), None),
    }
    for what, (data, size) in cases.items():
        with pytest.raises(BulkFileError, match=f"bulk file {key} .*{what}"):
            verify(BARS, _entry(data, size=size), data)
    with pytest.raises(BulkFileError, match="outside 2024-01"):
        verify(BARS, _entry(good, key=bulk_key(BARS, 2024, 1)), good)


class DailyKeys(JQuantsClient):
    """Lists a per-day file of the current month too (the real key pattern is unknown)."""

    def bulk_list(self, dataset_id, from_=None, to=None):
        day = BulkEntry(bulk_key(dataset_id, 2024, 3).replace("202403", "20240305"), "x", 10)
        return [*super().bulk_list(dataset_id, from_, to), day]


def test_a_listed_file_of_another_key_pattern_is_left_to_paging(market, tmp_path):
    store = RawStore(tmp_path / "raw")
    server = served(market, Plan.STANDARD)
    report = in_process(market, store, Plan.STANDARD, server, DailyKeys)
    assert not any("20240305" in p for p in server.paths)
    assert report.results[BARS].bulk_files == 2
    assert server.counts()["/equities/bars/daily"] == tail_days(market)


@settings(max_examples=40, deadline=None)
@given(st.integers(2000, 2099), st.integers(1, 12), st.sampled_from(sorted(ENDPOINTS)))
def test_the_month_read_from_a_key_is_the_month_it_was_written_for(year, month, dataset):
    first, last = key_month(bulk_key(dataset, year, month))
    assert (first.year, first.month, first.day) == (year, month, 1)
    assert last.month == month and (last + dt.timedelta(days=1)).day == 1


def test_cli_fetches_ticks_from_their_monthly_bulk_files_only(market, monkeypatch, tmp_path):
    ticks = "equities_trades"
    cli_on_market_day(monkeypatch)
    server = RequestLog(
        create_app(market, api_key="k", plan=Plan.LIGHT, rate_limit=False, addons={AddOn.MINUTE})
    )
    args = ["fetch", "--start", "2024-01-01", "--end", str(END), "--plan", "light"]
    args += ["--datasets", ticks, "--addons", "minute"]
    with background_server(server) as url, home(monkeypatch, tmp_path / "a") as store:
        result = runner.invoke(app, [*args, "--base-url", f"{url}/v2"])
        no_bulk = runner.invoke(app, [*args, "--base-url", f"{url}/v2", "--no-bulk"])
        status = runner.invoke(app, ["store", "status", "--json"])
    assert result.exit_code == 0, result.output
    counts = server.counts()
    assert "/equities/trades" not in counts  # no API call exists: only files
    # Calendar and ticks: one listing each, January's and February's files each; March is in
    # no complete file yet, so its days are reported and not fetched.
    assert counts["/bulk/list"] == 2 and counts["/bulk-files/"] == 4
    assert "not fetched" in result.output
    served_ticks = server.state.service.tables[ticks].between(START, D(2024, 2, 29))
    stored = store.scan(ticks).collect()
    assert stored.height == served_ticks.height > 1000
    key = list(ENDPOINTS[ticks].key)
    assert_frame_equal(stored.select(served_ticks.columns).sort(key), served_ticks.sort(key))
    line = next(x for x in json.loads(status.output) if x["dataset"] == ticks)
    assert line["bulk_files"] == 2 and line["gaps"] == [] and line["last"] == "2024-02-29"
    assert no_bulk.exit_code == 0 and "bulk files only" in no_bulk.output
    assert server.counts()["/bulk/list"] == 2  # --no-bulk lists nothing
