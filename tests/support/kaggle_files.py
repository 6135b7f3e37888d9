"""A tiny Kaggle "JPX Tokyo Stock Exchange Prediction" folder: all five files plus stock_list.csv.

Three scored stocks (1301, 7203, 9984) and one secondary (1305) over ``DAYS`` (80 XTKS sessions
from 2021-09-01). The side files carry values chosen so that a test can check one point-in-time
value per block by hand:

- financials.csv: 7203's FY statement (equity ratio 0.5) at 09:00 on ``DAYS[5]``, then its 1Q
  statement (equity ratio 0.4) at 15:30 on ``STMT_DAY``, after the close;
- options.csv: each day d, two contract months with strikes 27000..29000 priced at parity around
  the underlying S_d = 28100 + 5 d (the ATM strike is 28000), ATM IV = ``atm_iv(d)``;
- trades.csv: weekly records of the three Kaggle sections published on Thursdays
  (``TRADE_DAYS``), foreigners' balance / total = ``foreign_ratio(k)`` for the k-th week, plus one
  date-only row per other session (as Kaggle writes them).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from gogooku.calendar import TradingCalendar

_CAL = TradingCalendar.from_xtks(date(2021, 9, 1), date(2022, 3, 31))
DAYS = _CAL.days(date(2021, 9, 1), date(2022, 3, 31))[:80]
STMT_DAY = DAYS[40]
STRIKES = (27000.0, 27500.0, 28000.0, 28500.0, 29000.0)
SQ_DAYS = (date(2021, 10, 8), date(2021, 11, 12), date(2021, 12, 10), date(2022, 1, 14))
SQ_DAYS += (date(2022, 2, 10),)
TRADE_DAYS = [d for d in DAYS if d.weekday() == 3][1:]
KAGGLE_SECTIONS = (
    "Prime Market (First Section)",
    "Standard Market (Second Section)",
    "Growth Market (Mothers/JASDAQ)",
)
PRICE_CODES = {1301: 2000.0, 7203: 1000.0, 9984: 500.0}
SECONDARY_CODES = {1305: 1600.0}


def atm_iv(i: int) -> float:
    return 15.0 + (i % 10)


def foreign_ratio(k: int) -> float:
    return 0.1 * ((k % 5) - 2)


def underlying(i: int) -> float:
    return 28100.0 + 5.0 * i


def _prices(codes: dict[int, float]) -> pl.DataFrame:
    rows = []
    for code, start in codes.items():
        close = start
        for i, day in enumerate(DAYS):
            close *= 1.0 + 0.01 * ((i * code) % 7 - 3) / 3
            rows.append(
                {
                    "RowId": f"{day:%Y%m%d}_{code}",
                    "Date": day.isoformat(),
                    "SecuritiesCode": code,
                    "Open": round(close * 0.999, 1),
                    "High": round(close * 1.01, 1),
                    "Low": round(close * 0.98, 1),
                    "Close": round(close, 1),
                    "Volume": 1000 + i,
                    "AdjustmentFactor": 1.0,
                    "ExpectedDividend": None,
                    "SupervisionFlag": False,
                    "Target": 0.0,
                }
            )
    return pl.DataFrame(rows)


def _stock_list() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "SecuritiesCode": [1301, 1305, 7203, 9984],
            "EffectiveDate": ["20211230"] * 4,
            "Name": ["KYOKUYO", "TOPIX ETF", "TOYOTA", "SOFTBANK"],
            "SecuritiesType": ["Domestic", "ETF", "Domestic", "Domestic"],
            "NewMarketSegment": ["Prime Market", None, "Prime Market", "Standard Market"],
            "33SectorCode": ["50", "-", "3700", "5250"],
            "33SectorName": ["Fishery", "-", "Transportation Equipment", "Information"],
            "17SectorCode": ["1", "-", "6", "10"],
            "17SectorName": ["FOODS", "-", "AUTOMOBILES", "IT"],
            "NewIndexSeriesSize": ["TOPIX Small 2", "-", "TOPIX Core30", "-"],
            "Universe0": [True, False, True, True],
        }
    )


def _financial(code: int, number: str, day: date, time: str, period: str, eq: float) -> dict:
    fy_start, fy_end = "2021-04-01", "2022-03-31"
    period_end = {"FY": "2021-03-31", "1Q": "2021-06-30"}[period]
    return {
        "DisclosureNumber": number,
        "DateCode": f"{day:%Y%m%d}_{code}",
        "Date": day.isoformat(),
        "SecuritiesCode": str(code),
        "DisclosedDate": day.isoformat(),
        "DisclosedTime": time,
        "DisclosedUnixTime": "1630000000.0",
        "TypeOfDocument": f"{period}FinancialStatements_Consolidated_IFRS",
        "CurrentPeriodEndDate": period_end,
        "TypeOfCurrentPeriod": period,
        "CurrentFiscalYearStartDate": "2020-04-01" if period == "FY" else fy_start,
        "CurrentFiscalYearEndDate": "2021-03-31" if period == "FY" else fy_end,
        "NetSales": "27214594000000" if period == "FY" else "7935772000000",
        "OperatingProfit": "2197748000000" if period == "FY" else "997425000000",
        "OrdinaryProfit": "－",
        "Profit": "2245261000000" if period == "FY" else "897756000000",
        "EarningsPerShare": "805.23",
        "TotalAssets": "1000",
        "Equity": str(eq),
        "EquityToAssetRatio": str(eq / 1000),
        "BookValuePerShare": "8310.41",
        "ResultDividendPerShare1stQuarter": "－",
        "ResultDividendPerShare2ndQuarter": "105.0",
        "ResultDividendPerShare3rdQuarter": "－",
        "ResultDividendPerShareFiscalYearEnd": "135.0",
        "ResultDividendPerShareAnnual": "240.0",
        "ForecastDividendPerShare1stQuarter": "－",
        "ForecastDividendPerShare2ndQuarter": "－",
        "ForecastDividendPerShare3rdQuarter": "－",
        "ForecastDividendPerShareFiscalYearEnd": "－",
        "ForecastDividendPerShareAnnual": "－",
        "ForecastNetSales": "30000000000000",
        "ForecastOperatingProfit": "2500000000000",
        "ForecastOrdinaryProfit": "－",
        "ForecastProfit": "2300000000000",
        "ForecastEarningsPerShare": "820.0",
        "ApplyingOfSpecificAccountingOfTheQuarterlyFinancialStatements": "－",
        "MaterialChangesInSubsidiaries": "FALSE",
        "ChangesBasedOnRevisionsOfAccountingStandard": "FALSE",
        "ChangesOtherThanOnesBasedOnRevisionsOfAccountingStandard": "FALSE",
        "ChangesInAccountingEstimates": "TRUE",
        "RetrospectiveRestatement": "－",
        "NumberOfIssuedAndOutstandingSharesAtTheEndOfFiscalYearIncludingTreasuryStock": (
            "3262997492"
        ),
        "NumberOfTreasuryStockAtTheEndOfFiscalYear": "462997492",
        "AverageNumberOfShares": "2800000000",
    }


def financials() -> pl.DataFrame:
    rows = [
        _financial(7203, "20210512400001", DAYS[5], "09:00:00", "FY", 500.0),
        _financial(7203, "20210804400002", STMT_DAY, "15:30:00", "1Q", 400.0),
    ]
    placeholder = dict.fromkeys(rows[0], None) | {"Date": DAYS[6].isoformat()}
    return pl.DataFrame([*rows, placeholder], schema=dict.fromkeys(rows[0], pl.String))


def options() -> pl.DataFrame:
    rows = []
    for i, day in enumerate(DAYS):
        spot = underlying(i)
        for sq in [s for s in SQ_DAYS if s > day][:2]:
            for strike in STRIKES:
                for putcall in (1, 2):
                    intrinsic = max(spot - strike, 0.0) if putcall == 2 else max(strike - spot, 0.0)
                    settle = intrinsic + 200.0
                    iv = atm_iv(i) + abs(strike - 28000.0) / 500.0
                    rows.append(
                        {
                            "DateCode": f"{day:%Y%m%d}_{putcall}{sq:%y%m}{int(strike)}",
                            "Date": day.isoformat(),
                            "OptionsCode": f"1{putcall}{sq:%y%m}{int(strike) // 10:04d}",
                            "WholeDayOpen": settle,
                            "WholeDayHigh": settle + 10,
                            "WholeDayLow": settle - 10,
                            "WholeDayClose": settle,
                            "NightSessionOpen": 0.0,
                            "NightSessionHigh": 0.0,
                            "NightSessionLow": 0.0,
                            "NightSessionClose": 0.0,
                            "DaySessionOpen": settle,
                            "DaySessionHigh": settle + 10,
                            "DaySessionLow": settle - 10,
                            "DaySessionClose": settle,
                            "TradingVolume": 100 + putcall,
                            "OpenInterest": 1000 * putcall,
                            "TradingValue": 100 * settle,
                            "ContractMonth": f"{sq:%Y%m}",
                            "StrikePrice": strike,
                            "DaySessionVolume": 100,
                            "Putcall": putcall,
                            "LastTradingDay": f"{sq - timedelta(days=1):%Y%m%d}",
                            "SpecialQuotationDay": f"{sq:%Y%m%d}",
                            "SettlementPrice": settle,
                            "TheoreticalPrice": settle,
                            "BaseVolatility": 18.0,
                            "ImpliedVolatility": iv,
                            "InterestRate": 0.0,
                            "DividendRate": 0.0,
                            "Dividend": 0.0,
                        }
                    )
    return pl.DataFrame(rows)


def trades() -> pl.DataFrame:
    measures = ("Sales", "Purchases", "Total", "Balance")
    groups = ("Total", "Proprietary", "Brokerage", "Individuals", "Foreigners", "TrustBanks")
    columns = [f"{g}{m}" for g in groups for m in measures] + ["CityBKsRegionalBKsEtcPurchase"]
    rows = []
    published = set(TRADE_DAYS)
    for day in DAYS:
        if day not in published:
            rows.append({"Date": day.isoformat()})
            continue
        k = TRADE_DAYS.index(day)
        monday = day - timedelta(days=10)
        for section in KAGGLE_SECTIONS:
            row = {
                "Date": day.isoformat(),
                "StartDate": monday.isoformat(),
                "EndDate": (monday + timedelta(days=4)).isoformat(),
                "Section": section,
            }
            for group in groups:
                total = 1000.0
                balance = total * foreign_ratio(k) if group == "Foreigners" else 10.0
                row |= {
                    f"{group}Purchases": (total + balance) / 2,
                    f"{group}Sales": (total - balance) / 2,
                    f"{group}Total": total,
                    f"{group}Balance": balance,
                }
            rows.append(row | {"CityBKsRegionalBKsEtcPurchase": 5.0})
    return pl.DataFrame(
        rows,
        schema={"Date": pl.String, "StartDate": pl.String}
        | {"EndDate": pl.String, "Section": pl.String}
        | dict.fromkeys(columns, pl.Float64),
    )


def write_kaggle_dir(root: Path) -> Path:
    """The six files under ``root`` (created); returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    _prices(PRICE_CODES).write_csv(root / "stock_prices.csv")
    _prices(SECONDARY_CODES).write_csv(root / "secondary_stock_prices.csv")
    _stock_list().write_csv(root / "stock_list.csv")
    financials().write_csv(root / "financials.csv")
    options().write_csv(root / "options.csv")
    trades().write_csv(root / "trades.csv")
    return root
