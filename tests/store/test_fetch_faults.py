"""``gogooku fetch`` against the synthetic V2 service served for real, with faults: a request
that fails on every retry stops the fetch with one line, and a re-run resumes."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import polars as pl
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.httpserver import background_server
from gogooku.settings import Plan
from gogooku.store.raw import RawStore
from gogooku.synth.api import Faults, create_app

from .conftest import FEB_29, market_tables

FAST_RETRIES = {"JQUANTS_MAX_RETRIES": "1", "JQUANTS_BACKOFF_S": "0.01"}


def test_fetch_out_of_retries_is_one_line_naming_endpoint_and_status_then_resumes(tmp_path):
    tables = market_tables()
    faults = Faults(error_rate=1.0, path="/equities/bars/daily")
    service = create_app(
        SimpleNamespace(tables=tables),
        api_key="k",
        plan=Plan.PREMIUM,
        rate_limit=False,
        faults=faults,
        today=FEB_29,
    )
    env = {"GOGOOKU_HOME": str(tmp_path), "JQUANTS_API_KEY": "k", **FAST_RETRIES}
    with background_server(service) as url:
        args = ["fetch", "--start", "2024-01-01", "--end", "2024-01-12", "--plan", "premium"]
        args += ["--datasets", "equities_bars_daily", "--base-url", f"{url}/v2"]
        args += ["--no-bulk"]  # the faults hit the paged bars endpoint
        failed = CliRunner().invoke(app, args, env=env)
        faults.error_rate = 0.0
        resumed = CliRunner().invoke(app, args, env=env)
    assert failed.exit_code == 1
    assert failed.exception is None or isinstance(failed.exception, SystemExit)
    lines = [line for line in failed.output.splitlines() if "failed" in line]
    assert len(lines) == 1 and "Traceback" not in failed.output
    assert lines[0].startswith("fetch failed: equities_bars_daily: ")
    # stored before the first bars day: the calendar's 24 month units, Jan 2024 through Dec 2025
    # (published ahead of a January 2024 fetch)
    for part in ("/equities/bars/daily", "HTTP 500", "re-run to resume", "24 unit(s)"):
        assert part in lines[0]
    assert resumed.exit_code == 0, resumed.output
    store = RawStore(tmp_path / "raw")
    stored = store.scan("equities_bars_daily").collect()
    expected = tables["equities_bars_daily"].filter(pl.col("Date") <= dt.date(2024, 1, 12))
    assert_frame_equal(stored.sort("Date", "Code"), expected.sort("Date", "Code"))
    months = [f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)]
    assert [r.unit_key for r in store.catalog.units("markets_calendar")] == months
