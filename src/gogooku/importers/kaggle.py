"""Kaggle "JPX Tokyo Stock Exchange Prediction" side files in the J-Quants V2 layout.

``financials.csv`` → ``fins_summary``, ``options.csv`` → ``options_225`` and ``trades.csv`` →
``equities_investor_types``: each Kaggle column is renamed to its V2 field (``FINANCIALS``,
``OPTIONS``, ``trades_columns()``; the tables in docs/importers.md), the text is brought to the
V2 wire form, and the rows are typed and checked by ``gogooku.importers.v2.type_table`` (problem
rows name the Kaggle column). Conversions:

- dates ``YYYYMMDD`` or ``YYYY-MM-DD[ time]`` → ``YYYY-MM-DD``; ``ContractMonth`` ``YYYYMM`` →
  ``CM`` ``YYYY-MM``; codes and numbers written as floats (``7888.0``) lose the ``.0``;
  ``"－"`` (the full-width dash Kaggle writes for "not reported") → null;
- ``SecuritiesCode`` 4 characters → 5 with J-Quants' trailing 0;
- options: ``EmMrgnTrgDiv`` = ``"002"`` (Kaggle has one settlement row per contract and day);
  ``UnderPx`` (absent from Kaggle) = the put-call-parity forward of the nearest contract month,
  F = K* + C(K*) − P(K*) at the strike K* whose call and put settlement prices C, P are closest
  (carry over the month ignored);
- trades: ``Date`` (or ``PublishedDate``) → ``PubDate``; ``Section`` labels → V2 section codes
  (``SECTIONS``; other labels are kept as written and named in the notes);
- rows that carry nothing but a date (Kaggle's trades.csv has one per trading day without a
  publication) are left out and counted in the notes.
"""

from __future__ import annotations

import polars as pl

from gogooku.importers.v2 import ROW, TypedTable, type_table
from gogooku.jquants.endpoint_fields import INVESTOR_GROUPS
from gogooku.jquants.endpoints import ENDPOINTS

FULLWIDTH_DASH = "－"
NORMAL_MARGIN = "002"
PUT, CALL = "1", "2"

FINANCIALS = {
    "DisclosureNumber": "DiscNo",
    "SecuritiesCode": "Code",
    "LocalCode": "Code",
    "DisclosedDate": "DiscDate",
    "DisclosedTime": "DiscTime",
    "TypeOfDocument": "DocType",
    "TypeOfCurrentPeriod": "CurPerType",
    "CurrentPeriodStartDate": "CurPerSt",
    "CurrentPeriodEndDate": "CurPerEn",
    "CurrentFiscalYearStartDate": "CurFYSt",
    "CurrentFiscalYearEndDate": "CurFYEn",
    "NextFiscalYearStartDate": "NxtFYSt",
    "NextFiscalYearEndDate": "NxtFYEn",
    "NetSales": "Sales",
    "OperatingProfit": "OP",
    "OrdinaryProfit": "OdP",
    "Profit": "NP",
    "EarningsPerShare": "EPS",
    "TotalAssets": "TA",
    "Equity": "Eq",
    "EquityToAssetRatio": "EqAR",
    "BookValuePerShare": "BPS",
    "ResultDividendPerShare1stQuarter": "Div1Q",
    "ResultDividendPerShare2ndQuarter": "Div2Q",
    "ResultDividendPerShare3rdQuarter": "Div3Q",
    "ResultDividendPerShareFiscalYearEnd": "DivFY",
    "ResultDividendPerShareAnnual": "DivAnn",
    "ForecastDividendPerShare1stQuarter": "FDiv1Q",
    "ForecastDividendPerShare2ndQuarter": "FDiv2Q",
    "ForecastDividendPerShare3rdQuarter": "FDiv3Q",
    "ForecastDividendPerShareFiscalYearEnd": "FDivFY",
    "ForecastDividendPerShareAnnual": "FDivAnn",
    "ForecastNetSales": "FSales",
    "ForecastOperatingProfit": "FOP",
    "ForecastOrdinaryProfit": "FOdP",
    "ForecastProfit": "FNP",
    "ForecastEarningsPerShare": "FEPS",
    "MaterialChangesInSubsidiaries": "MatChgSub",
    "SignificantChangesInTheScopeOfConsolidation": "SigChgInC",
    "ChangesBasedOnRevisionsOfAccountingStandard": "ChgByASRev",
    "ChangesOtherThanOnesBasedOnRevisionsOfAccountingStandard": "ChgNoASRev",
    "ChangesInAccountingEstimates": "ChgAcEst",
    "RetrospectiveRestatement": "RetroRst",
    "NumberOfIssuedAndOutstandingSharesAtTheEndOfFiscalYearIncludingTreasuryStock": "ShOutFY",
    "NumberOfTreasuryStockAtTheEndOfFiscalYear": "TrShFY",
    "AverageNumberOfShares": "AvgSh",
}

OPTIONS = {
    "Date": "Date",
    "OptionsCode": "Code",
    "WholeDayOpen": "O",
    "WholeDayHigh": "H",
    "WholeDayLow": "L",
    "WholeDayClose": "C",
    "NightSessionOpen": "EO",
    "NightSessionHigh": "EH",
    "NightSessionLow": "EL",
    "NightSessionClose": "EC",
    "DaySessionOpen": "AO",
    "DaySessionHigh": "AH",
    "DaySessionLow": "AL",
    "DaySessionClose": "AC",
    "TradingVolume": "Vo",
    "OpenInterest": "OI",
    "TradingValue": "Va",
    "ContractMonth": "CM",
    "StrikePrice": "Strike",
    "Putcall": "PCDiv",
    "LastTradingDay": "LTD",
    "SpecialQuotationDay": "SQD",
    "SettlementPrice": "Settle",
    "TheoreticalPrice": "Theo",
    "BaseVolatility": "BaseVol",
    "ImpliedVolatility": "IV",
    "InterestRate": "IR",
}

# Kaggle investor-group prefix → V2 group (V2 field = group + Sell/Buy/Tot/Bal).
TRADE_GROUPS = {
    "Proprietary": "Prop",
    "Brokerage": "Brk",
    "Total": "Tot",
    "Individuals": "Ind",
    "Foreigners": "Frgn",
    "SecuritiesCos": "SecCo",
    "InvestmentTrusts": "InvTr",
    "BusinessCos": "BusCo",
    "OtherInstitutions": "OthCo",
    "OtherCos": "OthCo",
    "InsuranceCos": "InsCo",
    "CityBKsRegionalBKsEtc": "Bank",
    "TrustBanks": "TrstBnk",
    "OtherFinancialInstitutions": "OthFin",
}
TRADE_MEASURES = {"Sales": "Sell", "Purchases": "Buy", "Purchase": "Buy", "Total": "Tot"} | {
    "Balance": "Bal"
}
SECTIONS = {
    "Prime Market (First Section)": "TSEPrime",
    "Standard Market (Second Section)": "TSEStandard",
    "Growth Market (Mothers/JASDAQ)": "TSEGrowth",
}

DROPPED = {
    "financials": {
        "DateCode": "Date and SecuritiesCode joined",
        "Date": "the trading date Kaggle aligned the row to; DiscDate/DiscTime date the record",
        "DisclosedUnixTime": "DiscDate + DiscTime",
        "ApplyingOfSpecificAccountingOfTheQuarterlyFinancialStatements": "no V2 field",
    },
    "options": {
        "DateCode": "Date and OptionsCode joined",
        "DaySessionVolume": "no V2 field (VoOA is the auction-only volume, not the day session's)",
        "DividendRate": "no V2 field",
        "Dividend": "no V2 field",
    },
    "trades": {},
}

LAYOUTS = {
    "financials": (
        "fins_summary",
        frozenset({"DisclosureNumber", "DisclosedDate", "TypeOfDocument"}),
    ),
    "options": ("options_225", frozenset({"OptionsCode", "Putcall", "StrikePrice"})),
    "trades": ("equities_investor_types", frozenset({"Section", "ForeignersSales", "TotalSales"})),
}


def trades_columns(columns: list[str]) -> dict[str, str]:
    """Kaggle trades column → V2 field, for the given columns (see ``TRADE_GROUPS``)."""
    known = set(INVESTOR_GROUPS)
    mapping = {"StartDate": "StDate", "EndDate": "EnDate", "Section": "Section"}
    mapping["PublishedDate" if "PublishedDate" in columns else "Date"] = "PubDate"
    for group, v2 in TRADE_GROUPS.items():
        for measure, suffix in TRADE_MEASURES.items():
            if f"{group}{measure}" in columns and v2 in known:
                mapping[f"{group}{measure}"] = f"{v2}{suffix}"
    return mapping


def detect_layout(columns: list[str]) -> str | None:
    """``financials``, ``options`` or ``trades`` when the columns are that Kaggle file's."""
    names = set(columns)
    return next((k for k, (_, need) in LAYOUTS.items() if need <= names), None)


def _iso_date(expr: pl.Expr) -> pl.Expr:
    compact = expr.str.replace(r"^(\d{4})(\d{2})(\d{2})$", "$1-$2-$3")
    return compact.str.replace(r"^(\d{4}-\d{2}-\d{2})[ T].*$", "$1")


def _no_float_suffix(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace(r"\.0+$", "")


def _renamed(raw: pl.DataFrame, mapping: dict[str, str], dataset: str) -> pl.DataFrame:
    """The mapped columns under their V2 names, as V2 wire text (module doc)."""
    kinds = {s.name: s.kind for s in ENDPOINTS[dataset].fields}
    present = {k: v for k, v in mapping.items() if k in raw.columns}
    frame = raw.select(ROW, *(pl.col(k).alias(v) for k, v in present.items()))
    cleaned = []
    for name in frame.columns[1:]:
        value = pl.col(name).str.strip_chars()
        value = pl.when(value == FULLWIDTH_DASH).then(None).otherwise(value)
        if kinds[name] == "date":
            value = _iso_date(value)
        if name in ("Code", "DiscNo", "PCDiv"):
            value = _no_float_suffix(value)
        cleaned.append(value.alias(name))
    return frame.with_columns(cleaned)


def _without_placeholders(frame: pl.DataFrame, date_col: str) -> tuple[pl.DataFrame, int]:
    """Rows with any value besides ``date_col``, and the number of rows left out."""
    values = [c for c in frame.columns if c not in (ROW, date_col)]
    kept = frame.filter(pl.any_horizontal(pl.col(c).is_not_null() for c in values))
    return kept, frame.height - kept.height


def implied_underlying(bars: pl.DataFrame) -> pl.DataFrame:
    """``Date, UnderPx``: put-call-parity forward of each date's nearest contract month.

    Per (Date, CM) the strike K* minimising |C − P| over strikes with both a call and a put
    settlement price > 0 gives F = K* + C − P; the date's value is F of its earliest ``CM``.
    """
    legs = bars.filter(pl.col("Settle") > 0).select("Date", "CM", "Strike", "PCDiv", "Settle")
    calls = legs.filter(pl.col("PCDiv") == CALL).drop("PCDiv")
    puts = legs.filter(pl.col("PCDiv") == PUT).drop("PCDiv")
    gap = pl.col("Settle") - pl.col("Settle_put")
    return (
        calls.join(puts, on=["Date", "CM", "Strike"], suffix="_put")
        .sort("Date", "CM", gap.abs(), "Strike")
        .group_by("Date", maintain_order=True)
        .first()
        .select("Date", (pl.col("Strike") + gap).alias("UnderPx"))
    )


def convert(layout: str, raw: pl.DataFrame, file: str) -> TypedTable:
    """A Kaggle side file (``read_strings`` frame) as typed V2 rows with problems (module doc)."""
    dataset = LAYOUTS[layout][0]
    notes = []
    if layout == "financials":
        frame = _renamed(raw, FINANCIALS, dataset)
    elif layout == "options":
        frame = _renamed(raw, OPTIONS, dataset).with_columns(
            pl.col("CM").str.replace(r"^(\d{4})(\d{2})$", "$1-$2"),
            pl.lit(NORMAL_MARGIN).alias("EmMrgnTrgDiv"),
        )
    else:
        frame = _renamed(raw, trades_columns(raw.columns), dataset)
        unknown = sorted(
            set(frame["Section"].drop_nulls().unique()) - set(SECTIONS) - set(SECTIONS.values())
        )
        if unknown:
            notes.append(f"{file}: Section label(s) kept as written: {', '.join(unknown)}")
        frame = frame.with_columns(pl.col("Section").replace(SECTIONS))
    date_col = ENDPOINTS[dataset].date_field
    frame, placeholders = _without_placeholders(frame, date_col)
    if placeholders:
        notes.append(f"{file}: {placeholders} row(s) with only a date left out")
    dropped = [c for c in DROPPED[layout] if c in raw.columns]
    if dropped:
        notes.append(f"{file}: column(s) without a V2 field dropped: {', '.join(dropped)}")
    typed = type_table(dataset, frame, file)
    problems = typed.problems.with_columns(pl.col("column").replace(_inverse(raw.columns, layout)))
    rows = typed.frame
    if layout == "options" and rows.height:
        rows = rows.drop("UnderPx").join(implied_underlying(rows), on="Date", how="left")
        rows = rows.select(list(ENDPOINTS[dataset].schema))
    return TypedTable(dataset, rows, problems, raw.height, notes + typed.notes)


def _inverse(columns: list[str], layout: str) -> dict[str, str]:
    """V2 field → the Kaggle column it came from (for problem reports)."""
    mapping = {"financials": FINANCIALS, "options": OPTIONS}.get(layout) or trades_columns(columns)
    return {v: k for k, v in mapping.items() if k in columns}
