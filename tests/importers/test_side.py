"""Side data imports: Kaggle JPX side files and V2-named tables reach the blocks point in time."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.config import NormalizationConfig
from gogooku.dataset.tabular import prepare
from gogooku.importers.commit import list_imports
from gogooku.importers.kaggle import convert, implied_underlying
from gogooku.importers.v2 import type_table
from gogooku.kinds.tabular import fit_predict_tabular
from gogooku.models.linear import LinearConfig
from gogooku.runs import Ranges
from gogooku.store.raw import RawStore
from gogooku.target import TargetConfig

from ..support.kaggle_files import (
    DAYS,
    STMT_DAY,
    TRADE_DAYS,
    atm_iv,
    foreign_ratio,
    write_kaggle_dir,
)

START = DAYS[20]
SECTORS = ("0050", "3700", "5250")
RATIO_FIELDS = ("SellExShortVa", "ShrtWithResVa", "ShrtNoResVa")


def _cli(home: Path, *args: str):
    return CliRunner().invoke(app, list(args), env={"GOGOOKU_HOME": str(home)})


def _short_ratio(i: int) -> tuple[float, float, float]:
    """(SellExShortVa, ShrtWithResVa, ShrtNoResVa) of the i-th day."""
    return 900.0, 50.0 + i, 50.0


def _short_ratio_table() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"Date": day, "S33": s33} | dict(zip(RATIO_FIELDS, _short_ratio(i), strict=True))
            for i, day in enumerate(DAYS)
            for s33 in SECTORS
        ]
    )


@pytest.fixture(scope="module")
def kaggle_home(tmp_path_factory) -> tuple[Path, str, str]:
    """A home with the Kaggle fixture folder and a V2-named short-ratio Parquet imported through
    the CLI and dataset ``kg`` built from them; (home, kaggle import output, table output)."""
    home = tmp_path_factory.mktemp("kaggle")
    folder = write_kaggle_dir(home / "kaggle")
    imported = _cli(home, "import", "kaggle", str(folder))
    assert imported.exit_code == 0, imported.output
    table = home / "short_ratio.parquet"
    _short_ratio_table().write_parquet(table)
    tabled = _cli(home, "import", "table", "markets_short_ratio", str(table))
    assert tabled.exit_code == 0, tabled.output
    blocks = "statements,options,flows,short_ratio"
    built = _cli(
        home, "build", "--name", "kg", "--start", START.isoformat(), "--end",
        DAYS[-1].isoformat(), "--blocks", blocks, "--warmup-days", "5",
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    return home, imported.output, tabled.output


@pytest.mark.slow
def test_kaggle_folder_import_says_what_each_file_became(kaggle_home):
    home, output, table_output = kaggle_home
    for line in (
        "stock_prices.csv -> equities_bars_daily: 240 of 240 rows",
        "secondary_stock_prices.csv -> equities_bars_daily: 80 of 80 rows",
        "financials.csv -> fins_summary: 2 of 3 rows",
        "options.csv -> options_225: 1600 of 1600 rows",
        "trades.csv -> equities_investor_types: 45 of 110 rows",
        "note: trades.csv: 65 row(s) with only a date left out",
    ):
        assert line in output
    assert "short_ratio.parquet -> markets_short_ratio: 240 of 240 rows" in table_output
    store = RawStore(home / "raw")
    assert {r.id for r in list_imports(store)} == {
        "kaggle",
        "kaggle-stock_prices",
        "kaggle-secondary_stock_prices",
        "short_ratio.parquet",
    }
    bars = store.scan("equities_bars_daily").collect()
    assert sorted(bars["Code"].unique()) == ["13010", "13050", "72030", "99840"]
    master = store.scan("equities_master").collect()
    assert "13050" in master["Code"].to_list()


@pytest.mark.slow
def test_side_blocks_are_built_with_point_in_time_values(kaggle_home):
    home = kaggle_home[0]
    index = json.loads((home / "datasets" / "kg" / "features.json").read_text())
    built = {c["block"] for c in index["columns"] if c["role"] == "feature"}
    assert built == {"statements", "options", "flows", "short_ratio"}
    assert index["skipped"] == []
    reason = "no raw data for optional source indices_topix"
    assert index["null_columns"] == [{"column": "opt_vrp", "block": "options", "reason": reason}]
    assert next(c for c in index["columns"] if c["name"] == "opt_vrp")["null"] == reason
    meta = json.loads((home / "datasets" / "kg" / "metadata.json").read_text())
    assert meta["null_columns"] == {"opt_vrp": reason}
    panel = pl.read_parquet(home / "datasets" / "kg" / "panel.parquet")
    toyota = panel.filter(pl.col("Code") == "72030").sort("Date")

    def on(day: date, column: str) -> float | None:
        return toyota.filter(pl.col("Date") == day)[column].item()

    after = DAYS[DAYS.index(STMT_DAY) + 1]
    # The 1Q statement (equity 400 / assets 1000) came at 15:30, after the close: next day.
    assert on(STMT_DAY, "stmt_equity_ratio") == pytest.approx(0.5)
    assert on(after, "stmt_equity_ratio") == pytest.approx(0.4)
    # Options of day d are usable on d+1: the ATM strike 28000's IV of the day before.
    i = 25
    assert on(DAYS[i], "opt_iv_atm_near") == pytest.approx(atm_iv(i - 1))
    assert toyota["opt_vrp"].null_count() == toyota.height
    # Weekly flows published on Thursday count from Friday; 7203 is Prime -> TSEPrime.
    k = 5
    pub, nxt = TRADE_DAYS[k], DAYS[DAYS.index(TRADE_DAYS[k]) + 1]
    assert on(pub, "flow_foreign_net_ratio") == pytest.approx(foreign_ratio(k - 1))
    assert on(nxt, "flow_foreign_net_ratio") == pytest.approx(foreign_ratio(k))
    # The short-ratio record of d (sector 3700) is usable on d+1: (W + N) / (E + W + N).
    e, w, n = _short_ratio(29)
    assert on(DAYS[30], "sector_short_share") == pytest.approx((w + n) / (e + w + n))


@pytest.mark.slow
def test_training_path_copes_with_an_all_null_feature(kaggle_home, tmp_path):
    panel = pl.read_parquet(kaggle_home[0] / "datasets" / "kg" / "panel.parquet")
    features = ["opt_vrp", "opt_iv_atm_near", "stmt_equity_ratio", "sector_short_share"]
    dates = panel["Date"].unique().sort().to_list()
    ranges = Ranges(
        train=(dates[0], dates[29]), valid=(dates[33], dates[44]), test=(dates[48], dates[-3])
    )
    target = TargetConfig(horizons=[1], main_horizon=1)
    data = prepare(panel, features, ranges, target, NormalizationConfig())
    assert (data.frame["opt_vrp"] == 0.0).all()
    scores = fit_predict_tabular(LinearConfig(), panel, features, ranges, target, tmp_path)
    assert scores.height and scores["pred_1d"].is_finite().all()


def _raw(rows: list[dict]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String))
    return frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).add(2).alias("_row"))


def test_financials_columns_map_to_v2_fields():
    raw = _raw(
        [
            {
                "DisclosureNumber": "20210804400002.0",
                "DateCode": "20210804_7203",
                "Date": "2021-08-04",
                "SecuritiesCode": "7203.0",
                "DisclosedDate": "2021-08-04 0:00:00",
                "DisclosedTime": "13:25:00",
                "TypeOfDocument": "1QFinancialStatements_Consolidated_IFRS",
                "TypeOfCurrentPeriod": "1Q",
                "CurrentPeriodEndDate": "2021-06-30",
                "NetSales": "7935772000000",
                "OrdinaryProfit": "－",
                "EquityToAssetRatio": "0.372",
                "ForecastProfit": "2300000000000",
                "ChangesInAccountingEstimates": "TRUE",
                "NumberOfIssuedAndOutstandingSharesAtTheEndOfFiscalYearIncludingTreasuryStock": (
                    "16314987460"
                ),
            }
        ]
    )
    table = convert("financials", raw, "financials.csv")
    assert table.problems.is_empty()
    row = table.frame.row(0, named=True)
    assert (row["Code"], row["DiscNo"], row["DocType"]) == (
        "72030",
        "20210804400002",
        "1QFinancialStatements_Consolidated_IFRS",
    )
    assert (row["DiscDate"], row["DiscTime"], row["CurPerEn"]) == (
        date(2021, 8, 4),
        "13:25:00",
        date(2021, 6, 30),
    )
    assert (row["Sales"], row["OdP"], row["EqAR"], row["FNP"]) == (7.935772e12, None, 0.372, 2.3e12)
    assert row["ChgAcEst"] is True and row["ShOutFY"] == 16314987460.0
    assert "DateCode, Date" in table.notes[0]


def test_options_columns_map_and_underlying_from_put_call_parity():
    base = {"Date": "2021-10-01", "ContractMonth": "202110", "LastTradingDay": "20211007"}
    base |= {"SpecialQuotationDay": "20211008", "ImpliedVolatility": "20.5"}
    legs = [  # strike, put/call, settlement
        ("28000", "2", "300"),
        ("28000", "1", "200"),
        ("28500", "2", "100"),
        ("28500", "1", "480"),
    ]
    raw = _raw(
        [
            base
            | {"OptionsCode": f"13{k}{pc}", "StrikePrice": k, "Putcall": pc}
            | {"SettlementPrice": s}
            for k, pc, s in legs
        ]
        + [  # a later month with a different forward is not the nearest
            base
            | {"ContractMonth": "202111", "OptionsCode": f"14{pc}", "StrikePrice": "28000"}
            | {"Putcall": pc, "SettlementPrice": s, "SpecialQuotationDay": "20211112"}
            for pc, s in (("2", "900"), ("1", "100"))
        ]
    )
    table = convert("options", raw, "options.csv")
    assert table.problems.is_empty()
    row = table.frame.filter(pl.col("Code") == "13280002").row(0, named=True)
    assert (row["CM"], row["LTD"], row["SQD"]) == ("2021-10", date(2021, 10, 7), date(2021, 10, 8))
    assert (row["EmMrgnTrgDiv"], row["PCDiv"], row["IV"]) == ("002", "2", 20.5)
    # K* = 28000 (|300 - 200| < |100 - 480|): F = 28000 + 300 - 200
    assert table.frame["UnderPx"].unique().to_list() == [28100.0]
    assert implied_underlying(table.frame.head(0)).is_empty()


def test_trades_columns_sections_and_date_only_rows():
    raw = _raw(
        [
            {
                "Date": "2021-10-07",
                "StartDate": "2021-09-27",
                "EndDate": "2021-10-01",
                "Section": "Standard Market (Second Section)",
                "ForeignersSales": "10",
                "ForeignersPurchases": "30",
                "ForeignersTotal": "40",
                "ForeignersBalance": "20",
                "CityBKsRegionalBKsEtcPurchase": "5",
                "OtherInstitutionsSales": "7",
            },
            {"Date": "2021-10-08"},
            {"Date": "2021-10-07", "Section": "TSE Nagoya", "StartDate": "2021-09-27"}
            | {"EndDate": "2021-10-01"},
        ]
    )
    table = convert("trades", raw, "trades.csv")
    assert table.problems.is_empty()
    rows = table.frame.sort("Section").to_dicts()
    assert [r["Section"] for r in rows] == ["TSE Nagoya", "TSEStandard"]
    std = rows[1]
    assert (std["PubDate"], std["StDate"], std["EnDate"]) == (
        date(2021, 10, 7),
        date(2021, 9, 27),
        date(2021, 10, 1),
    )
    assert (std["FrgnSell"], std["FrgnBuy"], std["FrgnTot"], std["FrgnBal"]) == (10, 30, 40, 20)
    assert (std["BankBuy"], std["OthCoSell"]) == (5.0, 7.0)
    assert "1 row(s) with only a date left out" in " ".join(table.notes)
    assert "kept as written: TSE Nagoya" in " ".join(table.notes)


def _margin_rows() -> list[str]:
    return [
        "Date,Code,ShrtVol,LongVol,IssType",
        "2021-10-01,7203,100,200,2",
        "2021-10-01,9984,x,200,2",
        "2021-10-08,7203,1e309,200,2",
        ",7203,1,2,2",
        "2021-10-15,72030,1,2,2",
        "2021-10-15,7203,1,2,2",
    ]


def test_bad_values_are_refused_row_by_row_and_drop_bad_writes_the_rest(tmp_path, _isolated_home):
    path = tmp_path / "margin.csv"
    path.write_text("\n".join(_margin_rows()) + "\n")
    result = CliRunner().invoke(app, ["import", "table", "markets_margin_interest", str(path)])
    assert result.exit_code == 1
    assert "margin.csv:3 ShrtVol='x': not a valid number" in result.output
    assert "margin.csv:4 ShrtVol='1e309': non-finite number" in result.output
    assert "margin.csv:5 Date=None: missing key or date value" in result.output
    assert "5 problem(s) in 5 row(s), nothing was written" in result.output
    assert "Traceback" not in result.output
    assert not (_isolated_home / "raw" / "markets_margin_interest").exists()
    kept = CliRunner().invoke(
        app, ["import", "table", "markets_margin_interest", str(path), "--drop-bad"]
    )
    assert kept.exit_code == 0, kept.output
    assert "margin.csv -> markets_margin_interest: 1 of 6 rows" in kept.output
    assert "margin.csv:7: Date, Code='2021-10-15, 72030': duplicate key, rows 6, 7" in kept.output
    stored = RawStore(_isolated_home / "raw").scan("markets_margin_interest").collect()
    assert stored.select("Date", "Code", "ShrtVol").rows() == [(date(2021, 10, 1), "72030", 100.0)]


def test_kaggle_folder_with_a_bad_row_writes_nothing(tmp_path, _isolated_home):
    folder = write_kaggle_dir(tmp_path / "kaggle")
    (folder / "options.csv").unlink()
    text = (folder / "financials.csv").read_text().replace("805.23", "8O5.23", 1)
    (folder / "financials.csv").write_text(text)
    result = CliRunner().invoke(app, ["import", "kaggle", str(folder)])
    assert result.exit_code == 1
    assert "financials.csv:2 EarningsPerShare='8O5.23': not a valid number" in result.output
    assert RawStore(_isolated_home / "raw").catalog.datasets() == []
    # A bad secondary price file, found after stock_prices.csv was written: that is undone.
    write_kaggle_dir(folder)
    (folder / "options.csv").unlink()
    text = (folder / "secondary_stock_prices.csv").read_text().splitlines()
    text[5] = text[5].replace(",1.0,", ",-1.0,", 1)
    (folder / "secondary_stock_prices.csv").write_text("\n".join(text) + "\n")
    result = CliRunner().invoke(app, ["import", "kaggle", str(folder)])
    assert result.exit_code == 1 and "secondary_stock_prices.csv:6" in result.output
    assert RawStore(_isolated_home / "raw").catalog.datasets() == []


def test_unusable_files_are_refused_with_the_reason(tmp_path, _isolated_home):
    no_key = tmp_path / "ratio.csv"
    no_key.write_text("Date,SellExShortVa\n2021-10-01,1\n")
    result = CliRunner().invoke(app, ["import", "table", "markets_short_ratio", str(no_key)])
    assert result.exit_code == 2
    assert "ratio.csv: missing column(s) ['S33']" in result.output
    corrupt = tmp_path / "ratio.parquet"
    corrupt.write_bytes(b"PAR1 not really")
    result = CliRunner().invoke(app, ["import", "table", "markets_short_ratio", str(corrupt)])
    assert result.exit_code == 2 and "cannot read as parquet" in result.output
    result = CliRunner().invoke(app, ["import", "table", "no_such_dataset", str(no_key)])
    assert result.exit_code == 2 and "unknown dataset 'no_such_dataset'" in result.output
    result = CliRunner().invoke(app, ["import", "table", "equities_bars_daily", str(no_key)])
    assert result.exit_code == 2 and "imported with gogooku import prices" in result.output
    options = write_kaggle_dir(tmp_path / "k") / "options.csv"
    result = CliRunner().invoke(app, ["import", "table", "fins_summary", str(options)])
    assert result.exit_code == 2
    assert "Kaggle's options layout, which imports into options_225" in result.output


def test_kaggle_sub_folders_are_imported_side_by_side(tmp_path, _isolated_home):
    folder = write_kaggle_dir(tmp_path / "kaggle")
    split = DAYS[40].isoformat()
    for sub in ("train_files", "supplemental_files"):
        (folder / sub).mkdir()
    for file in ("stock_prices.csv", "trades.csv"):
        frame = pl.read_csv(folder / file, infer_schema=False)
        early = pl.col("Date") < split
        frame.filter(early).write_csv(folder / "train_files" / file)
        frame.filter(~early).write_csv(folder / "supplemental_files" / file)
        (folder / file).unlink()
    for file in ("secondary_stock_prices.csv", "financials.csv", "options.csv"):
        (folder / file).unlink()
    result = CliRunner().invoke(app, ["import", "kaggle", str(folder)])
    assert result.exit_code == 0, result.output
    assert "train_files/stock_prices.csv -> equities_bars_daily: 120 of 120 rows" in result.output
    assert "supplemental_files/trades.csv -> equities_investor_types" in result.output
    store = RawStore(_isolated_home / "raw")
    assert {r.id for r in list_imports(store)} == {
        "kaggle",
        "kaggle-train_files-stock_prices",
        "kaggle-supplemental_files-stock_prices",
    }
    assert store.scan("equities_bars_daily").collect().height == 3 * len(DAYS)
    assert store.scan("equities_investor_types").collect().height == 3 * len(TRADE_DAYS)


@pytest.mark.slow
def test_a_build_after_the_optional_source_arrives_rebuilds_with_values(tmp_path, _isolated_home):
    folder = write_kaggle_dir(tmp_path / "kaggle")
    for file in ("secondary_stock_prices.csv", "financials.csv", "trades.csv"):
        (folder / file).unlink()
    runner = CliRunner()
    assert runner.invoke(app, ["import", "kaggle", str(folder)]).exit_code == 0
    build = ["build", "--name", "kg", "--start", START.isoformat(), "--blocks", "options"]
    first = runner.invoke(app, [*build, "--end", DAYS[60].isoformat(), "--warmup-days", "5"])
    assert first.exit_code == 0, first.output
    topix = tmp_path / "topix.csv"
    closes = [1900.0 + 3 * i + 5 * (i % 3) for i in range(len(DAYS))]
    pl.DataFrame({"Date": DAYS, "Close": closes}).write_csv(topix)
    added = runner.invoke(app, ["import", "index", str(topix), "--name", "topix"])
    assert added.exit_code == 0, added.output
    second = runner.invoke(app, [*build, "--end", DAYS[-1].isoformat(), "--warmup-days", "5"])
    assert second.exit_code == 0, second.output
    path = _isolated_home / "datasets" / "kg"
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["null_columns"] == {} and meta["incremental"] is False
    panel = pl.read_parquet(path / "panel.parquet").filter(pl.col("Date") == DAYS[50])
    assert panel["opt_vrp"].null_count() == 0


CELLS = st.sampled_from(["1", "2.5", "-", "", "x", "inf", "nan", "1e309"])
RATIO_ROWS = st.lists(
    st.tuples(
        st.sampled_from(["2021-10-01", "2021-10-04", "bad", ""]), st.sampled_from(SECTORS)
    ).flatmap(lambda key: st.tuples(st.just(key), CELLS, CELLS)),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(rows=RATIO_ROWS)
def test_every_row_is_either_stored_typed_or_reported(rows):
    text = pl.DataFrame(
        [{"Date": d or None, "S33": s, "SellExShortVa": e or None, "ShrtNoResVa": n or None}
         for (d, s), e, n in rows],
        schema=dict.fromkeys(("Date", "S33", "SellExShortVa", "ShrtNoResVa"), pl.String),
    ).with_columns(pl.int_range(pl.len(), dtype=pl.Int64).add(2).alias("_row"))  # fmt: skip
    table = type_table("markets_short_ratio", text, "r.csv")
    bad = set(table.problems["row"])
    assert table.frame.height + len(bad) == len(rows)
    assert table.frame.select(pl.struct("Date", "S33").is_duplicated().any()).item() is False
    numbers = table.frame.select("SellExShortVa", "ShrtNoResVa")
    assert numbers.select(pl.all().is_infinite().any() | pl.all().is_nan().any()).row(0) == (
        False,
        False,
    )
    assert table.frame["Date"].null_count() == 0
