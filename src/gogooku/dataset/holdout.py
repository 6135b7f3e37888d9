"""The sealed hold-out: the most recent trading days of a dataset, decided when it is built and
kept out of every fold, search, early stopping and ordinary evaluation.

``gogooku build --holdout SPEC`` records the decision in ``metadata.json`` as
``"holdout": {"start": "YYYY-MM-DD" | null, "spec": SPEC}``; the hold-out is the dataset's trading
days from ``start`` to its last day (``metadata.json`` ``end``), so an incremental extension
keeps the start and the hold-out grows. SPEC is one of

- ``auto`` (the default for a new dataset): the trading days of the last 12 calendar months
  (dated after the last day minus 12 months) when the dataset spans at least 4 years
  (first day + 4 years <= last day), else no hold-out;
- ``none``: no hold-out;
- ``<N>d``: the last N trading days; ``<N>m``: the trading days of the last N calendar months
  (as ``auto``, without the 4-year rule);
- ``YYYY-MM-DD``: the trading days on or after that date.

Research may use a day t only when its longest label window (closes t+1..t+1+h) ends before the
hold-out's first day: :func:`research_dates`. ``gogooku evaluate --final RUN`` is the one way to
score the hold-out (``gogooku.research.final``).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from gogooku.errors import GogookuError

AUTO_MIN_YEARS = 4
AUTO_MONTHS = 12
SPEC_HELP = "auto | none | <N>d (trading days) | <N>m (calendar months) | YYYY-MM-DD"
_SPEC_RE = re.compile(r"^(\d+)([dm])$")


class HoldoutError(GogookuError, ValueError):
    """A hold-out spec that cannot be parsed or does not fit the dataset's dates."""


@dataclass(frozen=True)
class Holdout:
    """The hold-out of a dataset: its first day (None: the dataset has none) and the dataset's
    last day (``end``; None when unknown)."""

    start: date | None
    end: date | None = None

    @property
    def active(self) -> bool:
        return self.start is not None

    def contains(self, day: date) -> bool:
        return self.start is not None and day >= self.start

    def describe(self) -> str:
        if self.start is None:
            return "none"
        return f"{self.start}..{self.end}" if self.end is not None else f"{self.start}.."

    def as_json(self) -> dict[str, str] | None:
        if self.start is None:
            return None
        return {"start": self.start.isoformat(), "end": self.end.isoformat() if self.end else None}


def _minus_months(day: date, months: int) -> date:
    """``day`` moved ``months`` calendar months back (the day clamped to the month's length)."""
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    m += 1
    nxt = date(y + (m == 12), m % 12 + 1, 1)
    return date(y, m, min(day.day, (nxt - timedelta(days=1)).day))


def check_spec(spec: str) -> str:
    """``spec`` normalised (lower-case, stripped) if it is a valid hold-out spec."""
    s = spec.strip().lower()
    if s in ("auto", "none") or _SPEC_RE.match(s):
        if _SPEC_RE.match(s) and int(s[:-1]) < 1:
            raise HoldoutError(f"--holdout {spec!r}: N must be at least 1")
        return s
    try:
        date.fromisoformat(s)
    except ValueError:
        raise HoldoutError(f"--holdout {spec!r}: expected {SPEC_HELP}") from None
    return s


def resolve_holdout(spec: str, dates: Sequence[date]) -> date | None:
    """The first hold-out day that ``spec`` gives on the ascending trading days ``dates`` (None:
    no hold-out); see the module doc. A hold-out that would leave no earlier day, or an explicit
    date after the last day, is a :class:`HoldoutError`."""
    s = check_spec(spec)
    if not dates or s == "none":
        return None
    first, last = dates[0], dates[-1]
    if s == "auto":
        if _minus_months(last, 12 * AUTO_MIN_YEARS) < first:
            return None
        cut = _minus_months(last, AUTO_MONTHS)
        i = bisect_right(dates, cut)
    elif m := _SPEC_RE.match(s):
        n, unit = int(m.group(1)), m.group(2)
        i = len(dates) - n if unit == "d" else bisect_right(dates, _minus_months(last, n))
    else:
        day = date.fromisoformat(s)
        if day > last:
            raise HoldoutError(f"--holdout {spec}: after the dataset's last day {last}")
        i = bisect_left(dates, day)
    if i <= 0:
        raise HoldoutError(
            f"--holdout {spec}: the hold-out would cover every day of the dataset "
            f"({first}..{last}); nothing would be left for research"
        )
    return dates[i]


def read_holdout(dataset_dir: Path) -> Holdout:
    """The hold-out recorded in ``dataset_dir/metadata.json`` (none for a dataset without one or
    without metadata)."""
    path = Path(dataset_dir) / "metadata.json"
    if not path.is_file():
        return Holdout(None)
    meta = json.loads(path.read_text())
    end = date.fromisoformat(meta["end"]) if meta.get("end") else None
    start = (meta.get("holdout") or {}).get("start")
    return Holdout(date.fromisoformat(start) if start else None, end)


def research_dates(
    dates: Sequence[date], holdout: Holdout, label_horizon: int, gap: int | None = None
) -> list[date]:
    """The leading days of ``dates`` research may use: those whose label window (closes
    t+1..t+1+h) ends before the hold-out's first day, i.e. all but the last ``h + 1`` days before
    it (``gap`` days instead when given, e.g. purge + embargo; at least ``h + 1``). All of
    ``dates`` when there is no hold-out."""
    dates = list(dates)
    if holdout.start is None:
        return dates
    drop = max(label_horizon + 1, gap or 0)
    return dates[: max(0, bisect_left(dates, holdout.start) - drop)]
