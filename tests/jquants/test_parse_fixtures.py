"""parse_records on hand-written V2 responses: dtypes, null tokens, codes, flags, unknown keys."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging

import polars as pl
import pytest

from gogooku.jquants import endpoints
from gogooku.jquants.bulkfile import read_csv_gz, write_csv_gz
from gogooku.jquants.endpoints import ENDPOINTS, parse_records

from .conftest import load_fixture

D = dt.date
DERIVATIVE_OR_INDEX = {"indices_bars_daily", "options_225", "futures", "options_all"}


@pytest.mark.parametrize("endpoint_id", sorted(ENDPOINTS))
def test_every_fixture_parses_to_the_exact_schema(endpoint_id):
    records = load_fixture(endpoint_id)
    frame = parse_records(endpoint_id, records)
    assert frame.schema == ENDPOINTS[endpoint_id].schema
    assert frame.height == len(records)
    if "Code" in frame.columns and endpoint_id not in DERIVATIVE_OR_INDEX:
        assert "130A0" in frame["Code"].to_list()  # alphanumeric issue code stays a string


def test_master_values():
    frame = parse_records("equities_master", load_fixture("equities_master"))
    jpx = frame.row(0, named=True)
    assert jpx["Date"] == D(2022, 11, 11)
    assert jpx["S33"] == "7200"
    assert jpx["Mkt"] == "0111"
    assert jpx["ProdCat"] == "011"
    assert frame["ScaleCat"].to_list() == ["TOPIX Large70", None, None]  # "-" is null
    assert frame["ProdCat"].to_list() == ["011", None, "012"]  # missing key → null
    assert "ListingDate" not in frame.columns


def test_bars_values_numbers_strings_and_flags():
    frame = parse_records("equities_bars_daily", load_fixture("equities_bars_daily"))
    jpx, new, halted = frame.rows(named=True)
    assert (jpx["O"], jpx["C"], jpx["Vo"], jpx["Va"]) == (2047.0, 2045.0, 2202500.0, 4507051850.0)
    assert jpx["UL"] is False and jpx["LL"] is False
    assert jpx["MAdjC"] == 2057.0 and jpx["AVa"] == 2363226550.0
    assert jpx["MktCap"] == 1080927.3
    assert new["Code"] == "130A0"
    assert new["UL"] is True
    assert (new["O"], new["AdjFactor"], new["AdjVo"]) == (1520.0, 0.5, 697800.0)
    assert new["MktCap"] is None  # ""
    assert new["ExRT"] == "1"
    assert new["MO"] is None  # key absent (non-Premium response)
    assert halted["C"] is None and halted["Vo"] is None and halted["AdjFactor"] == 1.0


def test_calendar_and_indices():
    calendar = parse_records("markets_calendar", load_fixture("markets_calendar"))
    assert calendar["HolDiv"].to_list() == ["1", "1", "0", "1", "3"]
    assert calendar["Date"][1] == D(2020, 10, 1)
    topix = parse_records("indices_topix", load_fixture("indices_topix"))
    assert topix["C"].to_list() == [1907.38, 1887.42, None]
    assert topix["H"][1] == 1903.61
    indices = parse_records("indices_bars_daily", load_fixture("indices_bars_daily"))
    assert indices["Code"].to_list() == ["0000", "002A", "0504"]
    assert indices.filter(pl.col("Code") == "0504").row(0)[2:] == (None, None, None, 1185.33)


def test_investor_types_values():
    frame = parse_records("equities_investor_types", load_fixture("equities_investor_types"))
    first, second = frame.rows(named=True)
    assert (first["PubDate"], first["StDate"], first["EnDate"]) == (
        D(2017, 1, 13),
        D(2017, 1, 4),
        D(2017, 1, 6),
    )
    assert first["FrgnBal"] == 222260039.0
    assert first["TotTot"] == 16960146371.0
    assert first["PropBal"] == first["PropBuy"] - first["PropSell"]
    assert second["Section"] == "TSEPrime"
    assert second["FrgnBal"] == -300000000.0
    assert second["IndSell"] is None and second["OthFinBal"] is None


def test_margin_interest_and_short_ratio():
    weekly = parse_records("markets_margin_interest", load_fixture("markets_margin_interest"))
    assert weekly["IssType"].to_list() == ["2", "1", None]
    assert weekly["LongVol"].to_list() == [27600.0, 15200.0, 1562300.0]
    assert weekly["ShrtStdVol"][1] is None
    short = parse_records("markets_short_ratio", load_fixture("markets_short_ratio"))
    assert short["S33"].to_list() == ["0050", "3250", "9050"]
    assert short["ShrtWithResVa"][1] == 36207485500.0
    assert short["ShrtNoResVa"][2] is None


def test_margin_interest_parses_weekly_and_daily_rows_together(caplog):
    """A weekly row (no PubDate, no amounts) and a daily row (16 fields) in one response."""
    weekly = {"Date": "2026-09-18", "Code": "13010", "ShrtVol": 100, "LongVol": 900,
              "ShrtNegVol": 0, "LongNegVol": 100, "ShrtStdVol": 100, "LongStdVol": 800,
              "IssType": "2"}  # fmt: skip
    daily = {**weekly, "PubDate": "2026-09-28", "Date": "2026-09-25", "ShrtVal": 250000,
             "LongVal": 2250000, "ShrtNegVal": 0, "LongNegVal": 250000, "ShrtStdVal": 250000,
             "LongStdVal": 2000000}  # fmt: skip
    with caplog.at_level(logging.WARNING):
        frame = parse_records("markets_margin_interest", [weekly, daily])
    assert not caplog.records  # the daily fields are known, nothing dropped
    assert frame.schema["PubDate"] == pl.Date and frame.schema["LongVal"] == pl.Float64
    assert frame["PubDate"].to_list() == [None, D(2026, 9, 28)]
    assert frame["LongVal"].to_list() == [None, 2250000.0]
    assert frame["LongStdVal"].to_list() == [None, 2000000.0]
    assert frame["LongVol"].to_list() == [900.0, 900.0]


def test_margin_alert_struct_and_tokens():
    frame = parse_records("markets_margin_alert", load_fixture("markets_margin_alert"))
    first, second, third = frame.rows(named=True)
    assert first["PubReason"] == {
        "Restricted": False,
        "DailyPublication": False,
        "Monitoring": False,
        "RestrictedByJSF": False,
        "PrecautionByJSF": True,
        "UnclearOrSecOnAlert": False,
    }
    assert first["ShrtOutRatio"] is None and first["LongOutRatio"] is None  # "*" (ETF)
    assert first["LongOutChg"] == -20.0 and first["SLRatio"] == 1.6
    assert second["PubReason"]["Restricted"] is True  # integer flags as on the JA page
    assert second["PubReason"]["DailyPublication"] is True
    assert second["ShrtOutChg"] is None  # "-": not published the day before
    assert second["ShrtOutRatio"] == 1.52
    assert second["TSEMrgnRegCls"] == "003"
    assert third["PubReason"] is None
    assert third["AppDate"] == D(2024, 2, 8)


def test_short_sale_report_values():
    frame = parse_records("markets_short_sale_report", load_fixture("markets_short_sale_report"))
    first, second, third = frame.rows(named=True)
    assert first["ShrtPosToSO"] == 0.0053 and first["PrevRptDate"] == D(2024, 7, 25)
    assert first["DICName"] is None  # ""
    assert second["SSName"] == "個人"
    assert second["ShrtPosShares"] == 91000.0
    assert (
        second["PrevRptDate"] is None and second["PrevRptRatio"] is None and second["Notes"] is None
    )
    assert third["CalcDate"] == D(2024, 8, 1) and third["SSAddr"] is None


def test_options_and_futures():
    options = parse_records("options_225", load_fixture("options_225"))
    assert options["EO"].to_list() == [0.0, None, None]
    assert options["IV"].to_list() == [23.1816, 18.0415, None]
    assert options["PCDiv"].to_list() == ["1", "2", "2"]
    assert options["EmMrgnTrgDiv"].to_list() == ["002", "002", "001"]
    assert options["LTD"][0] == D(2025, 6, 12)
    assert options["CM"][0] == "2025-06"
    futures = parse_records("futures", load_fixture("futures"))
    assert futures["CCMFlag"].to_list() == [True, False, None]
    assert futures["MO"].to_list() == [None, None, None]
    assert futures["EC"].to_list() == [2845.0, None, None]
    assert futures["Settle"].to_list() == [2829.0, 39690.0, 2831.5]
    assert futures["ProdCat"][1] == "NK225MF"


def test_fins_summary_numeric_strings_flags_and_blanks():
    frame = parse_records("fins_summary", load_fixture("fins_summary"))
    jpx, new, revision = frame.rows(named=True)
    assert jpx["DiscTime"] == "12:00:00"
    assert jpx["DiscNo"] == "20230127594871"
    assert jpx["Sales"] == 100529000000.0 and jpx["EPS"] == 66.76
    assert jpx["OdP"] is None  # IFRS filer: no ordinary profit
    assert jpx["EqAR"] == 0.004 and jpx["FDivAnn"] == 62.0
    assert jpx["NxtFYSt"] is None
    assert jpx["ChgAcEst"] is True and jpx["MatChgSub"] is False and jpx["SigChgInC"] is None
    assert jpx["ShOutFY"] == 528578441.0
    assert new["Code"] == "130A0" and new["OP"] == -210000000.0 and new["NxFNp"] == -152000000.0
    assert new["NxtFYEn"] == D(2025, 3, 31)
    assert new["MatChgSub"] is None and new["SigChgInC"] is None
    assert revision["DocType"] == "EarnForecastRevision"
    assert revision["FSales"] == 43500000000000.0  # a JSON number is accepted as well
    assert revision["FEPS"] == 334.1 and revision["Sales"] is None


def test_earnings_date_calendar_and_dividend():
    earnings = parse_records("fins_earnings_date", load_fixture("fins_earnings_date"))
    assert earnings["SchDate"].to_list() == [D(2024, 5, 14), None, D(2024, 5, 10)]
    assert earnings["FYE"].to_list() == ["0331", "0331", "1231"]
    assert earnings["CoNameEn"][2] is None
    calendar = parse_records(
        "equities_earnings_calendar", load_fixture("equities_earnings_calendar")
    )
    assert calendar["Date"].to_list() == [D(2022, 2, 14), D(2022, 2, 14), None]
    assert calendar["FQ"].to_list() == ["第１四半期", "第３四半期", None]
    dividend = parse_records("fins_dividend", load_fixture("fins_dividend"))
    assert dividend["DivRate"].to_list() == [None, 42.5, 29.0]
    assert dividend["PayDate"].to_list() == [None, D(2023, 6, 26), None]
    assert dividend["PubTime"].to_list() == ["09:00", "15:00", "15:30"]
    assert dividend["CommDivRate"].to_list() == [None, 5.0, None]
    assert dividend["StatCode"].to_list() == ["1", "2", "1"]


def test_breakdown_values():
    frame = parse_records("markets_breakdown", load_fixture("markets_breakdown"))
    assert frame["LongSellVa"].to_list() == [115164000.0, 1520000.0, 98765432100.0]
    assert frame["MrgnSellNewVo"].to_list() == [23000.0, None, None]
    assert frame["MrgnBuyCloseVo"][0] == 63000.0


def test_unknown_keys_warn_once_per_endpoint_and_key(caplog, monkeypatch):
    monkeypatch.setattr(endpoints, "_warned_unknown", set())
    records = load_fixture("equities_bars_daily")
    with caplog.at_level(logging.WARNING, logger="gogooku.jquants.endpoints"):
        parse_records("equities_bars_daily", records)
        parse_records("equities_bars_daily", records)
        parse_records("equities_master", load_fixture("equities_master"))
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "equities_bars_daily: dropping unknown field(s) ['TradingHalt'] (not in the catalogue)",
        "equities_master: dropping unknown field(s) ['ListingDate'] (not in the catalogue)",
    ]


def test_empty_list_gives_typed_empty_frame():
    frame = parse_records("fins_summary", [])
    assert frame.height == 0
    assert frame.schema == ENDPOINTS["fins_summary"].schema
    alert = parse_records("markets_margin_alert", [])
    assert alert.schema == ENDPOINTS["markets_margin_alert"].schema


def test_integer_codes_become_strings():
    frame = parse_records("equities_bars_daily", [{"Date": "2024-01-04", "Code": 72030, "C": 1}])
    assert frame["Code"].to_list() == ["72030"]
    assert frame["C"].to_list() == [1.0]


@pytest.mark.parametrize(
    ("endpoint_id", "record", "message"),
    [
        (
            "equities_bars_daily",
            {"Date": "2024-01-04", "Code": "72030", "C": "12o5"},
            r"equities_bars_daily: field C has value '12o5' that is not a valid num",
        ),
        (
            "equities_bars_daily",
            {"Date": "2024/01/04", "Code": "72030"},
            r"equities_bars_daily: field Date has value '2024/01/04' that is not a valid date",
        ),
        (
            "equities_bars_daily",
            {"Date": "2024-02-30", "Code": "72030"},
            r"field Date has value '2024-02-30'",
        ),
        (
            "equities_bars_daily",
            {"Date": "2024-01-04", "Code": "72030", "UL": "2"},
            r"equities_bars_daily: field UL has value '2' that is not a valid flag",
        ),
        (
            "fins_summary",
            {"DiscDate": "2024-01-04", "Code": "72030", "MatChgSub": "yes"},
            r"fins_summary: field MatChgSub has value 'yes' that is not a valid tf",
        ),
        (
            "markets_margin_alert",
            {"PubDate": "2024-01-04", "Code": "72030", "PubReason": {"Monitoring": "x"}},
            r"markets_margin_alert: field PubReason.Monitoring has value 'x'",
        ),
    ],
)
def test_unconvertible_value_names_endpoint_field_and_value(endpoint_id, record, message):
    with pytest.raises(ValueError, match=message):
        parse_records(endpoint_id, [record])


@pytest.mark.parametrize("bad", [[1.0], {"v": 1.0}])
def test_non_scalar_value_names_endpoint_and_field(bad):
    with pytest.raises(
        ValueError, match=r"equities_bars_daily: field O has value .* not a valid num"
    ):
        parse_records("equities_bars_daily", [{"Date": "2024-01-04", "Code": "72030", "O": bad}])


def test_json_numbers_and_numeric_strings_parse_alike():
    numbers = [{"Date": "2024-01-04", "Code": "72030", "C": 2045.5, "Vo": 12}]
    strings = [{"Date": "2024-01-04", "Code": "72030", "C": "2045.5", "Vo": "12"}]
    assert parse_records("equities_bars_daily", numbers).equals(
        parse_records("equities_bars_daily", strings)
    )


def test_valuation_values_and_nulls():
    frame = parse_records("equities_valuation", load_fixture("equities_valuation"))
    toyota, etf, loss = frame.rows(named=True)
    assert (toyota["PER"], toyota["PBR"], toyota["ROE"], toyota["MktCap"]) == (
        7.6,
        1.0,
        0.1374,
        42446123.5,
    )
    assert all(etf[c] is None for c in frame.columns if c not in ("Date", "Code"))
    assert loss["PER"] == -88.5 and loss["FwdPER"] is None and loss["FwdEPS"] is None


def test_minute_bars_accept_both_time_forms_and_keep_the_minute():
    frame = parse_records("equities_bars_minute", load_fixture("equities_bars_minute"))
    assert frame["Time"].to_list() == ["09:00", "15:30", "11:30"]
    assert frame.row(2, named=True)["Vo"] == 300.0
    with pytest.raises(ValueError, match=r"equities_bars_minute: field Time has value '9h00'"):
        parse_records(
            "equities_bars_minute", [{**load_fixture("equities_bars_minute")[0], "Time": "9h00"}]
        )


def test_trades_and_morning_bars_and_all_options():
    trades = parse_records("equities_trades", load_fixture("equities_trades"))
    assert trades["Time"][0] == "09:00:00.123456"
    assert trades["SessionDistinction"].to_list() == ["01", "02", "01"]
    assert trades["TradingVolume"].to_list() == [24500.0, 1234500.0, 300.0]
    am = parse_records("equities_bars_daily_am", load_fixture("equities_bars_daily_am"))
    assert am.row(0, named=True)["MC"] == 2826.0 and am.row(1, named=True)["MC"] is None
    options = parse_records("options_all", load_fixture("options_all"))
    topix, stock = options.rows(named=True)
    assert (topix["ProdCat"], topix["UndSSO"], topix["MO"], topix["IV"]) == (
        "TOPIXE",
        None,
        None,
        17.42,
    )
    assert (stock["UndSSO"], stock["CCMFlag"], stock["Strike"]) == ("72030", False, 2900.0)


def test_fins_details_line_items_per_accounting_standard():
    frame = parse_records("fins_details", load_fixture("fins_details"))
    jp, ifrs, us = frame.rows(named=True)
    assert (jp["AcctStd"], jp["PerType"], ifrs["AcctStd"], us["AcctStd"]) == (
        "Japan GAAP",
        "FY",
        "IFRS",
        "US GAAP",
    )
    assert (jp["TA"], jp["CurA"], jp["CurL"], jp["Eq"], jp["NP"], jp["CFO"]) == (
        1.2e9,
        5e8,
        2.5e8,
        5e8,
        6e7,
        7.5e7,
    )
    assert jp["Inv"] == 5e7  # merchandise + raw materials; work in process absent
    assert jp["Debt"] == 2e8  # short + long borrowings; blank bonds payable is no value
    assert (jp["Capex"], jp["CFI"], jp["Dep"]) == (-3.5e7, -4e7, 2e7)
    assert (ifrs["TA"], ifrs["Eq"], ifrs["Debt"], ifrs["NP"]) == (9e13, 3.5e13, 3e6, -1.5e12)
    assert ifrs["CurA"] is None and ifrs["Capex"] is None  # labels the record lacks
    assert us["TA"] == 5000.0 and us["CFO"] is None  # "-" is no value
    assert us["DiscTime"] is None
    assert json.loads(jp["FS"])["Goodwill"] == "1000000"  # unmapped labels stay in FS


def test_fins_details_round_trips_through_records_and_bulk_csv():
    frame = parse_records("fins_details", load_fixture("fins_details"))
    records = endpoints.to_records("fins_details", frame)
    assert isinstance(records[0]["FS"], dict) and "TA" not in records[0]
    assert parse_records("fins_details", records).equals(frame)
    data = write_csv_gz("fins_details", frame, frozenset())
    assert read_csv_gz("fins_details", data).equals(frame)


def test_fins_details_fs_that_is_not_an_object_names_the_field():
    with pytest.raises(ValueError, match=r"fins_details: field FS has value 1 that is not a JSON"):
        parse_records("fins_details", [{"DiscDate": "2025-05-13", "Code": "86970", "FS": 1}])


def test_td_list_arrays_are_stored_pipe_joined_and_round_trip_through_json_and_csv():
    frame = parse_records("td_list", load_fixture("td_list"))
    assert frame["DiscItems"].to_list() == ["101", "201|301", None]  # [] is null
    assert frame["Docs"].to_list() == ["g|s|x", "g", "g"]
    assert frame["DiscTime"].to_list() == ["15:00", "07:45", "16:10"]
    assert frame["DiscStatus"].null_count() == 3 and frame["RevNo"].to_list() == ["1"] * 3
    records = endpoints.to_records("td_list", frame)
    assert records[1]["DiscItems"] == ["201", "301"] and records[2]["DiscItems"] == []
    assert parse_records("td_list", records).equals(frame)
    data = write_csv_gz("td_list", frame, frozenset())
    header, second = gzip.decompress(data).decode().splitlines()[:3:2]
    assert header == "DiscNo,Code,Name,DiscDate,DiscTime,Title,DiscStatus,RevNo,DiscItems,Docs"
    assert second.endswith(",201|301,g")
    assert read_csv_gz("td_list", data).equals(frame)


def test_edinet_nested_lists_are_kept_as_json_text():
    major = parse_records("edinet_major_shareholders", load_fixture("edinet_major_shareholders"))
    toyota, wholly_owned, no_list = major.rows(named=True)
    holders = json.loads(toyota["Hldrs"])
    assert [h["Ratio"] for h in holders] == [0.1555, 0.0911]
    assert holders[1]["Address"] == "愛知県刈谷市"  # a sub-field we do not know survives
    assert json.loads(wholly_owned["Hldrs"]) == [{"Name": "親会社株式会社", "Ratio": 1.0}]
    assert no_list["Hldrs"] is None and no_list["FilerNameEn"] is None
    assert (toyota["SubDate"], toyota["SubTime"], toyota["PerEn"]) == (
        D(2025, 6, 18),
        "15:01:00",
        D(2025, 3, 31),
    )
    cross = parse_records("edinet_cross_shareholdings", load_fixture("edinet_cross_shareholdings"))
    report = json.loads(cross["Report"][0])
    assert report["ListedBookValue"] == 5432100.0 and report["Spec"][0]["Code"] == "69020"
    assert cross["SecondLargest"].to_list() == [None, None]  # JSON null and an absent key


def test_edinet_large_volume_numbers_from_numbers_and_strings():
    frame = parse_records(
        "edinet_large_volume_shareholders", load_fixture("edinet_large_volume_shareholders")
    )
    first, change = frame.rows(named=True)
    assert (first["TotalShsRatio"], first["TotalShsRatioLast"], first["ChgRsn"]) == (
        0.0612,
        None,
        None,
    )
    assert (change["TotalShsRatio"], change["TotalOutStks"]) == (0.0489, 15794987460.0)
    assert len(json.loads(first["Hldrs"])) == 2
