"""Exchange-traded contract dates (SQ and last trading day) on the JPX calendar."""

from __future__ import annotations

import functools
from datetime import date, timedelta

from gogooku.synth.universe import trading_sessions


def second_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 7)


class Sessions:
    """JPX trading days for contract dates up to 18 months ahead: ``universe.trading_sessions``
    where exchange_calendars knows the calendar, weekdays beyond its last session."""

    def __init__(self, first: date) -> None:
        import exchange_calendars as xcals

        self.known_last = xcals.get_calendar("XTKS").last_session.date()
        self.days = set(trading_sessions(first, self.known_last))

    def __contains__(self, day: date) -> bool:
        return day in self.days if day <= self.known_last else day.weekday() < 5


@functools.lru_cache(maxsize=4)
def sessions(first: date) -> Sessions:
    return Sessions(first)


def contract_dates(year: int, month: int, trading: Sessions) -> tuple[date, date]:
    """(SQD, LTD): SQ on the second Friday (or the trading day before), LTD the day before SQ."""
    sqd = second_friday(year, month)
    while sqd not in trading:
        sqd -= timedelta(days=1)
    ltd = sqd - timedelta(days=1)
    while ltd not in trading:
        ltd -= timedelta(days=1)
    return sqd, ltd
