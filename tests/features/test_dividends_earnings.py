"""``div_*`` and ``earn_*``: versions in force, ex-dates and schedules known only once published."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from gogooku.calendar import TradingCalendar
from gogooku.features.dividends import BLOCK as DIV_BLOCK
from gogooku.features.earnings import BLOCK as EARN_BLOCK

from .conftest import run_block, typed, value

A, B = "13010", "72030"


def _notice(pub: date, term: str, if_code: str, rate, ex: date, stat: str = "1") -> dict:
    return {
        "Code": A,
        "PubDate": pub,
        "PubTime": "15:00",
        "RefNo": f"{pub:%Y%m%d}{term}{if_code}",
        "StatCode": stat,
        "IFCode": if_code,
        "IFTerm": term,
        "DivRate": rate,
        "ExDate": ex,
    }


NOTICES = [
    # A result announced after its ex-date.
    _notice(date(2020, 8, 13), "2020-06", "1", 10.0, date(2020, 6, 29)),
    # A forecast announced before its ex-date, then revised (same term and interim/final code).
    _notice(date(2020, 11, 10), "2020-12", "2", 12.0, date(2020, 12, 28)),
    _notice(date(2020, 12, 1), "2020-12", "2", 15.0, date(2020, 12, 28), stat="2"),
    # A forecast that is deleted, then the result of that term (8 per post-split share).
    _notice(date(2021, 3, 1), "2021-06", "1", 20.0, date(2021, 6, 29)),
    _notice(date(2021, 4, 1), "2021-06", "1", 20.0, date(2021, 6, 29), stat="3"),
    _notice(date(2021, 8, 2), "2021-06", "1", 8.0, date(2021, 6, 29)),
]
SPLIT = {"Code": A, "Date": date(2021, 1, 4), "AdjFactor": 0.5}


@pytest.fixture(scope="module")
def dividends(calendar) -> pl.DataFrame:
    tables = {
        "fins_dividend": typed("fins_dividend", NOTICES),
        "equities_bars_daily": typed("equities_bars_daily", [SPLIT]),
    }
    return run_block(DIV_BLOCK, tables, calendar, [A])


def test_dividend_yield_ttm_by_hand(dividends):
    # The close is 1000 throughout; the 2021-06 dividend of 8 after a 1:2 split counts as 16.
    assert value(dividends, A, date(2020, 8, 13), "div_yield_ttm") is None
    assert value(dividends, A, date(2020, 8, 14), "div_yield_ttm") == pytest.approx(0.010)
    assert value(dividends, A, date(2020, 12, 25), "div_yield_ttm") == pytest.approx(0.010)
    assert value(dividends, A, date(2020, 12, 28), "div_yield_ttm") == pytest.approx(0.025)
    assert value(dividends, A, date(2021, 6, 28), "div_yield_ttm") == pytest.approx(0.025)
    # 2020-06-29 + 365 days = 2021-06-29: the first dividend leaves the window that day.
    assert value(dividends, A, date(2021, 6, 29), "div_yield_ttm") == pytest.approx(0.015)
    assert value(dividends, A, date(2021, 8, 2), "div_yield_ttm") == pytest.approx(0.015)
    assert value(dividends, A, date(2021, 8, 3), "div_yield_ttm") == pytest.approx(0.031)


def test_ex_date_distances_use_only_announced_dates(dividends):
    assert value(dividends, A, date(2020, 8, 14), "div_days_to_ex") is None
    assert value(dividends, A, date(2020, 8, 14), "div_days_since_ex") == 46
    assert value(dividends, A, date(2020, 11, 10), "div_days_to_ex") is None
    assert value(dividends, A, date(2020, 11, 11), "div_days_to_ex") == 47
    assert value(dividends, A, date(2020, 12, 28), "div_days_to_ex") == 0
    assert value(dividends, A, date(2020, 12, 28), "div_days_since_ex") == 0
    assert value(dividends, A, date(2020, 12, 29), "div_days_to_ex") is None
    assert value(dividends, A, date(2021, 3, 2), "div_days_to_ex") == 119
    # Deleted on 2021-04-01 (usable 04-02): the ex-date is no longer known.
    assert value(dividends, A, date(2021, 4, 2), "div_days_to_ex") is None
    assert (
        value(dividends, A, date(2021, 7, 1), "div_days_since_ex")
        == (date(2021, 7, 1) - date(2020, 12, 28)).days
    )
    assert value(dividends, A, date(2021, 8, 3), "div_days_since_ex") == 35
    assert value(dividends, A, date(2021, 8, 3), "div_days_since_notice") == 0
    assert value(dividends, A, date(2021, 8, 10), "div_days_since_notice") == 7


def test_dividends_no_cross_code_bleed(calendar, dividends):
    other = [{**n, "Code": B, "DivRate": n["DivRate"] * 3} for n in NOTICES[:2]]
    tables = {
        "fins_dividend": typed("fins_dividend", NOTICES + other),
        "equities_bars_daily": typed("equities_bars_daily", [SPLIT]),
    }
    both = run_block(DIV_BLOCK, tables, calendar, [A, B])
    assert both.filter(pl.col("Code") == A).equals(dividends)
    # B has no split: its 2020-12 forecast of 36 counts in full from its ex-date.
    assert value(both, B, date(2020, 12, 28), "div_yield_ttm") == pytest.approx(0.066)


SCHEDULES = [
    {"Code": A, "PubDate": date(2020, 7, 1), "FQName": "1Q", "SchDate": date(2020, 8, 7)},
    {"Code": A, "PubDate": date(2020, 7, 20), "FQName": "1Q", "SchDate": date(2020, 8, 12)},
    {"Code": A, "PubDate": date(2020, 10, 1), "FQName": "2Q", "SchDate": date(2020, 11, 6)},
    {"Code": A, "PubDate": date(2020, 10, 15), "FQName": "2Q", "SchDate": None},
]
NEXT_DAY = [{"Code": A, "Date": date(2020, 12, 10)}]
DISCLOSURES = [
    {"Code": A, "DiscDate": date(2020, 8, 12), "DiscTime": "14:00:00", "DocType": "x"},
    {"Code": A, "DiscDate": date(2020, 11, 20), "DiscTime": "16:00:00", "DocType": "x"},
]


@pytest.fixture(scope="module")
def earnings(calendar) -> pl.DataFrame:
    tables = {
        "fins_earnings_date": typed("fins_earnings_date", SCHEDULES),
        "equities_earnings_calendar": typed("equities_earnings_calendar", NEXT_DAY),
        "fins_summary": typed("fins_summary", DISCLOSURES),
    }
    return run_block(EARN_BLOCK, tables, calendar, [A])


def test_schedule_appears_only_after_publication(earnings):
    assert value(earnings, A, date(2020, 7, 1), "earn_days_to_next") is None
    assert value(earnings, A, date(2020, 7, 2), "earn_days_to_next") == 36
    # The move to 08-12 is published 07-20 (usable 07-21): the old date holds until then.
    assert value(earnings, A, date(2020, 7, 20), "earn_days_to_next") == 18
    assert value(earnings, A, date(2020, 7, 21), "earn_days_to_next") == 22
    assert value(earnings, A, date(2020, 8, 12), "earn_days_to_next") == 0
    assert value(earnings, A, date(2020, 8, 13), "earn_days_to_next") is None
    assert value(earnings, A, date(2020, 10, 2), "earn_days_to_next") == 35
    # "To be decided" cancels the known date.
    assert value(earnings, A, date(2020, 10, 16), "earn_days_to_next") is None
    # The next-day calendar row of 12-10 is usable on 12-10 only.
    assert value(earnings, A, date(2020, 12, 9), "earn_days_to_next") is None
    assert value(earnings, A, date(2020, 12, 10), "earn_days_to_next") == 0
    assert value(earnings, A, date(2020, 12, 11), "earn_days_to_next") is None


def test_within_5d_counts_sessions(earnings):
    # 2020-08-10 was a holiday (Mountain Day): after 08-03 come 4, 5, 6, 7, 11, 12.
    assert value(earnings, A, date(2020, 8, 3), "earn_within_5d") is False
    assert value(earnings, A, date(2020, 8, 4), "earn_within_5d") is True
    assert value(earnings, A, date(2020, 8, 12), "earn_within_5d") is True
    assert value(earnings, A, date(2020, 8, 13), "earn_within_5d") is None


def test_days_since_disclosure(earnings):
    assert value(earnings, A, date(2020, 8, 11), "earn_days_since_disc") is None
    assert value(earnings, A, date(2020, 8, 12), "earn_days_since_disc") == 0
    # 16:00 on Friday 11-20 -> usable on Tuesday 11-24 (11-23 was a holiday).
    assert value(earnings, A, date(2020, 11, 20), "earn_days_since_disc") == 100
    assert value(earnings, A, date(2020, 11, 24), "earn_days_since_disc") == 0


def test_earnings_no_cross_code_bleed(calendar, earnings):
    other = [{**s, "Code": B} for s in SCHEDULES[2:3]]
    tables = {
        "fins_earnings_date": typed("fins_earnings_date", SCHEDULES + other),
        "equities_earnings_calendar": typed("equities_earnings_calendar", NEXT_DAY),
        "fins_summary": typed("fins_summary", DISCLOSURES),
    }
    both = run_block(EARN_BLOCK, tables, calendar, [A, B])
    assert both.filter(pl.col("Code") == A).equals(earnings)
    assert value(both, B, date(2020, 10, 16), "earn_days_to_next") == 21
    assert value(both, B, date(2020, 12, 10), "earn_days_to_next") is None


def test_within_5d_is_null_not_a_guess_past_the_calendar(calendar):
    """On a calendar ending 2020-08-05 the announcement of 08-12 is 2 known sessions after 08-03
    (the full calendar has 6): null there, and equal to the full value wherever it is known."""
    tables = {
        "fins_earnings_date": typed("fins_earnings_date", SCHEDULES),
        "fins_summary": typed("fins_summary", DISCLOSURES),
    }
    short_calendar = TradingCalendar(calendar.days(calendar.first, date(2020, 8, 5)))
    short = run_block(EARN_BLOCK, tables, short_calendar, [A])
    full = run_block(EARN_BLOCK, tables, calendar, [A]).filter(pl.col("Date") <= date(2020, 8, 5))
    assert value(short, A, date(2020, 8, 3), "earn_within_5d") is None
    assert value(full, A, date(2020, 8, 3), "earn_within_5d") is False
    # More than 14 calendar days before the date: False without counting sessions.
    assert value(short, A, date(2020, 7, 21), "earn_within_5d") is False
    known = short["earn_within_5d"].is_not_null()
    assert short.filter(known).equals(full.filter(known))
