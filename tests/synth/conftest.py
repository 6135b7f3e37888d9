"""Markets shared by the synth tests.

``hand_market``: a small hand-made market in catalogue schema, and helpers to serve it on
127.0.0.1 (the API tests). ``golden_market``/``signal_market``/``signal_market_v2``: core tables
of the simulator, generated once per session at small sizes. ``side_market``/``prefix_market``: a small market
with the side datasets, and its prefix up to ``PREFIX_END``.
"""

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
from gogooku.synth.config import SynthConfig
from gogooku.synth.market import SyntheticMarket, generate_market

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
def hand_market() -> HandMarket:
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


def fetch_all(client, path, params):
    """Every page of a query, following pagination_key; returns (records, number of pages)."""
    records, pages, query = [], 0, dict(params)
    while True:
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        records += body["data"]
        pages += 1
        if "pagination_key" not in body:
            return records, pages
        query = {**params, "pagination_key": body["pagination_key"]}


@pytest.fixture(scope="module")
def premium(hand_market):
    """Premium plan, no rate limit, 7-row pages: the shared server of a test module."""
    with serve(hand_market, page_size=7, rate_limit=False) as client:
        yield client


GOLDEN = SynthConfig(seed=7, stocks=200, start=dt.date(2019, 1, 1), end=dt.date(2020, 12, 31))
# version 1's planted price signals (test_planted_signals); version 2's effects: SIGNALS_V2
SIGNALS = SynthConfig(
    seed=7, stocks=300, start=dt.date(2019, 1, 1), end=dt.date(2022, 12, 31), market_version=1
)
SIGNALS_V2 = SynthConfig(seed=7, stocks=300, start=dt.date(2019, 1, 1), end=dt.date(2022, 12, 31))


@pytest.fixture(scope="session")
def golden_market() -> SyntheticMarket:
    """200 stocks x 2 years (2019-2020, includes the 2020-10-01 halt), core tables only."""
    return generate_market(GOLDEN, side_tables=False)


@pytest.fixture(scope="session")
def signal_market() -> SyntheticMarket:
    """300 stocks x 4 years, market version 1: enough stock-days to measure planted strengths
    per regime (states kept for ``gap.linear_gap``)."""
    return generate_market(SIGNALS, side_tables=False, keep_states=True)


@pytest.fixture(scope="session")
def signal_market_v2() -> SyntheticMarket:
    """The same market in version 2 (the default), with its states for ``gap.linear_gap``."""
    return generate_market(SIGNALS_V2, side_tables=False, keep_states=True)


SMALL = SynthConfig(seed=11, stocks=150, start=dt.date(2020, 1, 1), end=dt.date(2021, 12, 31))
PREFIX_END = dt.date(2021, 3, 10)


@pytest.fixture(scope="session")
def small_config() -> SynthConfig:
    return SMALL


@pytest.fixture(scope="session")
def prefix_end() -> dt.date:
    """End of the shorter market (a Wednesday, mid-week for the weekly datasets)."""
    return PREFIX_END


@pytest.fixture(scope="session")
def side_market() -> SyntheticMarket:
    """150 stocks over 2020-2021 (includes 2020-10-01 and high-vol regime days)."""
    return generate_market(SMALL)


@pytest.fixture(scope="session")
def prefix_market() -> SyntheticMarket:
    """The same market generated only up to ``PREFIX_END``."""
    return generate_market(
        SynthConfig(seed=SMALL.seed, stocks=SMALL.stocks, start=SMALL.start, end=PREFIX_END)
    )
