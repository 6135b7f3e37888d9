"""The TSE trading calendar used for every business-day computation of the panel.

Source of truth is the J-Quants ``markets_calendar`` table in the raw store: a date is a trading
day when ``HolDiv`` is ``"1"`` (business day) or ``"2"`` (half-day session). Without API data the
calendar falls back to ``exchange_calendars`` XTKS. XTKS treats 2020-10-01 (the full-day TSE system
outage) as closed, whereas J-Quants keeps it as a business day whose bars are all null; the
fallback adds it back as a trading day so both sources give the same rows, and
:meth:`TradingCalendar.is_halt` flags it.

J-Quants publishes ``markets_calendar`` ahead, through the end of the following year
(:func:`published_through`): ``gogooku fetch`` stores it that far, so calendar features of a day
never wait for later data.

Close time in force on a trading day: 15:00 until 2024-11-04, 15:30 from 2024-11-05 (the TSE
extension of the afternoon session), 11:30 on a half-day session (``HolDiv == "2"``).
"""

from __future__ import annotations

import bisect
import functools
import warnings
from collections.abc import Iterable
from datetime import date, time

import polars as pl

from gogooku.errors import GogookuError

TRADING_HOLDIV = ("1", "2")
HALF_DAY_HOLDIV = "2"
HALT_DAY = date(2020, 10, 1)
CLOSE_EXTENSION_DAY = date(2024, 11, 5)
CLOSE_BEFORE_EXTENSION = time(15, 0)
CLOSE_FROM_EXTENSION = time(15, 30)
HALF_DAY_CLOSE = time(11, 30)


# One XTKS build covers every window asked for: building the calendar costs ~0.3 s whatever its
# range, and the synthetic market and the fallback ask for many different windows.
XTKS_RANGE = (date(2000, 1, 1), date(2045, 12, 31))


@functools.lru_cache(maxsize=8)
def _xtks_sessions(start: date, end: date) -> tuple[date, ...]:
    import exchange_calendars as xc

    with warnings.catch_warnings():
        # exchange_calendars' own pandas calls emit pandas-4 deprecation warnings.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        xtks = xc.get_calendar("XTKS", start=start.isoformat(), end=end.isoformat())
    return tuple(ts.date() for ts in xtks.sessions)


def xtks_sessions(first: date, last: date) -> list[date]:
    """XTKS sessions in ``first..last`` plus 2020-10-01 (J-Quants business day, null bars)."""
    inside = XTKS_RANGE[0] <= first and last <= XTKS_RANGE[1]
    sessions = _xtks_sessions(*(XTKS_RANGE if inside else (first, last)))
    days = sessions[bisect.bisect_left(sessions, first) : bisect.bisect_right(sessions, last)]
    return sorted({*days, HALT_DAY}) if first <= HALT_DAY <= last else list(days)


def published_through(day: date) -> date:
    """The last day of the calendar J-Quants publishes on ``day``: 31 December of the next year."""
    return date(day.year + 1, 12, 31)


class CalendarError(GogookuError, ValueError):
    """A date outside the calendar's coverage or not a trading day where one is required."""


class TradingCalendar:
    """Sorted trading days with business-day arithmetic.

    ``next_bd(d)`` is the first trading day strictly after ``d``; ``prev_bd(d)`` the last one
    strictly before; ``offset(d, n)`` the trading day ``n`` sessions from the trading day ``d``.
    Dates past the last known trading day have no successor (``CalendarError`` for the scalar
    methods, null in the expression helpers).
    """

    def __init__(
        self, days: Iterable[date], half_days: Iterable[date] = (), source: str = ""
    ) -> None:
        self._days: list[date] = sorted(set(days))
        if not self._days:
            raise CalendarError(f"empty trading calendar (source: {source or 'unknown'})")
        self._index = {d: i for i, d in enumerate(self._days)}
        self._half_days = frozenset(half_days)
        self.source = source
        self._series = pl.Series("Date", self._days, dtype=pl.Date)
        # One trailing null so that "no later trading day" gathers a null instead of failing.
        self._series_ext = pl.concat([self._series, pl.Series("Date", [None], dtype=pl.Date)])

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_frame(cls, frame: pl.DataFrame, source: str = "markets_calendar") -> TradingCalendar:
        """From a ``markets_calendar`` frame (``Date`` pl.Date, ``HolDiv`` String)."""
        missing = {"Date", "HolDiv"} - set(frame.columns)
        if missing:
            raise CalendarError(f"{source}: missing columns {sorted(missing)}")
        trading = frame.filter(pl.col("HolDiv").is_in(TRADING_HOLDIV))
        half = trading.filter(pl.col("HolDiv") == HALF_DAY_HOLDIV)
        return cls(trading["Date"].to_list(), half["Date"].to_list(), source=source)

    @classmethod
    def from_xtks(cls, start: date, end: date) -> TradingCalendar:
        """Fallback from ``exchange_calendars`` XTKS for ``start..end``, with 2020-10-01 added back."""
        days = xtks_sessions(start, end)
        return cls(days, source="exchange_calendars:XTKS")

    @classmethod
    def load(cls, store, start: date | None = None, end: date | None = None) -> TradingCalendar:
        """From the raw store's ``markets_calendar`` when it has rows, else XTKS for start..end."""
        frame = None
        if store is not None:
            frame = store.scan("markets_calendar").select("Date", "HolDiv").collect()
        if frame is not None and frame.height > 0:
            return cls.from_frame(frame)
        if start is None or end is None:
            raise CalendarError(
                "no markets_calendar in the raw store: the XTKS fallback needs start and end dates"
            )
        return cls.from_xtks(start, end)

    # -- scalar queries -------------------------------------------------------------------------
    @property
    def first(self) -> date:
        return self._days[0]

    @property
    def last(self) -> date:
        return self._days[-1]

    def __len__(self) -> int:
        return len(self._days)

    def is_trading_day(self, day: date) -> bool:
        return day in self._index

    def is_halt(self, day: date) -> bool:
        """True on 2020-10-01, the TSE full-day halt (a business day with no trading)."""
        return day == HALT_DAY

    def next_bd(self, day: date) -> date:
        i = bisect.bisect_right(self._days, day)
        if i >= len(self._days):
            raise CalendarError(f"no trading day after {day} (calendar ends {self.last})")
        return self._days[i]

    def prev_bd(self, day: date) -> date:
        i = bisect.bisect_left(self._days, day)
        if i == 0:
            raise CalendarError(f"no trading day before {day} (calendar starts {self.first})")
        return self._days[i - 1]

    def on_or_after(self, day: date) -> date:
        return day if day in self._index else self.next_bd(day)

    def on_or_before(self, day: date) -> date:
        return day if day in self._index else self.prev_bd(day)

    def offset(self, day: date, n: int) -> date:
        """The trading day ``n`` sessions after (n > 0) or before (n < 0) the trading day ``day``."""
        if day not in self._index:
            raise CalendarError(f"offset: {day} is not a trading day")
        i = self._index[day] + n
        if not 0 <= i < len(self._days):
            raise CalendarError(
                f"offset({day}, {n}) leaves the calendar ({self.first}..{self.last})"
            )
        return self._days[i]

    def offset_clipped(self, day: date, n: int) -> date:
        """Like :meth:`offset` from the nearest trading day, clipped to the calendar's ends."""
        i = bisect.bisect_left(self._days, day)
        i = min(max(i + n, 0), len(self._days) - 1)
        return self._days[i]

    def days(self, start: date, end: date) -> list[date]:
        """Trading days ``start <= d <= end``."""
        lo = bisect.bisect_left(self._days, start)
        hi = bisect.bisect_right(self._days, end)
        return self._days[lo:hi]

    def count(self, start: date, end: date) -> int:
        return len(self.days(start, end))

    def close_time(self, day: date) -> time:
        """Close of the cash session on ``day``: 11:30 on half days, 15:00, 15:30 from 2024-11-05."""
        if day in self._half_days:
            return HALF_DAY_CLOSE
        return CLOSE_FROM_EXTENSION if day >= CLOSE_EXTENSION_DAY else CLOSE_BEFORE_EXTENSION

    def frame(self) -> pl.DataFrame:
        """All trading days as a one-column frame ``Date``, sorted."""
        return self._series.to_frame()

    # -- expression helpers (vectorised, null where no answer exists) ---------------------------
    def next_bd_expr(self, expr: pl.Expr) -> pl.Expr:
        """First trading day strictly after each date of ``expr``."""
        return _gather_expr(self._series_ext, self._series, expr, side="right")

    def on_or_after_expr(self, expr: pl.Expr) -> pl.Expr:
        """First trading day on or after each date of ``expr``."""
        return _gather_expr(self._series_ext, self._series, expr, side="left")

    def close_time_expr(self, expr: pl.Expr) -> pl.Expr:
        """Close time (``pl.Time``) in force on each date of ``expr`` (see :meth:`close_time`)."""
        half = pl.Series(sorted(self._half_days), dtype=pl.Date)
        return (
            pl.when(expr.is_in(half.implode()))
            .then(pl.lit(HALF_DAY_CLOSE))
            .when(expr >= pl.lit(CLOSE_EXTENSION_DAY))
            .then(pl.lit(CLOSE_FROM_EXTENSION))
            .otherwise(pl.lit(CLOSE_BEFORE_EXTENSION))
        )


def _gather_expr(ext: pl.Series, days: pl.Series, expr: pl.Expr, side: str) -> pl.Expr:
    found = pl.lit(ext).gather(pl.lit(days).search_sorted(expr, side=side))
    return pl.when(expr.is_not_null()).then(found)
