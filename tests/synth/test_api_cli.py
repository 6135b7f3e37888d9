"""``gogooku synth serve`` end to end: a real process on 127.0.0.1 serving the simulator's market."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.httpserver import free_port
from gogooku.jquants.endpoints import parse_records


def wait_until_serving(process: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"synth serve exited with {process.returncode}: {stderr}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"synth serve did not answer on {url}")


@pytest.mark.slow
def test_synth_serve_serves_the_generated_market():
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "gogooku"), "synth", "serve", "--port", str(port),
        "--seed", "3", "--stocks", "20", "--start", "2023-01-01", "--end", "2023-02-28",
        "--plan", "standard", "--page-size", "8", "--api-key", "k3y",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/v2"
    try:
        wait_until_serving(process, f"{base}/markets/calendar")
        with httpx.Client(base_url=base, headers={"x-api-key": "k3y"}) as client:
            calendar = client.get("/markets/calendar").json()["data"]
            day = next(r["Date"] for r in calendar if r["HolDiv"] == "1")
            pages = [client.get("/equities/bars/daily", params={"date": day}).json()]
            while "pagination_key" in pages[-1]:
                query = {"date": day, "pagination_key": pages[-1]["pagination_key"]}
                pages.append(client.get("/equities/bars/daily", params=query).json())
            wrong_key = client.get("/markets/calendar", headers={"x-api-key": "nope"})
            premium_only = client.get("/markets/breakdown", params={"date": day})
    finally:
        process.terminate()
        process.wait(timeout=30)
    bars = parse_records("equities_bars_daily", [r for page in pages for r in page["data"]])
    assert [len(page["data"]) for page in pages] == [8, 8, 4]
    assert bars.height == 20 and bars["Code"].n_unique() == 20
    assert bars["Code"].str.len_chars().unique().to_list() == [5]
    assert "MO" not in pages[0]["data"][0]  # Standard plan: no Premium session keys
    assert wrong_key.status_code == 403
    assert premium_only.status_code == 403


def test_synth_serve_help_shows_the_default_days_as_dates():
    result = CliRunner().invoke(app, ["synth", "serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "2019-01-01" in result.output and "2023-12-31" in result.output
    assert "00:00:00" not in result.output


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--error-rate", "2"], "--error-rate"),
        (["--slow-rate", "-0.5"], "--slow-rate"),
        (["--block-s", "-1"], "--block-s"),
        (["--stocks", "5"], "--stocks"),
        (["--page-size", "0"], "--page-size"),
        (["--first-fault", "fire"], "--first-fault"),
        (["--error-rate", "0.7", "--truncate-rate", "0.6"], "error_rate=0.7 + truncate_rate=0.6"),
        (["--start", "2023-02-01", "--end", "2023-01-01"], "must be after start"),
    ],
)
def test_synth_serve_out_of_range_settings_are_one_clear_line(args, named):
    result = CliRunner().invoke(app, ["synth", "serve", *args])
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
