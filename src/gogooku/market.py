"""Which market a home's raw store holds: Tokyo under JPX rules, or another market without them.

The raw store records it in ``raw/market.json`` (written by ``gogooku import prices --market``);
a store without the file is Tokyo (what ``gogooku fetch`` and the synthetic market deliver).

- ``XTKS`` (Tokyo): the JPX/J-Quants calendar, 5-character J-Quants codes, daily price limits,
  100-share lots, the 2020-10-01 halt, SQ days and the TSE session times.
- any other name: an ``exchange_calendars`` code (``XNYS``, ``XLON``, ...) whose sessions are the
  calendar, or ``data``: the dates present in the imported prices are the trading days (and
  weekdays after the last one). Codes are kept as given (tickers), lots are 1 share, and nothing
  Japanese (limits, halt, SQ, session times) applies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gogooku.errors import GogookuError
from gogooku.io import atomic_path

MARKET_FILE = "market.json"
TOKYO = "XTKS"
DATA_CALENDAR = "data"
JPX_CODE = re.compile(r"^\d{3}[0-9A-Z](\d)?$")


class MarketError(GogookuError, ValueError):
    """An unknown market name, or an import into a store that holds another market."""


@dataclass(frozen=True)
class Market:
    """A market's name and the rules that follow from it (see the module doc)."""

    name: str = TOKYO

    @property
    def jpx(self) -> bool:
        """Whether JPX rules apply (calendar, codes, price limits, lots, halt, SQ, sessions)."""
        return self.name == TOKYO

    @property
    def lot_size(self) -> int:
        return 100 if self.jpx else 1

    @property
    def calendar_from_data(self) -> bool:
        """Whether the trading days are the dates present in the data (``--market data``)."""
        return self.name == DATA_CALENDAR

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "jpx": self.jpx, "lot_size": self.lot_size}


def check_market_name(name: str) -> Market:
    """``Market(name)`` for ``XTKS``, ``data`` or a calendar ``exchange_calendars`` knows."""
    if name in (TOKYO, DATA_CALENDAR):
        return Market(name)
    import exchange_calendars as xc

    if name not in xc.get_calendar_names(include_aliases=True):
        raise MarketError(
            f"--market {name!r}: not an exchange_calendars code (e.g. XNYS, XLON, XTKS) nor "
            f"{DATA_CALENDAR!r} (the dates in the data are the calendar)"
        )
    return Market(name)


def detect_jpx(codes: Iterable[str]) -> bool:
    """Whether every code looks like a JPX code: 4 characters (1301, 130A) or J-Quants' 5."""
    values = [str(c).strip() for c in codes if c is not None]
    return bool(values) and all(JPX_CODE.match(v) for v in values)


def load_market(raw_dir: Path) -> Market:
    """The market recorded in ``raw_dir/market.json``; Tokyo when there is none."""
    path = Path(raw_dir) / MARKET_FILE
    if not path.exists():
        return Market()
    try:
        return Market(str(json.loads(path.read_text())["name"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise MarketError(f"{path}: not a market record ({exc})") from exc


def dataset_market(dataset_dir: Path) -> Market:
    """The market a dataset was built from (``market.name`` of its ``metadata.json``); Tokyo for
    a dataset built before markets were recorded or without a metadata file."""
    path = Path(dataset_dir) / "metadata.json"
    if not path.is_file():
        return Market()
    try:
        entry = json.loads(path.read_text()).get("market")
        return Market(str(entry["name"])) if entry is not None else Market()
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MarketError(f"{path}: unreadable market entry ({exc})") from exc


def save_market(raw_dir: Path, market: Market) -> None:
    """Record ``market`` in ``raw_dir/market.json`` (atomically)."""
    path = Path(raw_dir) / MARKET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(market.to_json(), indent=2) + "\n")
