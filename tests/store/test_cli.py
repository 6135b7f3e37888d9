"""``gogooku fetch`` and ``gogooku store status`` through Typer's CliRunner."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.httpserver import background_server
from gogooku.jquants.client import jst_today
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.settings import Plan, get_settings
from gogooku.store.fetch import JST, fetch, settle_time
from gogooku.store.raw import RawStore, content_hash
from gogooku.store.sources import Source, SourceError, fetch_from_source
from gogooku.store.status import dataset_status

from .conftest import API_KEY, SETTLED, TinyV2, make_client, market_tables, typed

D = dt.date
runner = CliRunner()
GAP_DAYS = [
    D(2024, 1, 11),
    D(2024, 1, 12),
    D(2024, 1, 15),
    D(2024, 1, 16),
    D(2024, 1, 17),
    D(2024, 1, 18),
    D(2024, 1, 19),
]


def _store_with_a_gap(service: TinyV2) -> RawStore:
    store = RawStore(get_settings().raw_dir)
    with make_client(service) as client:
        for start, end in ((D(2024, 1, 4), D(2024, 1, 10)), (D(2024, 1, 22), D(2024, 1, 31))):
            fetch(
                store,
                client,
                start,
                end,
                ["equities_bars_daily"],
                Plan.PREMIUM,
                progress=False,
                clock=lambda: SETTLED,
            )
    return store


def test_dataset_status_counts_rows_units_and_gaps():
    store = _store_with_a_gap(TinyV2(market_tables()))
    status = dataset_status(store, "equities_bars_daily")
    # 4 days (4, 5, 9, 10 Jan) + 8 days (22-26, 29-31 Jan), 3 codes each.
    assert (status.units, status.rows, status.pending) == (12, 36, 0)
    assert (status.first, status.last) == (D(2024, 1, 4), D(2024, 1, 31))
    assert status.gaps == GAP_DAYS
    calendar = dataset_status(store, "markets_calendar")
    # Month units through the end of 2025 (published ahead of a January 2024 fetch); the service
    # holds January and February.
    assert (calendar.fetch_mode, calendar.units, calendar.rows, calendar.gaps) == (
        "range",
        24,
        60,
        None,
    )


def test_store_status_table():
    _store_with_a_gap(TinyV2(market_tables()))
    result = runner.invoke(app, ["store", "status"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "equities_bars_daily" in x)
    cells = [c.strip() for c in line.strip("│┃ ").split("│")]
    assert cells == [
        "equities_bars_daily",
        "date",
        "-",  # coverage from: only the plan's window limits it
        "2024-01-04",
        "2024-01-31",
        "36",
        "12",
        "0",  # bulk (files downloaded)
        "7 (2024-01-11, 2024-01-12, 2024-01-15, ...)",
        "0",  # pending
        "0",  # revised
        "0",  # corrupt
    ]


def test_store_status_on_an_empty_home_creates_nothing():
    result = runner.invoke(app, ["store", "status"])
    assert result.exit_code == 0
    assert "is empty: run gogooku fetch" in result.output
    assert not get_settings().raw_dir.exists()


def test_fetch_jquants_source_needs_a_key():
    result = runner.invoke(app, ["fetch", "--start", "2024-01-04", "--end", "2024-01-10"])
    assert result.exit_code == 2
    assert "JQUANTS_API_KEY is not set" in result.output


def test_fetch_rejects_bad_arguments():
    bad_date = runner.invoke(app, ["fetch", "--start", "2024-13-01", "--end", "2024-01-10"])
    assert bad_date.exit_code == 2 and "'2024-13-01' is not a date" in bad_date.output
    bad_set = runner.invoke(
        app,
        [
            "fetch",
            "--start",
            "2024-01-04",
            "--end",
            "2024-01-10",
            "--datasets",
            "equities_bars_daily,bars",
        ],
    )
    assert bad_set.exit_code == 2 and "unknown dataset(s) ['bars']" in bad_set.output


def test_fetch_over_loopback_http_then_rerun_is_a_no_op(monkeypatch):
    service = TinyV2(market_tables())
    monkeypatch.setenv("JQUANTS_API_KEY", API_KEY)
    args = [
        "fetch",
        "--start",
        "2024-01-04",
        "--end",
        "2024-01-10",
        "--plan",
        "premium",
        "--datasets",
        "equities_bars_daily,indices_topix",
        "--no-bulk",  # the tiny service has no bulk files
    ]
    with background_server(service.app) as url:
        first = runner.invoke(app, [*args, "--base-url", f"{url}/v2"])
        assert first.exit_code == 0, first.output
        served = len(service.requests)
        second = runner.invoke(app, [*args, "--base-url", f"{url}/v2"])
    assert second.exit_code == 0, second.output
    # Calendar 24 months (through the end of 2025, published ahead) + TOPIX January 10 pages +
    # 4 trading days x 2 pages of bars.
    assert served == 24 + 10 + 8
    assert len(service.requests) == served
    assert "requests made: 0" in second.output

    store = RawStore(get_settings().raw_dir)
    bars = service.tables["equities_bars_daily"].filter(
        pl.col("Date").is_between(D(2024, 1, 4), D(2024, 1, 10))
    )
    assert content_hash(store.scan("equities_bars_daily").collect()) == content_hash(bars)
    assert store.verify("equities_bars_daily") == []


def test_cli_refetch_replaces_a_revised_unsettled_day_without_duplicates(monkeypatch):
    """The CLI runs on the real clock: a day is not settled until 09:00 JST on the next day, so a
    second run fetches the last day (and before 09:00 JST the one before) again and the revision
    replaces it. The service calls every day a business day so that this holds on any weekday."""
    today = dt.datetime.now(JST).date()
    days = [today - dt.timedelta(days=n) for n in range(4, -1, -1)]
    calendar = pl.DataFrame(
        {"Date": days, "HolDiv": ["1"] * len(days)}, schema=ENDPOINTS["markets_calendar"].schema
    )
    bars = typed(
        "equities_bars_daily",
        {
            "Date": [d for d in days for _ in range(3)],
            "Code": ["13010", "130A0", "72030"] * len(days),
            "C": [100.0 + i for i in range(3 * len(days))],
        },
    )
    service = TinyV2({"markets_calendar": calendar, "equities_bars_daily": bars})
    monkeypatch.setenv("JQUANTS_API_KEY", API_KEY)
    args = ["fetch", "--start", days[0].isoformat(), "--end", today.isoformat(), "--plan"]
    args += ["premium", "--datasets", "equities_bars_daily"]
    with background_server(service.app) as url:
        fetched_at = dt.datetime.now(dt.UTC)
        first = runner.invoke(app, [*args, "--base-url", f"{url}/v2"])
        assert first.exit_code == 0, first.output
        revised = bars.with_columns(
            pl.when(pl.col("Date").is_in([today, days[1]]))
            .then(pl.col("C") * 2)
            .otherwise(pl.col("C"))
            .alias("C")
        )
        service.tables["equities_bars_daily"] = revised
        service.requests.clear()
        second = runner.invoke(app, [*args, "--base-url", f"{url}/v2"])
    assert second.exit_code == 0, second.output
    # Only the days not settled at the first run come again: today, and yesterday before 09:00 JST.
    unsettled = [d for d in days if settle_time(d) > fetched_at]
    assert today in unsettled and days[0] not in unsettled
    assert {p["date"] for p in service.paths("equities_bars_daily")} == {
        d.isoformat() for d in unsettled
    }
    stored = RawStore(get_settings().raw_dir).scan("equities_bars_daily").collect()
    assert stored.height == bars.height
    # Settled days keep the values fetched first; the re-fetched days hold the revision.
    expected = bars.filter(~pl.col("Date").is_in(unsettled)).vstack(
        revised.filter(pl.col("Date").is_in(unsettled))
    )
    assert content_hash(stored) == content_hash(expected)


def test_fetch_into_a_store_of_another_source_is_refused_cleanly():
    store = RawStore(get_settings().raw_dir)
    with make_client(TinyV2(market_tables())) as client:
        fetch(
            store,
            client,
            D(2024, 1, 4),
            D(2024, 1, 10),
            ["indices_topix"],
            Plan.PREMIUM,
            progress=False,
            clock=lambda: SETTLED,
        )
    args = ["fetch", "--source", "synthetic", "--start", "2024-01-01", "--end", "2024-01-31"]
    result = runner.invoke(app, [*args, "--stocks", "20"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    message = " ".join(result.output.split())
    assert "holds data from ['jquants'], this fetch is from 'synthetic(seed=7,stocks=20," in message
    assert "Traceback" not in result.output


@pytest.mark.parametrize("source", list(Source))
def test_fetch_from_source_refuses_a_start_after_today_before_any_request(tmp_path, source):
    today = jst_today()
    future = today + dt.timedelta(days=1)
    store = RawStore(tmp_path / "raw")
    with pytest.raises(SourceError) as refused:
        fetch_from_source(store, source, future, future + dt.timedelta(days=30))
    assert str(refused.value) == (
        f"--start {future} is after today ({today}): nothing is published yet"
    )
    assert store.catalog.datasets() == []  # refused before any request


def test_fetch_refuses_a_start_after_today_and_a_too_small_synthetic_market():
    future = str(dt.date.today() + dt.timedelta(days=400))
    args = ["fetch", "--source", "synthetic", "--start", future, "--end", future]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{future} is after today" in " ".join(result.output.split())
    args = ["fetch", "--source", "synthetic", "--start", "2020-01-01", "--end", "2020-03-31"]
    result = runner.invoke(app, [*args, "--stocks", "5"])
    assert result.exit_code == 2  # a parameter out of range, like a usage error
    # the config is checked before anything is fetched or printed
    assert result.output == "fetch failed: SynthConfig.stocks must be >= 20, got 5\n"
    result = runner.invoke(app, [*args, "--market-version", "3"])
    assert result.exit_code == 2
    assert (
        result.output == "fetch failed: SynthConfig.market_version must be one of (1, 2), got 3\n"
    )


def test_store_status_names_a_corrupt_catalog():
    catalog = get_settings().raw_dir / "catalog.sqlite"
    catalog.parent.mkdir(parents=True)
    catalog.write_bytes(b"not sqlite" * 100)
    result = runner.invoke(app, ["store", "status"])
    assert result.exit_code == 1
    assert result.output.startswith(f"store status failed: {catalog}: not a readable catalog")
