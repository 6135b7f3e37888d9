"""Plan limits of the J-Quants V2 API: request rates and history windows.

Rates are requests per minute per API key. ``/fins/summary`` and ``/fins/details`` have their own
60/min cap on every plan. History windows say how far back a plan may query:

- Free: from 2 years 12 weeks ago up to 12 weeks ago (the latest 12 weeks are never available);
- Light 5 years, Standard 10 years, Premium 20 years, each up to today.

Add-ons (minute bars and ticks; TDnet) open their endpoints whatever the base plan, with their own
window (2 and 5 years up to today) and their own request bucket, independent of the plan's: 60/min
for minute bars (official); 100/min for TDnet (the official figure is cut off on the rate-limit
page; 100 is a secondary source's).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gogooku.settings import AddOn, Plan

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

ADDON_RATE_PER_MINUTE: dict[AddOn, int] = {
    AddOn.MINUTE: 60,
    AddOn.TDNET: 100,
}

ADDON_HISTORY_YEARS: dict[AddOn, int] = {
    AddOn.MINUTE: 2,
    AddOn.TDNET: 5,
}

# The paths each add-on opens (their requests take the add-on's bucket, not the plan's).
ADDON_PATHS: dict[AddOn, tuple[str, ...]] = {
    AddOn.MINUTE: ("/equities/bars/minute",),
    AddOn.TDNET: ("/td/list", "/td/files", "/td/bulk"),
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


def history_window(plan: Plan, today: dt.date, add_on: AddOn | None = None) -> HistoryWindow:
    """The window of dates ``plan`` (or, for an add-on's endpoint, ``add_on``) may query on
    ``today``."""
    if add_on is not None:
        return HistoryWindow(_years_before(today, ADDON_HISTORY_YEARS[add_on]), today)
    if plan is Plan.FREE:
        latest = today - dt.timedelta(weeks=12)
        return HistoryWindow(_years_before(latest, 2), latest)
    return HistoryWindow(_years_before(today, HISTORY_YEARS[plan]), today)


def plan_allows(plan: Plan, min_plan: Plan) -> bool:
    """True when ``plan`` is at least ``min_plan``."""
    return plan.rank >= min_plan.rank


def addon_rates_by_path() -> dict[str, int]:
    """Each add-on path → its add-on's requests per minute."""
    return {path: ADDON_RATE_PER_MINUTE[a] for a, paths in ADDON_PATHS.items() for path in paths}


def access_refusal(
    min_plan: Plan, add_on: AddOn | None, plan: Plan, addons: frozenset[AddOn]
) -> str | None:
    """Why a key on ``plan`` holding ``addons`` may not call an endpoint (None when it may)."""
    if add_on is not None:
        if add_on in addons:
            return None
        return f"needs the {add_on.value} add-on (JQUANTS_ADDONS), which this key does not hold"
    if plan_allows(plan, min_plan):
        return None
    return f"needs the {min_plan.value} plan, this is the {plan.value} plan"
