"""The raw store as it stood at 19:00 JST on a day D, by each source's publication rule.

``PublishedStore(tables, cut)`` serves in-memory raw tables the way ``TableStore`` does, but every
record that was not yet usable at the decision time of ``cut`` (its ``available_from`` after
``cut`` by its source's rule in ``gogooku.features.availability``, or never) is deleted; with
``noise_seed`` it is kept and its values are replaced by noise instead (floats scaled and shifted
at random, every other column shuffled), its key, date and time columns left as they are so it
stays the same not-yet-published record. The trading calendar is kept whole (it is published ahead).
A table of a dataset without a publication rule is refused at construction, naming it, so a new
source cannot slip past the point-in-time tests.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from gogooku.calendar import TradingCalendar
from gogooku.features.availability import source_rule, usable_by, usable_on
from gogooku.store.raw import RawStore

CALENDAR = "markets_calendar"


def _perturbed(
    frame: pl.DataFrame, dataset: str, calendar: TradingCalendar, cut: date, seed: int
) -> pl.DataFrame:
    """``frame`` with the values of its records not usable on ``cut`` replaced by noise."""
    _, dates = source_rule(dataset)
    kept = {"Code", *RawStore.key(dataset), dates.date_col, dates.time_col}
    late = frame.select(usable_on(dataset, calendar, cut).not_()).to_series()
    rng = np.random.default_rng([seed, cut.toordinal(), len(dataset)])
    noisy = []
    for name in frame.columns:
        values = frame[name]
        if name in kept:
            continue
        if values.dtype.is_float():
            scale = rng.uniform(0.5, 1.5, frame.height)
            shift = rng.uniform(0.0, 0.1, frame.height) * (values.abs().mean() or 1.0)
            noise = values * scale + shift
        else:
            noise = values.shuffle(seed=int(rng.integers(2**31)))
        noisy.append(values.zip_with(~late, noise.cast(values.dtype)))
    return frame.with_columns(noisy)


class PublishedStore:
    """``scan`` over in-memory raw tables as they stood at 19:00 JST on ``cut`` (module doc)."""

    def __init__(
        self, tables: dict[str, pl.DataFrame], cut: date, noise_seed: int | None = None
    ) -> None:
        for dataset in tables:
            if dataset != CALENDAR:
                source_rule(dataset)
        self.tables, self.cut, self.noise_seed = tables, cut, noise_seed
        self.calendar = TradingCalendar.from_frame(tables[CALENDAR])
        self._cut: dict[str, pl.DataFrame] = {}

    def scan(self, dataset: str) -> pl.LazyFrame:
        if dataset not in self.tables:
            return pl.LazyFrame(schema=RawStore.schema(dataset))
        frame = self.tables[dataset]
        if dataset == CALENDAR:
            return frame.lazy()
        if dataset not in self._cut:
            self._cut[dataset] = (
                usable_by(frame, dataset, self.calendar, self.cut).collect()
                if self.noise_seed is None
                else _perturbed(frame, dataset, self.calendar, self.cut, self.noise_seed)
            )
        return self._cut[dataset].lazy()
