"""End to end against the synthetic market: ``gogooku fetch --source synthetic`` through the CLI,
and a fetch from the synthetic V2 service served on a real 127.0.0.1 socket."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.httpserver import background_server
from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.settings import Plan, get_settings
from gogooku.store.fetch import fetch
from gogooku.store.raw import RawStore, content_hash
from gogooku.synth.api import Faults, create_app
from gogooku.synth.config import SynthConfig
from gogooku.synth.market import generate_market

D = dt.date
START, END = D(2024, 1, 1), D(2024, 3, 31)
CALENDAR_END = D(2025, 12, 31)  # the calendar published ahead of a 2024 market
# Datasets whose rows a date/range query returns exactly as the market table holds them.
PLAIN = [
    "markets_calendar",
    "equities_bars_daily",
    "indices_topix",
    "options_225",
    "markets_short_sale_report",
    "markets_short_ratio",
]


@pytest.fixture(scope="module")
def market():
    return generate_market(SynthConfig(seed=7, stocks=30, start=START, end=END))


def same_rows(store: RawStore, market, dataset: str, last: dt.date) -> bool:
    """True when the store holds exactly the market's rows of ``dataset`` dated START..last.

    Compared on the market table's catalogue columns (it may leave out Premium session fields,
    which the service then sends as absent keys).
    """
    endpoint = ENDPOINTS[dataset]
    table = market.tables[dataset]
    columns = [c for c in endpoint.schema if c in table.columns]
    expected = table.select(columns).filter(pl.col(endpoint.date_field).is_between(START, last))
    return content_hash(store.scan(dataset).select(columns).collect()) == content_hash(expected)


def test_fetch_from_synthetic_service_on_loopback_with_faults(market):
    # 20 % of bar requests fail with 500 and 10 % drop the connection; the client retries them.
    faults = Faults(error_rate=0.2, drop_rate=0.1, seed=3, path="/equities/bars/daily")
    service = create_app(
        market, api_key="k", plan=Plan.STANDARD, page_size=7, rate_limit=False, faults=faults
    )
    today = service.state.service.today
    now = [0.0]
    store = RawStore(get_settings().raw_dir)
    with background_server(service) as url:
        client = JQuantsClient(
            "k",
            plan=Plan.STANDARD,
            base_url=f"{url}/v2",
            pacing=False,
            today=today,
            clock=lambda: now[0],
            sleep=lambda s: now.__setitem__(0, now[0] + s),
        )
        with client:
            report = fetch(
                store,
                client,
                START,
                D(2024, 1, 31),
                ["equities_bars_daily", "indices_topix", "fins_dividend"],
                Plan.STANDARD,
                progress=False,
                today=today,
            )
    assert report.results["fins_dividend"].skipped == (
        "needs the premium plan, this is the standard plan"
    )
    for dataset, last in (
        ("markets_calendar", CALENDAR_END),
        ("equities_bars_daily", D(2024, 1, 31)),
    ):
        assert same_rows(store, market, dataset, last), dataset
        assert store.verify(dataset) == []
    # 30 stocks a day in pages of 7: 5 pages per trading day, plus the retried failures.
    days = len(store.catalog.units("equities_bars_daily"))
    assert report.results["equities_bars_daily"].requests > 5 * days


def synthetic_args(end: str) -> list[str]:
    return ["fetch", "--source", "synthetic", "--start", "2024-01-01", "--end", end]


@pytest.mark.slow
def test_cli_fetch_synthetic_grows_the_history_and_a_rerun_generates_nothing(market, monkeypatch):
    runner = CliRunner()
    common = ["--stocks", "30", "--seed", "7"]
    shorter = runner.invoke(app, [*synthetic_args("2024-02-14"), *common])
    assert shorter.exit_code == 0, shorter.output
    longer = runner.invoke(app, [*synthetic_args("2024-03-31"), *common])
    assert longer.exit_code == 0, longer.output

    # The longer run extends February's calendar and TOPIX chunks and adds the later days: the
    # store equals the market generated for the longer period, oracle included.
    store = RawStore(get_settings().raw_dir)
    for dataset in store.catalog.datasets():
        assert store.verify(dataset) == [], dataset
    for dataset in PLAIN:
        last = CALENDAR_END if dataset == "markets_calendar" else END
        assert same_rows(store, market, dataset, last), dataset
    assert content_hash(store.read_oracle().collect()) == content_hash(market.oracle)
    bars_units = {r.unit_key for r in store.catalog.units("equities_bars_daily")}
    trading = market.tables["markets_calendar"].filter(pl.col("HolDiv").is_in(["1", "2"]))
    assert bars_units == {d.isoformat() for d in trading["Date"] if d <= END}

    status = runner.invoke(app, ["store", "status"])
    assert status.exit_code == 0
    line = next(x for x in status.output.splitlines() if "equities_bars_daily" in x)
    assert f"{len(bars_units)} " in line and "2024-01-04" in line

    def no_generation(config, **kwargs):
        raise AssertionError(f"generated {config} although nothing was missing")

    with monkeypatch.context() as patched:
        patched.setattr("gogooku.synth.market.generate_market", no_generation)
        for end in ("2024-03-31", "2024-02-14"):
            again = runner.invoke(app, [*synthetic_args(end), *common])
            assert again.exit_code == 0, again.output
            assert "nothing to generate" in again.output and "requests made: 0" in again.output

    # A day missing from the catalog is fetched again: the market is generated; three requests,
    # the bars' bulk listing (checked for changed files whenever a unit is due), the day's page,
    # and the ticks' listing (their March days stay due until March's file exists).
    with store.catalog._connect() as conn:
        conn.execute(
            "DELETE FROM units WHERE dataset='equities_bars_daily' AND unit_key='2024-03-29'"
        )
    refill = runner.invoke(app, [*synthetic_args("2024-03-31"), *common])
    assert refill.exit_code == 0, refill.output
    assert "requests made: 3" in refill.output
    assert same_rows(store, market, "equities_bars_daily", END)
