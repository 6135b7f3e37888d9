"""A small hand-made market in catalogue schema, and helpers to serve it on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import polars as pl
import pytest

from gogooku.httpserver import background_server
from gogooku.jquants.endpoints import parse_records
from gogooku.synth.api import create_app

CODES = ("13010", "130A0", "72030")
DAYS = [
    dt.date(2024, 1, 4) + dt.timedelta(days=i)
    for i in range(87)
    if (dt.date(2024, 1, 4) + dt.timedelta(days=i)).weekday() < 5
]
LAST_DAY = DAYS[-1]  # 2024-03-29


@dataclass
class HandMarket:
    tables: dict[str, pl.DataFrame]


def _bars() -> pl.DataFrame:
    records = [
        {
            "Date": day.isoformat(),
            "Code": code,
            "O": 100.0 + t,
            "H": 105.0 + t,
            "L": 95.0 + t,
            "C": 101.0 + t + k,
            "UL": "1" if (t + k) % 7 == 0 else "0",
            "LL": "0",
            "Vo": 1000.0 * (k + 1),
            "Va": 101000.0 * (k + 1),
            "AdjFactor": 1.0,
            "AdjC": 101.0 + t + k,
            "MO": 100.0 + t,
            "MUL": "0",
        }
        for t, day in enumerate(DAYS)
        for k, code in enumerate(CODES)
    ]
    return parse_records("equities_bars_daily", records)


def _master() -> pl.DataFrame:
    snapshot_days = [DAYS[0], DAYS[20]]
    records = [
        {
            "Date": day.isoformat(),
            "Code": code,
            "CoName": f"銘柄{code}",
            "S33": s33,
            "Mkt": "0111" if i == 0 else "0112",
            "ScaleCat": "-",
        }
        for i, day in enumerate(snapshot_days)
        for code, s33 in zip(CODES, ("0050", "3250", "3700"), strict=True)
    ]
    return parse_records("equities_master", records)


def _calendar() -> pl.DataFrame:
    start = dt.date(2023, 12, 25)
    days = [start + dt.timedelta(days=i) for i in range(120)]
    records = [
        {"Date": d.isoformat(), "HolDiv": "1" if d in DAYS else "0"} for d in days if d <= LAST_DAY
    ]
    return parse_records("markets_calendar", records)


def _fins_summary() -> pl.DataFrame:
    records = [
        {
            "DiscDate": DAYS[i].isoformat(),
            "DiscTime": "15:00:00",
            "Code": code,
            "DiscNo": f"2024{i:02d}{k:04d}",
            "DocType": "3QFinancialStatements_Consolidated_JP",
            "Sales": str(1_000_000 * (k + 1)),
            "EPS": "12.5",
            "OdP": "",
            "MatChgSub": "false",
        }
        for i in (3, 30)
        for k, code in enumerate(CODES)
    ]
    return parse_records("fins_summary", records)


def _earnings_date() -> pl.DataFrame:
    records = [
        {
            "PubDate": "2024-02-01",
            "SchDate": "2024-03-05",
            "FQName": "FY",
            "FYE": "1231",
            "Code": "13010",
        },
        {
            "PubDate": "2024-02-20",
            "SchDate": "2024-03-12",
            "FQName": "FY",
            "FYE": "1231",
            "Code": "13010",
        },
        {
            "PubDate": "2024-02-01",
            "SchDate": "2024-03-05",
            "FQName": "3Q",
            "FYE": "0331",
            "Code": "130A0",
        },
        {"PubDate": "2024-02-05", "SchDate": "", "FQName": "FY", "FYE": "0331", "Code": "72030"},
    ]
    return parse_records("fins_earnings_date", records)


def _short_sale_report() -> pl.DataFrame:
    records = [
        {
            "DiscDate": "2024-02-01",
            "CalcDate": "2024-01-31",
            "Code": "13010",
            "SSName": "A",
            "ShrtPosToSO": 0.006,
        },
        {
            "DiscDate": "2024-02-01",
            "CalcDate": "2024-01-30",
            "Code": "72030",
            "SSName": "B",
            "ShrtPosToSO": 0.005,
        },
        {
            "DiscDate": "2024-02-02",
            "CalcDate": "2024-01-31",
            "Code": "72030",
            "SSName": "C",
            "ShrtPosToSO": 0.007,
        },
    ]
    return parse_records("markets_short_sale_report", records)


def _earnings_calendar() -> pl.DataFrame:
    records = [
        {"Date": "2024-03-28", "Code": "13010", "CoName": "a", "FQ": "第３四半期"},
        {"Date": "2024-04-01", "Code": "130A0", "CoName": "b", "FQ": "本決算"},
        {"Date": "2024-04-01", "Code": "72030", "CoName": "c", "FQ": "本決算"},
        {"Date": "2024-04-02", "Code": "13010", "CoName": "a", "FQ": "本決算"},
    ]
    return parse_records("equities_earnings_calendar", records)


def _short_ratio() -> pl.DataFrame:
    records = [
        {
            "Date": d.isoformat(),
            "S33": s33,
            "SellExShortVa": 1e9,
            "ShrtWithResVa": 2e8,
            "ShrtNoResVa": 5e7,
        }
        for d in DAYS[:5]
        for s33 in ("0050", "3250")
    ]
    return parse_records("markets_short_ratio", records)


def _topix() -> pl.DataFrame:
    records = [
        {"Date": d.isoformat(), "O": 2400.0, "H": 2410.0, "L": 2390.0, "C": 2405.0 + i}
        for i, d in enumerate(DAYS)
    ]
    return parse_records("indices_topix", records)


def build_market() -> HandMarket:
    return HandMarket(
        tables={
            "equities_bars_daily": _bars(),
            "equities_master": _master(),
            "markets_calendar": _calendar(),
            "fins_summary": _fins_summary(),
            "fins_earnings_date": _earnings_date(),
            "markets_short_sale_report": _short_sale_report(),
            "equities_earnings_calendar": _earnings_calendar(),
            "markets_short_ratio": _short_ratio(),
            "indices_topix": _topix(),
        }
    )


@pytest.fixture(scope="session")
def market() -> HandMarket:
    return build_market()


@contextmanager
def serve(market, **options):
    """An httpx client (base URL ``.../v2``, valid key) for ``create_app(market, **options)``."""
    app = create_app(market, **options)
    with (
        background_server(app) as url,
        httpx.Client(
            base_url=f"{url}/v2", headers={"x-api-key": "synthetic"}, timeout=30
        ) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def premium(market):
    """Premium plan, no rate limit, 7-row pages: the shared server of a test module."""
    with serve(market, page_size=7, rate_limit=False) as client:
        yield client


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
