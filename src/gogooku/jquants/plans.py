"""Plan limits of the J-Quants V2 API: request rates and history windows.

Rates are requests per minute per API key. ``/fins/summary`` and ``/fins/details`` have their own
60/min cap on every plan. History windows say how far back a plan may query:

- Free: from 2 years 12 weeks ago up to 12 weeks ago (the latest 12 weeks are never available);
- Light 5 years, Standard 10 years, Premium 20 years, each up to today.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gogooku.settings import Plan

RATE_PER_MINUTE: dict[Plan, int] = {
    Plan.FREE: 5,
    Plan.LIGHT: 60,
    Plan.STANDARD: 120,
    Plan.PREMIUM: 500,
}

ENDPOINT_RATE_PER_MINUTE: dict[str, int] = {
    "/fins/summary": 60,
    "/fins/details": 60,
}

HISTORY_YEARS: dict[Plan, int] = {
    Plan.LIGHT: 5,
    Plan.STANDARD: 10,
    Plan.PREMIUM: 20,
}


@dataclass(frozen=True)
class HistoryWindow:
    """Inclusive range of dates a plan may query."""

    earliest: dt.date
    latest: dt.date

    def contains(self, day: dt.date) -> bool:
        return self.earliest <= day <= self.latest

    def clamp(self, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date] | None:
        """The part of [start, end] inside the window, or None when they do not overlap."""
        lo, hi = max(start, self.earliest), min(end, self.latest)
        return (lo, hi) if lo <= hi else None


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def history_window(plan: Plan, today: dt.date) -> HistoryWindow:
    """The window of dates ``plan`` may query on ``today``."""
    if plan is Plan.FREE:
        latest = today - dt.timedelta(weeks=12)
        return HistoryWindow(_years_before(latest, 2), latest)
    return HistoryWindow(_years_before(today, HISTORY_YEARS[plan]), today)


def plan_allows(plan: Plan, min_plan: Plan) -> bool:
    """True when ``plan`` is at least ``min_plan``."""
    return plan.rank >= min_plan.rank
