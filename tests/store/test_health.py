"""Corrupt and missing raw partitions: readers name the file, ``store status`` lists them,
``fetch --repair`` fetches their units again, ``build`` says to repair."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.httpserver import background_server
from gogooku.settings import Plan, get_settings
from gogooku.store.fetch import fetch
from gogooku.store.health import CorruptPartitionError, partition_problems
from gogooku.store.raw import RawStore, content_hash

from .conftest import API_KEY, SETTLED, TinyV2, make_client, market_tables

runner = CliRunner()
BARS = "equities_bars_daily"
FETCH = ["fetch", "--start", "2024-01-01", "--end", "2024-02-29", "--plan", "premium"]
FETCH += ["--datasets", BARS]


def fetched(service: TinyV2) -> RawStore:
    store = RawStore(get_settings().raw_dir)
    with make_client(service) as client:
        fetch(
            store,
            client,
            dt.date(2024, 1, 1),
            dt.date(2024, 2, 29),
            [BARS],
            Plan.PREMIUM,
            progress=False,
            clock=lambda: SETTLED,
        )
    return store


def truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def damage_a_page(path) -> None:
    """Zero bytes inside the first data page: the footer stays readable."""
    data = bytearray(path.read_bytes())
    data[4:200] = bytes(196)
    path.write_bytes(bytes(data))


def test_readers_name_a_truncated_partition_and_the_repair():
    store = fetched(TinyV2(market_tables(), page_size=10))
    path = store.dataset_dir(BARS) / "2024-01.parquet"
    truncate(path)
    with pytest.raises(CorruptPartitionError) as info:
        RawStore(store.root).scan(BARS).collect()
    message = str(info.value)
    assert str(path) in message and "gogooku fetch --repair" in message and "\n" not in message


def test_problems_footer_row_count_missing_and_deep():
    store = fetched(TinyV2(market_tables(), page_size=10))
    january, february = (store.dataset_dir(BARS) / f"2024-0{m}.parquet" for m in (1, 2))
    assert partition_problems(store, BARS, deep=True) == []
    frame = pl.read_parquet(january)
    frame.head(3).write_parquet(january)
    february.unlink()
    problems = partition_problems(store, BARS)
    assert [(p.month, p.reason) for p in problems] == [
        ("2024-01", f"holds 3 rows, the catalog recorded {frame.height}"),
        ("2024-02", "missing: the catalog has rows in this month"),
    ]
    assert {u.unit_key[:7] for u in problems[0].units} == {"2024-01"}
    frame.write_parquet(january)
    damage_a_page(january)
    assert [p.month for p in partition_problems(store, BARS)] == ["2024-02"]
    assert [p.month for p in partition_problems(store, BARS, deep=True)] == ["2024-01", "2024-02"]


def test_status_lists_a_corrupt_partition_and_fetch_repair_restores_it(monkeypatch):
    service = TinyV2(market_tables(), page_size=10)
    store = fetched(service)
    before = content_hash(store.scan(BARS).collect())
    path = store.dataset_dir(BARS) / "2024-01.parquet"
    truncate(path)
    status = runner.invoke(app, ["store", "status"])
    assert status.exit_code == 1
    assert f"corrupt: {path}: corrupt Parquet partition" in status.output
    assert "gogooku fetch --repair" in status.output

    monkeypatch.setenv("JQUANTS_API_KEY", API_KEY)
    with background_server(service.app) as url:
        plain = runner.invoke(app, [*FETCH, "--base-url", f"{url}/v2"])
        service.requests.clear()
        repaired = runner.invoke(app, [*FETCH, "--base-url", f"{url}/v2", "--repair"])
    assert plain.exit_code == 1 and str(path) in plain.output
    assert "--repair" in plain.output and "Traceback" not in plain.output
    assert repaired.exit_code == 0, repaired.output
    assert f"repair: {path}: corrupt Parquet partition" in repaired.output
    january_days = [p["date"] for p in service.paths(BARS) if "pagination_key" not in p]
    assert january_days and all(day.startswith("2024-01") for day in january_days)
    store = RawStore(store.root)
    assert content_hash(store.scan(BARS).collect()) == before
    assert store.verify(BARS) == []
    assert runner.invoke(app, ["store", "status"]).exit_code == 0
    assert [p.name for p in path.parent.glob(".2024-01.parquet.corrupt-*")]


@pytest.mark.parametrize("damage", [truncate, damage_a_page])
def test_build_on_a_corrupt_partition_names_it_and_the_repair(tiny_home, damage):
    home = get_settings().home
    shutil.copytree(tiny_home / "raw", home / "raw")
    path = home / "raw" / BARS / "2020-06.parquet"
    damage(path)
    args = ["build", "--start", "2020-03-02", "--end", "2020-12-30", "--name", "t"]
    result = runner.invoke(app, [*args, "--blocks", "returns"])
    assert result.exit_code == 1, result.output
    failed = [line for line in result.output.splitlines() if "failed" in line]
    assert len(failed) == 1 and failed[0].startswith("build failed: ")
    assert str(path) in failed[0] and "gogooku fetch --repair" in failed[0]
    assert "Traceback" not in result.output


def test_every_fetch_path_refuses_a_corrupt_store_before_any_request():
    """``fetch_from_source`` (behind ``gogooku fetch`` and the daily ``gogooku update``) stops
    on a corrupt partition, naming it and the repair, before asking the source for anything."""
    from gogooku.store.sources import Source, fetch_from_source

    service = TinyV2(market_tables(), page_size=10)
    store = fetched(service)
    path = store.dataset_dir(BARS) / "2024-01.parquet"
    truncate(path)
    with pytest.raises(CorruptPartitionError) as info:
        fetch_from_source(store, Source.JQUANTS, dt.date(2024, 1, 1), dt.date(2024, 2, 29), [BARS])
    assert str(path) in str(info.value) and "gogooku fetch --repair" in str(info.value)
