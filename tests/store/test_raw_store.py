"""RawStore: write/replace/scan round trips, crash recovery, the catalog, the oracle."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.store import raw as raw_module
from gogooku.store.raw import ORACLE_SCHEMA, RawStore, content_hash

D = dt.date


def bars(day: dt.date, closes: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"Date": [day] * len(closes), "Code": list(closes), "C": list(closes.values())},
        schema={"Date": pl.Date, "Code": pl.String, "C": pl.Float64},
    )


@pytest.fixture
def store(tmp_path) -> RawStore:
    return RawStore(tmp_path / "raw")


def test_round_trip_month_partitions_and_catalog(store):
    store.write_unit(
        "equities_bars_daily",
        "2024-01-31",
        bars(D(2024, 1, 31), {"13010": 10.0}),
        {"date": "2024-01-31"},
        unit_start=D(2024, 1, 31),
        unit_end=D(2024, 1, 31),
    )
    store.write_unit(
        "equities_bars_daily",
        "2024-02-01",
        bars(D(2024, 2, 1), {"13010": 11.0, "130A0": 5.5}),
        {"date": "2024-02-01"},
    )

    assert [p.name for p in store.partitions("equities_bars_daily")] == [
        "2024-01.parquet",
        "2024-02.parquet",
    ]
    frame = store.scan("equities_bars_daily").collect()
    assert frame.schema == pl.Schema(ENDPOINTS["equities_bars_daily"].schema)
    assert "_unit" not in frame.columns
    assert frame.select("Date", "Code", "C").sort("Date", "Code").rows() == [
        (D(2024, 1, 31), "13010", 10.0),
        (D(2024, 2, 1), "13010", 11.0),
        (D(2024, 2, 1), "130A0", 5.5),
    ]
    # Columns the frames did not carry are typed nulls, not missing.
    assert frame["AdjC"].null_count() == 3

    record = store.catalog.get("equities_bars_daily", "2024-02-01")
    assert record.committed and record.rows == 2 and record.months == ("2024-02",)
    assert record.query == {"date": "2024-02-01"}
    assert (record.date_min, record.date_max) == (D(2024, 2, 1), D(2024, 2, 1))
    assert record.content_hash == content_hash(bars(D(2024, 2, 1), {"13010": 11.0, "130A0": 5.5}))
    assert store.verify("equities_bars_daily") == []
    # A second store object on the same root sees the same catalog.
    assert len(RawStore(store.root).catalog.units("equities_bars_daily")) == 2


def test_revised_unit_replaces_its_rows_only(store):
    store.write_unit("equities_bars_daily", "2024-01-04", bars(D(2024, 1, 4), {"13010": 1.0}), {})
    store.write_unit(
        "equities_bars_daily", "2024-01-05", bars(D(2024, 1, 5), {"13010": 2.0, "13050": 3.0}), {}
    )
    old_hash = store.catalog.get("equities_bars_daily", "2024-01-05").content_hash

    store.write_unit(
        "equities_bars_daily", "2024-01-05", bars(D(2024, 1, 5), {"13010": 2.5, "13050": 3.0}), {}
    )

    frame = store.scan("equities_bars_daily").select("Date", "Code", "C").sort("Date", "Code")
    assert frame.collect().rows() == [
        (D(2024, 1, 4), "13010", 1.0),
        (D(2024, 1, 5), "13010", 2.5),
        (D(2024, 1, 5), "13050", 3.0),
    ]
    assert store.catalog.get("equities_bars_daily", "2024-01-05").content_hash != old_hash
    assert store.stored_unit_rows("equities_bars_daily") == {"2024-01-04": 1, "2024-01-05": 2}


def test_unit_whose_rows_move_month_and_empty_unit(store):
    # A range unit first delivers rows dated in January, then (revised) only in February.
    investor = ENDPOINTS["equities_investor_types"].schema

    def inv(day):
        return pl.DataFrame(
            {"PubDate": [day], "Section": ["TSEPrime"], "FrgnBal": [1.0]},
            schema={k: investor[k] for k in ("PubDate", "Section", "FrgnBal")},
        )

    store.write_unit("equities_investor_types", "2024-01", inv(D(2024, 1, 25)), {})
    store.write_unit("equities_investor_types", "2024-01", inv(D(2024, 2, 1)), {})
    assert [p.name for p in store.partitions("equities_investor_types")] == ["2024-02.parquet"]
    assert store.scan("equities_investor_types").collect()["PubDate"].to_list() == [D(2024, 2, 1)]

    store.write_unit("equities_investor_types", "2024-01", inv(D(2024, 1, 1)).clear(), {})
    assert store.partitions("equities_investor_types") == []
    record = store.catalog.get("equities_investor_types", "2024-01")
    assert record.rows == 0 and record.date_min is None and record.committed


def test_empty_store_scan_has_declared_schema(store):
    for dataset in ("markets_calendar", "markets_margin_alert", "fins_summary"):
        frame = store.scan(dataset).collect()
        assert frame.height == 0
        assert frame.schema == pl.Schema(ENDPOINTS[dataset].schema)
    assert store.read_oracle().collect().schema == pl.Schema(ORACLE_SCHEMA)


def test_crash_mid_write_leaves_pending_and_rewrite_recovers(store, monkeypatch):
    oracle = pl.DataFrame(
        {
            "Date": [D(2024, 1, 31), D(2024, 2, 1)],
            "Code": ["13010", "13010"],
            "exp_target_1d": [0.1, 0.2],
            "exp_target_5d": [0.0, 0.0],
            "exp_target_10d": [0.0, 0.0],
            "exp_target_20d": [0.0, 0.0],
        }
    )
    store.write_unit("synthetic_oracle", "u", oracle, {})

    real_write = raw_module.atomic_write_parquet
    calls = []

    def crash_on_second(path, frame, **options):
        calls.append(path.name)
        if len(calls) == 2:
            raise OSError("disk full")
        real_write(path, frame, **options)

    monkeypatch.setattr(raw_module, "atomic_write_parquet", crash_on_second)
    revised = oracle.with_columns(pl.col("exp_target_1d") * 10)
    with pytest.raises(OSError, match="disk full"):
        store.write_unit("synthetic_oracle", "u", revised, {})
    assert store.catalog.get("synthetic_oracle", "u").status == "pending"
    assert store.verify("synthetic_oracle") == ["synthetic_oracle/u: pending (interrupted write)"]
    # January was rewritten with the revision, February still holds the old row: mixed state.
    assert sorted(store.read_oracle().collect()["exp_target_1d"].to_list()) == [0.2, 1.0]

    monkeypatch.setattr(raw_module, "atomic_write_parquet", real_write)
    store.write_unit("synthetic_oracle", "u", revised, {})
    assert store.verify("synthetic_oracle") == []
    assert sorted(store.read_oracle().collect()["exp_target_1d"].to_list()) == [1.0, 2.0]
    assert not list(store.dataset_dir("synthetic_oracle").glob(".*.tmp"))


def test_schema_evolution_keeps_extra_columns_and_fills_missing(store):
    store.write_unit(
        "markets_calendar", "2024-01", pl.DataFrame({"Date": [D(2024, 1, 4)], "HolDiv": ["1"]}), {}
    )
    later = pl.DataFrame({"Date": [D(2024, 2, 1)], "HolDiv": ["1"], "NewField": [7.0]})
    store.write_unit("markets_calendar", "2024-02", later, {})
    frame = store.scan("markets_calendar").sort("Date").collect()
    assert frame.columns == ["Date", "HolDiv", "NewField"]
    assert frame["NewField"].to_list() == [None, 7.0]


def test_write_unit_rejects_bad_frames(store):
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        store.write_unit("nope", "k", bars(D(2024, 1, 4), {"1": 1.0}), {})
    with pytest.raises(ValueError, match=r"equities_bars_daily/k: .*'C': 'String"):
        store.write_unit(
            "equities_bars_daily", "k", pl.DataFrame({"Date": [D(2024, 1, 4)], "C": ["x"]}), {}
        )
    with pytest.raises(ValueError, match="no date column 'Date'"):
        store.write_unit("equities_bars_daily", "k", pl.DataFrame({"Code": ["1"]}), {})
    with pytest.raises(ValueError, match="1 row\\(s\\) have a null 'Date'"):
        store.write_unit(
            "equities_bars_daily",
            "k",
            pl.DataFrame(
                {"Date": [None], "Code": ["1"]}, schema={"Date": pl.Date, "Code": pl.String}
            ),
            {},
        )
    assert store.catalog.units() == []


def test_write_oracle_month_units(store):
    oracle = pl.DataFrame(
        {
            "Date": [D(2024, 1, 4), D(2024, 1, 5), D(2024, 2, 1)],
            "Code": ["13010"] * 3,
            "exp_target_1d": [0.01, 0.02, 0.03],
            "exp_target_5d": [0.1, 0.2, 0.3],
            "exp_target_10d": [0.0] * 3,
            "exp_target_20d": [0.0] * 3,
        }
    )
    records = store.write_oracle(oracle)
    assert [(r.unit_key, r.rows, r.unit_end) for r in records] == [
        ("2024-01", 2, D(2024, 1, 5)),
        ("2024-02", 1, D(2024, 2, 1)),
    ]
    assert store.read_oracle().sort("Date").collect().equals(oracle)
    store.write_oracle(oracle)
    assert store.read_oracle().collect().height == 3


frames = st.lists(
    st.tuples(
        st.integers(0, 59),
        st.sampled_from(["13010", "130A0", "72030"]),
        st.floats(-1e6, 1e6, allow_nan=False),
    ),
    max_size=6,
).map(
    lambda rows: pl.DataFrame(
        {
            "Date": [D(2024, 1, 1) + dt.timedelta(days=r[0]) for r in rows],
            "Code": [r[1] for r in rows],
            "C": [r[2] for r in rows],
        },
        schema={"Date": pl.Date, "Code": pl.String, "C": pl.Float64},
    )
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), frames), min_size=1, max_size=6))
def test_store_holds_exactly_the_last_write_of_each_unit(tmp_path_factory, ops):
    store = RawStore(tmp_path_factory.mktemp("raw"))
    last: dict[str, pl.DataFrame] = {}
    for key, frame in ops:
        store.write_unit("equities_bars_daily", key, frame, {})
        last[key] = frame
    expected = pl.concat(list(last.values()))
    stored = store.scan("equities_bars_daily").select("Date", "Code", "C").collect()
    assert content_hash(stored) == content_hash(expected)
    assert store.verify("equities_bars_daily") == []


@given(frame=frames, seed=st.integers(0, 1000))
def test_content_hash_ignores_row_order_but_not_values(frame, seed):
    assert content_hash(frame.sample(fraction=1.0, shuffle=True, seed=seed)) == content_hash(frame)
    if frame.height:
        changed = frame.with_columns(
            pl.col("C") + pl.lit(1.0).head(1).extend_constant(0.0, frame.height - 1)
        )
        assert content_hash(changed) != content_hash(frame)


def test_concurrent_writers_to_one_month_lose_nothing(store):
    def writer(worker: int) -> None:
        for day in range(1, 6):
            code = f"{1000 + worker}0"
            store.write_unit(
                "equities_bars_daily",
                f"{code}-{day}",
                bars(D(2024, 1, day), {code: float(day)}),
                {},
            )

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    frame = store.scan("equities_bars_daily").collect()
    assert frame.height == 30 and frame.select("Date", "Code").n_unique() == 30
    assert store.verify("equities_bars_daily") == []


KILL_BEFORE_RENAME = """
import os, sys, datetime as dt, signal
import polars as pl
from gogooku.store.raw import RawStore

def die(src, dst):
    os.kill(os.getpid(), signal.SIGKILL)

os.replace = die
frame = pl.DataFrame(
    {"Date": [dt.date(2024, 1, 4)], "Code": ["13010"], "C": [101.0]},
    schema={"Date": pl.Date, "Code": pl.String, "C": pl.Float64},
)
RawStore(sys.argv[1]).write_unit("equities_bars_daily", "2024-01-04", frame, {})
"""


def test_temp_file_of_a_writer_killed_before_rename_is_removed_by_the_next_write(tmp_path):
    root = tmp_path / "raw"
    store = RawStore(root)
    store.write_unit("equities_bars_daily", "2024-01-04", bars(D(2024, 1, 4), {"13010": 100.0}), {})
    killed = subprocess.run([sys.executable, "-c", KILL_BEFORE_RENAME, str(root)], check=False)
    assert killed.returncode == -9
    # The revision's first rename is the vintage file's (the old close is kept before the month
    # file is replaced).
    leftovers = list((root / "equities_bars_daily").rglob(".*.tmp"))
    assert [(p.parent.name, *p.name.split(".")[1:3]) for p in leftovers] == [
        ("_vintages", "2024-01", "parquet")
    ]
    # The killed write never reached its rename: the stored month still holds the old close.
    assert RawStore(root).scan("equities_bars_daily").collect()["C"].to_list() == [100.0]

    fresh = RawStore(root)
    fresh.write_unit("equities_bars_daily", "2024-01-05", bars(D(2024, 1, 5), {"13010": 102.0}), {})
    assert not list((root / "equities_bars_daily").rglob(".*.tmp"))
    assert fresh.scan("equities_bars_daily").collect()["C"].to_list() == [100.0, 102.0]
    assert fresh.verify("equities_bars_daily") == [
        "equities_bars_daily/2024-01-04: pending (interrupted write)"
    ]
