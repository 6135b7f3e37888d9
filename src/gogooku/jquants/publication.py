"""When J-Quants publishes a record of each dataset, relative to the date the fetch unit keys it by.

One table, ``PUBLICATION[dataset id]``: regimes ``Publication(since, business_days, at, source)``.
A record whose unit date (the ``date``/``disc_date`` the fetch requests, or the ``date_field`` a
month chunk is cut by) is ``D >= since`` is published on the ``business_days``-th trading day
strictly after ``D`` (``D`` itself when 0) at about ``at`` JST; a time past midnight is written as
hours past 24 of the publication day (the derivatives' ~27:00 is 03:00 the next calendar day).
Facts are from ``shared/reference/jquants_v2_endpoints.md`` §1.6 (the official data-update
table); where it says "unknown" the entry says so and states what we chose.

``publication_day`` is non-decreasing in ``D``, so a unit covering several dates is published
once its last date is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gogooku.calendar import TradingCalendar

JST = dt.timezone(dt.timedelta(hours=9))

MARGIN_DAILY_FROM = dt.date(2026, 9, 25)


@dataclass(frozen=True)
class Publication:
    """One publication regime of a dataset (see the module doc)."""

    since: dt.date
    business_days: int
    at: str
    source: str


_ALWAYS = dt.date.min
_S16 = "§1.6 (data-update table)"

PUBLICATION: dict[str, tuple[Publication, ...]] = {
    "equities_master": (Publication(_ALWAYS, 0, "17:30", f"{_S16}; ~08:00 refresh is of D+1"),),
    "equities_bars_daily": (Publication(_ALWAYS, 0, "16:30", _S16),),
    "markets_calendar": (Publication(_ALWAYS, 0, "irregular", f"{_S16}; published ahead"),),
    "indices_topix": (Publication(_ALWAYS, 0, "16:30", _S16),),
    "indices_bars_daily": (Publication(_ALWAYS, 0, "16:30", _S16),),
    # Units are months cut by PubDate, the publication day itself (4th business day, ~Thu).
    "equities_investor_types": (Publication(_ALWAYS, 0, "16:30", f"{_S16}; keyed by PubDate"),),
    "markets_margin_interest": (
        Publication(_ALWAYS, 2, "16:30", f"{_S16}: weekly, Date = week's last business day"),
        Publication(
            MARGIN_DAILY_FROM,
            1,
            "unknown",
            f"{_S16}: daily, Date = previous business day; time unknown -> chosen: any time "
            "that day (settled the next morning)",
        ),
    ),
    "markets_margin_alert": (Publication(_ALWAYS, 0, "16:30", f"{_S16}; keyed by PubDate"),),
    "markets_short_ratio": (Publication(_ALWAYS, 0, "16:30", _S16),),
    "markets_short_sale_report": (Publication(_ALWAYS, 0, "17:30", _S16),),
    "options_225": (Publication(_ALWAYS, 0, "27:00", _S16),),
    "futures": (Publication(_ALWAYS, 0, "27:00", _S16),),
    "fins_summary": (Publication(_ALWAYS, 0, "24:30", f"{_S16}: 18:00 preliminary, 24:30 final"),),
    "fins_details": (
        Publication(
            _ALWAYS,
            0,
            "24:30",
            f"{_S16}: API continuous, exact time unknown -> chosen: as fins_summary",
        ),
    ),
    "fins_earnings_date": (Publication(_ALWAYS, 0, "10:05", f"{_S16}; keyed by PubDate"),),
    "equities_earnings_calendar": (Publication(_ALWAYS, 0, "19:00", f"{_S16}; latest only"),),
    "fins_dividend": (Publication(_ALWAYS, 0, "19:00", f"{_S16}: hourly 12:00-19:00"),),
    "markets_breakdown": (Publication(_ALWAYS, 0, "18:00", _S16),),
    "equities_valuation": (Publication(_ALWAYS, 0, "16:30", _S16),),
    "equities_bars_minute": (
        Publication(_ALWAYS, 0, "16:30", "[CLI] data-update-schedule (older doc); spec: unknown"),
    ),
    "equities_trades": (
        Publication(_ALWAYS, 0, "16:30", "as the minute bars (the spec gives no time: chosen)"),
    ),
    "equities_bars_daily_am": (Publication(_ALWAYS, 0, "12:00", f"{_S16}; today only"),),
    "options_all": (Publication(_ALWAYS, 0, "27:00", _S16),),
    "td_list": (
        Publication(
            _ALWAYS,
            0,
            "unknown",
            "§2.7: each record minutes to ~1 h after its DiscTime; when a day's last one is "
            "listed is unknown -> chosen: the day is complete by 09:00 the next morning",
        ),
    ),
    **{
        dataset: (
            Publication(
                _ALWAYS,
                0,
                "18:00",
                f"{_S16}: continuous on weekdays 08:00-17:59, may lag; keyed by SubDate; chosen: "
                "a day's filings complete at 18:00",
            ),
        )
        for dataset in (
            "edinet_major_shareholders",
            "edinet_cross_shareholdings",
            "edinet_large_volume_shareholders",
        )
    },
}


def regime(dataset: str, day: dt.date) -> Publication:
    """The regime in force for a record dated ``day`` (``KeyError`` naming an unlisted dataset)."""
    if dataset not in PUBLICATION:
        raise KeyError(
            f"dataset {dataset!r} has no publication entry in gogooku.jquants.publication"
        )
    return [r for r in PUBLICATION[dataset] if r.since <= day][-1]


def needs_calendar(dataset: str) -> bool:
    """True when some regime publishes after the record's own day (business-day arithmetic)."""
    return any(r.business_days for r in PUBLICATION[dataset])


def publication_day(dataset: str, day: dt.date, calendar: TradingCalendar | None) -> dt.date | None:
    """The day a record of ``dataset`` dated ``day`` is published; None when that day lies past
    ``calendar`` (or no calendar was given for a lag of business days)."""
    lag = regime(dataset, day).business_days
    if lag == 0:
        return day
    if calendar is None:
        return None
    later = calendar.days(day + dt.timedelta(days=1), calendar.last)
    return later[lag - 1] if len(later) >= lag else None


def published_at(
    dataset: str, day: dt.date, calendar: TradingCalendar | None
) -> dt.datetime | None:
    """The JST moment a record of ``dataset`` dated ``day`` is published (``at`` on its
    publication day; an ``unknown`` or ``irregular`` time is taken as 00:00, the earliest it
    could be); None when the publication day lies past ``calendar``. The trading calendar is
    published ahead of its dates: callers leave it out."""
    published = publication_day(dataset, day, calendar)
    if published is None:
        return None
    at = regime(dataset, day).at
    hours, minutes = (0, 0) if at in ("unknown", "irregular") else map(int, at.split(":"))
    midnight = dt.datetime.combine(published, dt.time(), JST)
    return midnight + dt.timedelta(hours=hours, minutes=minutes)
