"""The prediction store's contract, on both backends (``gogooku.bundle.db``): SQLite (a file in
the test's home) and PostgreSQL (a fresh database on the session's throw-away server). Rankings,
runs, live tables and API keys read back what was written, in the same order, with floats
bit-identical; a day is replaced whole; every write moves ``generation()`` as another store
object (another process) sees it; errors name the store without its password."""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
import time

import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.bundle.db import store_selected
from gogooku.bundle.db_postgres import postgres_ddl
from gogooku.bundle.livestore import LiveStore
from gogooku.bundle.predstore import PredictionStore
from gogooku.bundle.storeurl import StoreError, redact, store_target
from gogooku.cli import app
from gogooku.config import ConfigError
from gogooku.serve.auth import KeyFileError, KeyStore
from gogooku.serve.config import ServeConfig
from gogooku.serve.dbkeys import StoreKeys

DAY = dt.date(2024, 3, 1)
THIRD = 1 / 3


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path / "store.sqlite"
    return request.getfixturevalue("pg_store")


def _frame(scores: dict[str, float]) -> pl.DataFrame:
    codes = list(scores)
    return pl.DataFrame(
        {
            "Code": codes,
            "score": list(scores.values()),
            "scores": [f'{{"5":{s!r}}}' for s in scores.values()],
            "sector": ["0050" if c < "2" else None for c in codes],
            "sector_name": [None] * len(codes),
            "name": [f"社{c}" for c in codes],
        }
    )


def _changed(store, before: int | None, timeout_s: float = 5.0) -> int:
    """``store.generation()`` once it differs from ``before`` (PostgreSQL hears it by NOTIFY)."""
    deadline = time.monotonic() + timeout_s
    while (now := store.generation()) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert now is not None and now != before
    return now


def test_a_day_reads_back_ranked_bit_identical_and_is_replaced_whole(target):
    store = PredictionStore(target)
    assert store.day_run("m", "v0001") is None and store.read_day("m", "v0001", DAY) == []
    # ties by code in byte order: "10" < "1A" < "9"; THIRD must come back bit-identical
    run = store.write_day("m", "v0001", DAY, _frame({"9": 0.5, "1A": 0.5, "10": THIRD}), 5, "d")
    assert run.rows == 3 and run.listed == 5
    assert run.dispersion == pytest.approx(
        math.sqrt(((0.5 - 4 / 9) ** 2 * 2 + (THIRD - 4 / 9) ** 2) / 3)
    )
    rows = store.read_day("m", "v0001", DAY)
    assert [r[0] for r in rows] == ["1A", "9", "10"]
    assert rows[2] == ("10", THIRD, f'{{"5":{THIRD!r}}}', "0050", None, "社10")
    assert rows[1][3] is None
    store.write_day("m", "v0001", DAY + dt.timedelta(days=3), _frame({"1": 1.0}), 1)
    assert store.day_run("m", "v0001").date == DAY + dt.timedelta(days=3)
    assert store.day_run("m", "v0001", DAY) == run
    store.write_day("m", "v0001", DAY, _frame({"2": -1.0}), 4)  # re-run: the day replaced
    assert store.read_day("m", "v0001", DAY) == [("2", -1.0, '{"5":-1.0}', None, None, "社2")]
    assert store.day_run("m", "v0001", DAY).rows == 1


def test_every_write_moves_the_generation_another_store_object_reads(target):
    reader, writer = PredictionStore(target), PredictionStore(target)
    writer.write_day("m", "v0001", DAY, _frame({"1": 0.1}), 1)
    first = _changed(reader, None)
    writer.write_day("m", "v0001", DAY, _frame({}), 0)
    second = _changed(reader, first)
    StoreKeys(target).add("ops")  # a key change is a write of the store too
    _changed(reader, second)


def test_live_tables_read_back_with_trailing_means_and_drift_in_byte_order(target):
    live = LiveStore(target)
    PredictionStore(target).write_day("m", "v0002", DAY, _frame({"1": 0.1}), 1)
    days = [
        {
            "date": DAY + dt.timedelta(days=i),
            "horizon": 5,
            "label": "raw",
            "exit_date": DAY + dt.timedelta(days=i + 7),
            "n": 10,
            "k": 3,
            "rankic": float("nan") if i == 3 else i / 100,
            "spread": 0.001 * i,
        }
        for i in range(22)
    ]
    live.write_live("m", "v0002", days[:10])
    live.write_live("m", "v0002", days[8:])  # overlapping days replaced, not duplicated
    series = live.live_series("m", "v0002")
    assert series.height == 22 and series["rankic"][3] is None
    defined = [i / 100 for i in range(22) if i != 3]
    assert series["rankic_20d"][20] == pytest.approx(sum(defined[:20]) / 20)
    assert series["rankic_20d"][19] is None and series["spread_20d"][19] == pytest.approx(
        sum(0.001 * i for i in range(20)) / 20
    )
    assert live.live_dates("m", "v0002") == {d["date"] for d in days}
    assert live.predicted_versions() == [("m", "v0002")]
    names = ["b_x", "B", "a", "_z", "aa"]
    live.write_drift("m", "v0002", {DAY: [("feature", n, 0.2, 9) for n in names]})
    live.write_drift(
        "m",
        "v0002",
        {DAY: [*(("feature", n, 0.2, 9) for n in names), ("prediction", "score", float("nan"), 9)]},
    )
    drift = live.drift_day("m", "v0002")
    assert drift["name"].to_list() == ["B", "_z", "a", "aa", "b_x", "score"]
    assert drift["psi"][-1] is None and live.drift_dates("m", "v0002") == {DAY}


def test_keys_in_the_store_are_added_revoked_and_seen_by_a_key_store(target):
    keys = StoreKeys(target)
    alice = keys.add("alice")
    with pytest.raises(KeyFileError, match="a key named 'alice' exists"):
        keys.add("alice")
    with pytest.raises(KeyFileError, match="no key named 'bob'"):
        keys.revoke("bob")
    admitted = KeyStore(StoreKeys(target))
    assert admitted.lookup(alice).revoked is False and admitted.lookup("nope") is None
    keys.revoke("alice")
    deadline = time.monotonic() + 5
    while not admitted.lookup(alice).revoked and time.monotonic() < deadline:
        time.sleep(0.01)
    assert admitted.lookup(alice).revoked
    assert [(e["name"], e["revoked"]) for e in keys.entries()] == [("alice", True)]
    assert all(alice not in str(v) for e in keys.entries() for v in e.values())


def test_apikey_commands_use_a_postgresql_store_and_refuse_a_key_file_beside_it(pg_store, tmp_path):
    runner = CliRunner()
    added = runner.invoke(app, ["apikey", "add", "carol", "--store", pg_store])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["apikey", "list", "--json", "--store", pg_store])
    assert [k["name"] for k in json.loads(listed.output)] == ["carol"]
    assert StoreKeys(pg_store).entries()[0]["name"] == "carol"
    both = runner.invoke(
        app, ["apikey", "list", "--store", pg_store, "--file", str(tmp_path / "k")]
    )
    assert both.exit_code != 0 and "PostgreSQL store holds the keys" in both.output
    with store_selected(pg_store), pytest.raises(ConfigError, match="the keys live in the store"):
        ServeConfig(api_keys_file=tmp_path / "k.json").key_source()
    assert not (tmp_path / "gogooku_home" / "api_keys.json").exists()


def test_redact_masks_passwords_only():
    assert redact("postgresql://u:s3cret@db:5432/g") == "postgresql://u:***@db:5432/g"
    assert redact("postgresql://u@db/g?password=x&sslmode=require") == (
        "postgresql://u@db/g?password=***&sslmode=require"
    )
    assert redact("postgres://db/g") == "postgres://db/g"
    assert redact("/srv/predictions.sqlite") == "/srv/predictions.sqlite"
    assert redact("postgresql://u:pw@[::1/g") == "postgresql://…"


def test_errors_name_the_store_without_its_password(tmp_path, monkeypatch):
    with pytest.raises(StoreError, match=r"mysql://u:\*\*\*@h/db: unsupported scheme 'mysql'"):
        store_target("mysql://u:pw1@h/db")
    gone = f"postgresql://u:pw2@/db?host={tmp_path}"
    with pytest.raises(StoreError, match=r"cannot connect") as err:
        PredictionStore(gone).day_run("m", "v0001")
    assert "pw2" not in str(err.value) and "u:***@" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(StoreError, match=r"postgresql://u:\*\*\*@h/db\?colour=red: invalid URL"):
        PredictionStore("postgresql://u:pw3@h/db?colour=red")
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StoreError, match=r"needs the psycopg driver"):
        PredictionStore("postgresql://u:pw4@h/db")
    runner = CliRunner()
    result = runner.invoke(app, ["apikey", "list", "--store", "postgresql://u:pw5@h/db"])
    assert result.exit_code == 1 and "pw5" not in result.output
    assert "psycopg driver" in result.output


def test_postgresql_ddl_keeps_doubles_and_byte_order():
    ddl = "CREATE TABLE IF NOT EXISTS t (a TEXT NOT NULL, b REAL, PRIMARY KEY (a)) WITHOUT ROWID"
    assert postgres_ddl(ddl) == (
        'CREATE TABLE IF NOT EXISTS t (a TEXT COLLATE "C" NOT NULL, b DOUBLE PRECISION, '
        "PRIMARY KEY (a))"
    )
