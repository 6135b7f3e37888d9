"""The market of a price import: its trading days, its ``markets_calendar`` rows, and the guard
that keeps one market per home.

- ``XTKS``: exchange_calendars XTKS (2020-10-01 added back, as ``TradingCalendar.from_xtks``);
- another exchange_calendars code (``XNYS``, ``XLON``, ...): that calendar's sessions;
- ``data``: no calendar check; the sessions are the dates present in the imported rows.

``markets_calendar`` rows run from the first imported date to ``CALENDAR_LEAD_DAYS`` after the
last (so labels and the next trading day exist after the data ends): HolDiv ``"1"`` on sessions,
``"0"`` on other days. For ``data`` the days after the last date are unknown: every weekday
there counts as a session.
"""

from __future__ import annotations

import datetime as dt
import warnings

import polars as pl

from gogooku.calendar import TradingCalendar
from gogooku.importers.commit import CALENDAR_SOURCE
from gogooku.importers.registry import import_source
from gogooku.importers.table import PriceImportError
from gogooku.market import DATA_CALENDAR, MARKET_FILE, Market, MarketError, load_market, save_market
from gogooku.store.raw import RawStore

CALENDAR_LEAD_DAYS = 366


def exchange_sessions(market: Market, start: dt.date, end: dt.date) -> list[dt.date]:
    """The sessions of ``market`` (an exchange_calendars code, or XTKS) from start to end."""
    import exchange_calendars as xc

    try:
        if market.jpx:
            return TradingCalendar.from_xtks(start, end).days(start, end)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            calendar = xc.get_calendar(market.name, start=start.isoformat(), end=end.isoformat())
    except (ValueError, xc.errors.CalendarError) as exc:
        raise PriceImportError(
            f"--market {market.name}: no calendar for {start}..{end} ({exc}); --market "
            f"{DATA_CALENDAR} takes the dates in the file as the calendar"
        ) from exc
    return [ts.date() for ts in calendar.sessions]


def calendar_rows(market: Market, dates: pl.Series, sessions: list[dt.date]) -> pl.DataFrame:
    """``markets_calendar`` rows (Date, HolDiv) for the imported ``dates`` (module doc);
    ``sessions`` are the exchange's (ignored for ``data``)."""
    first, last = dates.min(), dates.max()
    end = last + dt.timedelta(days=CALENDAR_LEAD_DAYS)
    days = pl.date_range(first, end, eager=True).alias("Date").to_frame()
    if market.calendar_from_data:
        after = (pl.col("Date") > last) & (pl.col("Date").dt.weekday() <= 5)
        session = pl.col("Date").is_in(dates.unique().implode()) | after
    else:
        session = pl.col("Date").is_in(pl.Series(sessions, dtype=pl.Date).implode())
    holdiv = pl.when(session).then(pl.lit("1")).otherwise(pl.lit("0"))
    return days.with_columns(holdiv.alias("HolDiv"))


def check_home_market(store: RawStore, market: Market, name: str) -> None:
    """Refuse ``market`` when the store holds data (other than import ``name``) of another one."""
    held = load_market(store.root)
    own = {import_source(name), CALENDAR_SOURCE}
    others = store.catalog.sources() - own
    if others and held.name != market.name:
        raise MarketError(
            f"the raw store {store.root} holds market {held.name} (from {', '.join(sorted(others))}); "
            f"this import is market {market.name}: one home holds one market, import into a "
            "fresh GOGOOKU_HOME"
        )


def record_market(store: RawStore, market: Market) -> None:
    """Write ``raw/market.json`` for a market other than Tokyo (absent means Tokyo)."""
    if market.jpx:
        (store.root / MARKET_FILE).unlink(missing_ok=True)
    else:
        save_market(store.root, market)
