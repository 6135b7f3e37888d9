"""Bring-your-own prices: Kaggle JPX layout, generic Parquet, malformed rows, build on the import."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.calendar import TradingCalendar
from gogooku.cli import app
from gogooku.dataset.build import build_dataset
from gogooku.importers.commit import ImportProblems, list_imports
from gogooku.importers.prices import PriceImportError, import_prices
from gogooku.store.raw import RawStore

DAYS = TradingCalendar.from_xtks(date(2021, 11, 1), date(2022, 1, 31)).days(
    date(2021, 11, 1), date(2022, 1, 31)
)
EX_DATE = DAYS[30]  # the 1:2 split of 7203 takes effect here


def _kaggle_prices() -> pl.DataFrame:
    rows = []
    for code, start in ((1301, 2000.0), (7203, 1000.0), (9984, 500.0)):
        close = start
        for i, day in enumerate(DAYS):
            close *= 1.0 + 0.01 * ((i * code) % 7 - 3) / 3
            c = close / 2 if (code == 7203 and day >= EX_DATE) else close
            factor = 0.5 if (code == 7203 and i == 29) else 1.0  # Kaggle: day before ex-date
            halted = code == 9984 and i == 10
            rows.append(
                {
                    "RowId": f"{day:%Y%m%d}_{code}",
                    "Date": day.isoformat(),
                    "SecuritiesCode": code,
                    "Open": None if halted else round(c * 0.999, 1),
                    "High": None if halted else round(c * 1.01, 1),
                    "Low": None if halted else round(c * 0.98, 1),
                    "Close": None if halted else round(c, 1),
                    "Volume": 0 if halted else 1000 + i,
                    "AdjustmentFactor": factor,
                    "ExpectedDividend": None,
                    "SupervisionFlag": False,
                    "Target": 0.0,
                }
            )
    return pl.DataFrame(rows)


def _kaggle_list() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "SecuritiesCode": [1301, 7203, 9984],
            "EffectiveDate": ["20211230"] * 3,
            "Name": ["KYOKUYO", "TOYOTA", "SOFTBANK"],
            "SecuritiesType": ["Domestic"] * 3,
            "MarketSegment": ["First Section"] * 3,
            "NewMarketSegment": ["Prime Market", "Prime Market", "Standard Market"],
            "33SectorCode": ["50", "3700", "5250"],
            "33SectorName": ["Fishery", "Transportation Equipment", "Information"],
            "17SectorCode": ["1", "6", "10"],
            "17SectorName": ["FOODS", "AUTOMOBILES", "IT"],
            "NewIndexSeriesSizeCode": ["7", "1", "2"],
            "NewIndexSeriesSize": ["TOPIX Small 2", "TOPIX Core30", "-"],
            "TradeDate": ["20211230"] * 3,
            "Close": [3080.0, 2091.0, 6540.0],
            "Shares": [1.0e7, 3.2e9, 1.7e9],
            "MarketCapitalization": [3.0e10, 6.7e12, 1.1e13],
            "Universe0": [True, True, True],
        }
    )


@pytest.fixture
def kaggle_files(tmp_path):
    prices, listing = tmp_path / "stock_prices.csv", tmp_path / "stock_list.csv"
    _kaggle_prices().write_csv(prices)
    _kaggle_list().write_csv(listing)
    return prices, listing


def test_kaggle_import_via_cli_writes_typed_jquants_tables(kaggle_files, _isolated_home):
    prices, listing = kaggle_files
    result = CliRunner().invoke(app, ["import", "prices", str(prices), "--list", str(listing)])
    assert result.exit_code == 0, result.output
    assert "imported stock_prices.csv as stock_prices.csv (kaggle, market XTKS)" in result.output
    assert "1 of 1 AdjustmentFactor rows have their price jump on the next row" in result.output
    store = RawStore(_isolated_home / "raw")
    bars = store.scan("equities_bars_daily").collect()
    assert bars.schema == pl.Schema(RawStore.schema("equities_bars_daily"))
    assert sorted(bars["Code"].unique()) == ["13010", "72030", "99840"]
    assert bars.height == 3 * len(DAYS)
    toyota = bars.filter(pl.col("Code") == "72030").sort("Date")
    # The Kaggle factor (day before the ex-date) sits on the ex-date, as in J-Quants.
    split = toyota.filter(pl.col("AdjFactor") != 1.0)
    assert split["Date"].to_list() == [EX_DATE] and split["AdjFactor"].item() == 0.5
    # Back-adjusted Adj* (J-Quants style): pre-split closes halved, volumes doubled.
    pre = toyota.filter(pl.col("Date") < EX_DATE)
    assert (pre["AdjC"] == pre["C"] * 0.5).all() and (pre["AdjVo"] == pre["Vo"] * 2).all()
    post = toyota.filter(pl.col("Date") >= EX_DATE)
    assert (post["AdjC"] == post["C"]).all()
    # Turnover estimated as C * Vo; the halted row has null prices and volume.
    row = toyota.row(0, named=True)
    assert row["Va"] == pytest.approx(row["C"] * row["Vo"])
    halted = bars.filter((pl.col("Code") == "99840") & (pl.col("Date") == DAYS[10]))
    assert halted["C"].item() is None and halted["Vo"].item() is None
    master = store.scan("equities_master").collect().sort("Code")
    assert master["S33"].to_list() == ["0050", "3700", "5250"]
    assert master["Mkt"].to_list() == ["0111", "0111", "0112"]
    assert master["ScaleCat"].to_list() == ["TOPIX Small 2", "TOPIX Core30", None]
    assert (master["Date"] == DAYS[0]).all()  # --list-asof first
    calendar = store.scan("markets_calendar").collect()
    assert calendar.filter(pl.col("HolDiv") == "1")["Date"].head(len(DAYS)).to_list() == DAYS
    units = store.catalog.units("equities_bars_daily")
    assert {u.unit_key for u in units} == {
        f"import:stock_prices.csv:{m}" for m in ("2021-11", "2021-12", "2022-01")
    }
    assert all(u.committed and u.rows > 0 for u in units)
    assert store.catalog.sources() >= {"import:stock_prices.csv"}


def test_build_on_imported_prices_is_continuous_and_skips_side_blocks(kaggle_files, _isolated_home):
    prices, listing = kaggle_files
    store = RawStore(_isolated_home / "raw")
    import_prices(prices, store, list_path=listing)
    result = build_dataset(
        "kaggle",
        DAYS[25],
        DAYS[-1],
        blocks=["returns", "margin", "x_fins", "x_graph"],
        store=store,
        warmup_days=5,
        show_progress=False,
    )
    panel = pl.read_parquet(result.path / "panel.parquet")
    raw = _kaggle_prices().filter(pl.col("SecuritiesCode") == 7203)
    closes = dict(zip(raw["Date"], raw["Close"], strict=True))
    ex = panel.filter((pl.col("Code") == "72030") & (pl.col("Date") == EX_DATE))
    prev = DAYS[DAYS.index(EX_DATE) - 1]
    true_ret = closes[EX_DATE.isoformat()] * 2 / closes[prev.isoformat()] - 1
    assert ex["ret_prev_1d"].item() == pytest.approx(true_ret, abs=1e-6)
    index = json.loads((result.path / "features.json").read_text())
    skipped = {s["block"]: s["reason"] for s in index["skipped"]}
    assert set(skipped) == {"margin", "x_fins", "x_graph"}
    assert skipped["margin"] == "no raw data for source(s) markets_margin_interest"
    assert skipped["x_fins"] == "no raw data for source(s) fins_summary"
    assert skipped["x_graph"] == "requires block(s) graph, which are not built"
    assert result.blocks == ("returns",)
    meta = json.loads((result.path / "metadata.json").read_text())
    assert set(meta["skipped_blocks"]) == {"margin", "x_fins", "x_graph"}


def test_malformed_rows_refuse_the_file_or_are_dropped_with_drop_bad(tmp_path, _isolated_home):
    good = _kaggle_prices().head(6)
    lines = good.write_csv().splitlines()
    header, body = lines[0], lines[1:]
    d = DAYS[3].isoformat()
    bad = [
        "x1,2021-13-45,1301,10,11,9,10,100,1.0,,False,0",  # line 8: unparseable date
        f"x2,{d},1333,10,11,-9,10,100,1.0,,False,0",  # line 9: negative price
        f"x3,{d},7203,10,9,11,10,100,1.0,,False,0",  # line 10: High < Low
        f"x4,{d},9984,10,11,9,10,100,1.0,,False,0",  # lines 11, 12: duplicate key
        f"x5,{d},9984,10,12,9,11,100,1.0,,False,0",
        "x6,2021-11-07,1301,10,11,9,10,100,1.0,,False,0",  # line 13: a Sunday
        f"x7,{d},12,10,11,9,10,100,1.0,,False,0",  # line 14: code too short
        f"x8,{d},1332,ten,11,9,10,100,1.0,,False,0",  # line 15: unparseable number
    ]
    path = tmp_path / "broken.csv"
    path.write_text("\n".join([header, *body, *bad]) + "\n")
    store = RawStore(_isolated_home / "raw")
    with pytest.raises(ImportProblems) as refused:
        import_prices(path, store, fmt="kaggle")
    assert store.catalog.units() == [] and not store.partitions("equities_bars_daily")
    problems = refused.value.problems
    found = set(problems.select("row", "column", "value", "reason").iter_rows())
    assert found == {
        (8, "Date", "2021-13-45", "unparseable date (expected YYYY-MM-DD or YYYYMMDD)"),
        (9, "Low", "-9", "price <= 0"),
        (10, "High", "9", "High < Low"),
        (10, "Open", "10", "Open outside [Low, High]"),
        (10, "Close", "10", "Close outside [Low, High]"),
        (
            11,
            "SecuritiesCode, Date",
            f"99840 {d}",
            "duplicate (SecuritiesCode, Date) key, rows 11, 12",
        ),
        (
            12,
            "SecuritiesCode, Date",
            f"99840 {d}",
            "duplicate (SecuritiesCode, Date) key, rows 11, 12",
        ),
        (13, "Date", "2021-11-07", "not a XTKS trading day"),
        (14, "SecuritiesCode", "12", "code is not 4 or 5 characters"),
        (15, "Open", "ten", "unparseable number"),
    }
    assert set(problems["file"]) == {"broken.csv"}
    report = import_prices(path, store, fmt="kaggle", drop_bad=True)
    assert report.rows_read == 14 and report.rows_written == 6
    bars = store.scan("equities_bars_daily").collect()
    assert bars.height == 6 and bars["Code"].unique().to_list() == ["13010"]
    # The CLI names the problems, writes them to a CSV report, and exits 1 writing nothing.
    result = CliRunner().invoke(app, ["import", "prices", str(path), "--name", "again"])
    assert result.exit_code == 1, result.output
    assert "import prices failed: 10 problem(s) in 8 row(s), nothing was written" in result.output
    assert "broken.csv:9: Low='-9': price <= 0" in result.output
    report_csv = pl.read_csv(_isolated_home / "imports" / "again_problems.csv")
    assert report_csv.columns == ["file", "row", "column", "value", "reason"]
    assert report_csv["row"].to_list() == [8, 9, 10, 10, 10, 11, 12, 13, 14, 15]
    assert "again" not in {r.id for r in list_imports(store)}


def test_generic_parquet_with_sector_columns(tmp_path, _isolated_home):
    frame = pl.DataFrame(
        {
            "Date": [d.isoformat() for d in DAYS[:3]] * 2,
            "Code": ["13010"] * 3 + ["2914"] * 3,
            "Open": [10.0, 11.0, 12.0, 5.0, 5.0, 5.0],
            "High": [11.0, 12.0, 13.0, 6.0, 6.0, 6.0],
            "Low": [9.0, 10.0, 11.0, 4.0, 4.0, 4.0],
            "Close": [10.5, 11.5, 12.5, 5.5, 5.5, 5.5],
            "Volume": [100.0, 200.0, 300.0, 10.0, 10.0, 10.0],
            "TurnoverValue": [1050.0, 2300.0, 3750.0, 55.0, 56.0, 57.0],
            "S33": ["50", "50", "50", "3050", "3050", "3050"],
        }
    )
    path = tmp_path / "mine.parquet"
    frame.write_parquet(path)
    store = RawStore(_isolated_home / "raw")
    report = import_prices(path, store)
    assert report.fmt == "generic" and report.problems.height == 0 and report.market == "XTKS"
    bars = store.scan("equities_bars_daily").collect().sort("Code", "Date")
    assert bars["Code"].unique().sort().to_list() == ["13010", "29140"]
    assert bars["Va"].to_list() == [1050.0, 2300.0, 3750.0, 55.0, 56.0, 57.0]
    assert (bars["AdjFactor"] == 1.0).all()
    master = store.scan("equities_master").collect()
    assert master.height == 6
    assert set(zip(master["Code"], master["S33"], strict=True)) == {
        ("13010", "0050"),
        ("29140", "3050"),
    }


def test_unknown_layout_and_empty_dates_are_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    store = RawStore(tmp_path / "raw")
    with pytest.raises(PriceImportError, match="missing column"):
        import_prices(path, store)
    with pytest.raises(PriceImportError, match=r"missing column.*SecuritiesCode"):
        import_prices(path, store, fmt="kaggle")
