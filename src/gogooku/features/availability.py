"""When may a source record first be used? One table, written as data plus small functions.

A panel row (Code, Date=t) is the state at the decision time of trading day t (19:00 JST); the
position it implies is traded at the close of t+1. A source record may feed row t only if it was
published by then. Every source's rule maps a record to ``available_from``: the first panel date on
which it may be used (SPEC §4). The rules are conservative:

============================  ==================================================================
rule key                      available_from
============================  ==================================================================
``bars_same_day``             ``Date`` (own bars, TOPIX, index bars of day t are usable on t);
                              a record dated on a closed day: the next trading day
``statement_disclosure``      ``DiscDate`` if ``DiscDate`` is a trading day and ``DiscTime`` is
                              strictly before that day's close (15:00 until 2024-11-04, 15:30
                              from 2024-11-05, 11:30 on half days); otherwise the next trading
                              day after ``DiscDate`` (a null ``DiscTime`` counts as after close);
                              ``fins_summary`` and TDnet ``td_list`` (``HH:MM`` times)
``weekly_margin``             record dated ``Date`` (the week's last business day, usually
                              Friday) is published on the 2nd trading day on or after the Monday
                              of the following week; usable from the trading day after that
``margin_interest``           per record, by its regime: a weekly record (null ``PubDate``,
                              ``Date`` before 2026-09-25) by ``weekly_margin``; a daily record
                              (``PubDate`` set) the first trading day strictly after ``PubDate``
                              (the spec gives no publication time, so not the same evening)
``next_trading_day``          the first trading day strictly after the source's date column
                              (``PubDate``, ``Date`` or ``DiscDate``, see ``SOURCE_AVAILABILITY``)
``earnings_calendar``         announced ~19:00 on the trading day before the scheduled ``Date``,
                              so usable from the next trading day: the first trading day on or
                              after ``Date``
``master_valid_from``         ``Date`` (the master snapshot valid from that date; the next
                              trading day if that day is closed)
``edinet_submission``         ``SubDate`` if it is a trading day and ``SubTime`` is strictly
                              before 15:00 JST; otherwise the next trading day after ``SubDate``
                              (a null ``SubTime`` counts as late). J-Quants reflects EDINET
                              filings continuously on weekdays 08:00-17:59 but "may lag": four
                              hours before the 19:00 decision time is our margin for that lag
============================  ==================================================================

A record whose ``available_from`` is null (date past the end of the calendar, null date) is
never used. ``SOURCE_AVAILABILITY`` maps every dataset id to its rule and date/time columns; the
builder exports the rule text of each feature's sources into ``features.json``. ``usable_on`` and
``usable_by`` give the records of a source as they stood at the decision time of a day D (what the
point-in-time tests cut the raw store to).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time

import polars as pl

from gogooku.calendar import TradingCalendar

AVAILABLE_FROM = "available_from"


@dataclass(frozen=True)
class SourceDates:
    """The columns of a source that carry its publication information."""

    date_col: str
    time_col: str | None = None
    pub_col: str | None = None

    def columns(self) -> tuple[str, ...]:
        """The columns the rule reads."""
        return tuple(c for c in (self.date_col, self.time_col, self.pub_col) if c is not None)


RuleFn = Callable[[TradingCalendar, SourceDates], pl.Expr]


@dataclass(frozen=True)
class AvailabilityRule:
    key: str
    description: str
    expr: RuleFn

    def available_from(self, calendar: TradingCalendar, dates: SourceDates) -> pl.Expr:
        return self.expr(calendar, dates).alias(AVAILABLE_FROM)


def _next_trading_day(calendar: TradingCalendar, dates: SourceDates) -> pl.Expr:
    return calendar.next_bd_expr(pl.col(dates.date_col))


def _on_or_after(calendar: TradingCalendar, dates: SourceDates) -> pl.Expr:
    return calendar.on_or_after_expr(pl.col(dates.date_col))


def parse_time(expr: pl.Expr) -> pl.Expr:
    """``HH:MM:SS`` or ``HH:MM`` strings to ``pl.Time``; anything else to null."""
    return pl.coalesce(
        expr.str.to_time("%H:%M:%S", strict=False), expr.str.to_time("%H:%M", strict=False)
    )


def _same_day_before(
    calendar: TradingCalendar, dates: SourceDates, cutoff: pl.Expr, rule: str
) -> pl.Expr:
    """The record's day when it is a trading day and its time is before ``cutoff`` (an
    expression of the day), else the next trading day; a missing time counts as late."""
    if dates.time_col is None:
        raise ValueError(f"{rule} needs a time column")
    day = pl.col(dates.date_col)
    at = parse_time(pl.col(dates.time_col))
    early = (calendar.on_or_after_expr(day) == day) & at.is_not_null() & (at < cutoff)
    return pl.when(early).then(day).otherwise(calendar.next_bd_expr(day))


def _statement(calendar: TradingCalendar, dates: SourceDates) -> pl.Expr:
    day = pl.col(dates.date_col)
    return _same_day_before(calendar, dates, calendar.close_time_expr(day), "statement_disclosure")


EDINET_CUTOFF = time(15, 0)


def _edinet(calendar: TradingCalendar, dates: SourceDates) -> pl.Expr:
    return _same_day_before(calendar, dates, pl.lit(EDINET_CUTOFF), "edinet_submission")


def _weekly_margin(calendar: TradingCalendar, dates: SourceDates) -> pl.Expr:
    day = pl.col(dates.date_col)
    # Polars weekday: Monday=1 .. Sunday=7, so day + (8 - weekday) is the next week's Monday.
    next_monday = day + pl.duration(days=pl.lit(8, pl.Int64) - day.dt.weekday().cast(pl.Int64))
    first_bd = calendar.on_or_after_expr(next_monday)
    published = calendar.next_bd_expr(first_bd)
    return calendar.next_bd_expr(published)


def _margin_interest(calendar: TradingCalendar, dates: SourceDates) -> pl.Expr:
    if dates.pub_col is None:
        raise ValueError("margin_interest needs a publication-date column (PubDate)")
    pub = pl.col(dates.pub_col)
    return (
        pl.when(pub.is_null())
        .then(_weekly_margin(calendar, dates))
        .otherwise(calendar.next_bd_expr(pub))
    )


AVAILABILITY: dict[str, AvailabilityRule] = {
    rule.key: rule
    for rule in (
        AvailabilityRule(
            "bars_same_day",
            "usable on its own Date (published ~16:30, before the 19:00 decision time); a record "
            "dated on a closed day from the next trading day",
            _on_or_after,
        ),
        AvailabilityRule(
            "statement_disclosure",
            "DiscDate if DiscTime is strictly before that day's close (15:00 until 2024-11-04, "
            "15:30 from 2024-11-05, 11:30 on half days), else the next trading day; null DiscTime "
            "counts as after the close",
            _statement,
        ),
        AvailabilityRule(
            "weekly_margin",
            "the trading day after publication; publication is the 2nd trading day on or after "
            "the Monday following the record Date (Friday -> published Tuesday -> usable Wednesday)",
            _weekly_margin,
        ),
        AvailabilityRule(
            "margin_interest",
            "weekly records (no PubDate, Date before 2026-09-25) by weekly_margin; daily records "
            "(PubDate set) from the first trading day after PubDate (publication time unknown)",
            _margin_interest,
        ),
        AvailabilityRule(
            "next_trading_day",
            "the first trading day strictly after the record's publication/trade date",
            _next_trading_day,
        ),
        AvailabilityRule(
            "earnings_calendar",
            "announced ~19:00 on the trading day before the scheduled Date; usable from the next "
            "trading day, i.e. the first trading day on or after Date",
            _on_or_after,
        ),
        AvailabilityRule(
            "edinet_submission",
            "SubDate if it is a trading day and SubTime is strictly before 15:00 JST (filings "
            "arrive 08:00-17:59 and may lag: four hours of margin before the 19:00 decision "
            "time), else the next trading day; null SubTime counts as late",
            _edinet,
        ),
        AvailabilityRule(
            "master_valid_from",
            "usable from the snapshot's valid-from Date (the next trading day if that is closed)",
            _on_or_after,
        ),
    )
}

SOURCE_AVAILABILITY: dict[str, tuple[str, SourceDates]] = {
    "equities_bars_daily": ("bars_same_day", SourceDates("Date")),
    "indices_topix": ("bars_same_day", SourceDates("Date")),
    "indices_bars_daily": ("bars_same_day", SourceDates("Date")),
    "equities_bars_minute": ("bars_same_day", SourceDates("Date")),
    "equities_bars_minute_summary": ("bars_same_day", SourceDates("Date")),
    "equities_trades": ("bars_same_day", SourceDates("Date")),
    "equities_bars_daily_am": ("bars_same_day", SourceDates("Date")),
    "options_all": ("next_trading_day", SourceDates("Date")),
    "equities_master": ("master_valid_from", SourceDates("Date")),
    "fins_summary": ("statement_disclosure", SourceDates("DiscDate", "DiscTime")),
    "fins_details": ("statement_disclosure", SourceDates("DiscDate", "DiscTime")),
    "td_list": ("statement_disclosure", SourceDates("DiscDate", "DiscTime")),
    "markets_margin_interest": (
        "margin_interest",
        SourceDates("Date", pub_col="PubDate"),
    ),
    "markets_margin_alert": ("next_trading_day", SourceDates("PubDate")),
    "equities_investor_types": ("next_trading_day", SourceDates("PubDate")),
    "markets_short_ratio": ("next_trading_day", SourceDates("Date")),
    "markets_short_sale_report": ("next_trading_day", SourceDates("DiscDate")),
    "markets_breakdown": ("next_trading_day", SourceDates("Date")),
    "options_225": ("next_trading_day", SourceDates("Date")),
    "futures": ("next_trading_day", SourceDates("Date")),
    "equities_valuation": ("next_trading_day", SourceDates("Date")),
    "fins_dividend": ("next_trading_day", SourceDates("PubDate")),
    "fins_earnings_date": ("next_trading_day", SourceDates("PubDate")),
    "equities_earnings_calendar": ("earnings_calendar", SourceDates("Date")),
    "edinet_major_shareholders": ("edinet_submission", SourceDates("SubDate", "SubTime")),
    "edinet_cross_shareholdings": ("edinet_submission", SourceDates("SubDate", "SubTime")),
    "edinet_large_volume_shareholders": ("edinet_submission", SourceDates("SubDate", "SubTime")),
}


def source_rule(source: str) -> tuple[AvailabilityRule, SourceDates]:
    """The rule and date columns of a dataset id (``KeyError`` naming the id if unknown)."""
    if source not in SOURCE_AVAILABILITY:
        raise KeyError(
            f"no availability rule for source {source!r}; known: {sorted(SOURCE_AVAILABILITY)}"
        )
    key, dates = SOURCE_AVAILABILITY[source]
    return AVAILABILITY[key], dates


def describe_source(source: str) -> str:
    """One line for ``features.json``: ``<source>: <rule key> on <column> — <rule text>``."""
    rule, dates = source_rule(source)
    cols = "+".join(dates.columns())
    return f"{source}: {rule.key} on {cols} — {rule.description}"


def with_available_from(
    frame: pl.LazyFrame | pl.DataFrame, source: str, calendar: TradingCalendar
) -> pl.LazyFrame:
    """``frame`` (records of ``source``) plus ``available_from`` (pl.Date) by the source's rule.

    Records that never become available (null ``available_from``) are dropped.
    """
    rule, dates = source_rule(source)
    lazy = frame.lazy()
    names = lazy.collect_schema().names()
    for col in dates.columns():
        if col not in names:
            raise ValueError(f"{source}: availability rule {rule.key!r} needs column {col!r}")
    return lazy.with_columns(rule.available_from(calendar, dates)).filter(
        pl.col(AVAILABLE_FROM).is_not_null()
    )


def usable_on(source: str, calendar: TradingCalendar, day: date) -> pl.Expr:
    """True for a record of ``source`` usable at the decision time (19:00 JST) of ``day``:
    ``available_from <= day``; false where ``available_from`` is null (never usable)."""
    rule, dates = source_rule(source)
    return (rule.expr(calendar, dates) <= day).fill_null(False)


def usable_by(
    frame: pl.LazyFrame | pl.DataFrame, source: str, calendar: TradingCalendar, day: date
) -> pl.LazyFrame:
    """The records of ``source`` usable at the decision time of ``day``, columns unchanged: the
    source as it stood at 19:00 JST on ``day`` (``KeyError`` naming a source without a rule)."""
    names = frame.lazy().collect_schema().names()
    return (
        with_available_from(frame, source, calendar)
        .filter(pl.col(AVAILABLE_FROM) <= day)
        .select(names)
    )
