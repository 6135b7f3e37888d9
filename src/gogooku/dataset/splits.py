"""Walk-forward splits in trading days, with purge and embargo (``gogooku splits`` prints them).

Positions are indices on the dataset's date axis (its trading days). With g = purge + embargo
(``SplitConfig.gap``), s = step, a = ``first_day`` (raised to the index of ``start``) and
b = last index (lowered to the index of ``end``), fold k (k = 0, 1, …) is

- train: expanding [a, a + train_days − 1 + k·s]; rolling [a + k·s, a + k·s + train_days − 1];
- validation: the ``val_days`` days starting g days after the last training day;
- test: the ``test_days`` days starting g days after the last validation day;

folds are made while the test block ends by b (and up to ``max_folds``). The label of row t
(target at horizon h) reads closes t+1..t+1+h, so with purge ≥ h + 1 the last training row's label
window ends before the first validation day, and the last validation row's before the first
test day; ``assert_no_label_overlap`` checks this for every row of every fold.

A dataset with a sealed hold-out (``gogooku.dataset.holdout``) has its folds made from the days
before it only: :func:`dataset_folds` cuts the date axis ``gap`` days before the hold-out's first
day, so no fold's day, nor the label window of its last test day, reaches the hold-out.
:func:`final_fold` is the one fold whose test segment is the hold-out (``gogooku evaluate
--final``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path

import numpy as np
import polars as pl

from gogooku.config import SplitConfig
from gogooku.dataset.holdout import Holdout, read_holdout, research_dates
from gogooku.errors import GogookuError


class SplitError(GogookuError, ValueError):
    """The folds cannot be made or leak; the message names the parameter, fold or date."""


@dataclass(frozen=True)
class Segment:
    """An inclusive range of date-axis positions and its dates."""

    lo: int
    hi: int
    start: date
    end: date

    @property
    def days(self) -> int:
        return self.hi - self.lo + 1

    def positions(self) -> np.ndarray:
        return np.arange(self.lo, self.hi + 1)


@dataclass(frozen=True)
class Fold:
    index: int
    train: Segment
    val: Segment
    test: Segment

    def ranges(self) -> dict[str, dict[str, str | int]]:
        """Date ranges to record with a run: ``{"train": {"start", "end", "days"}, ...}``."""
        return {
            name: {"start": seg.start.isoformat(), "end": seg.end.isoformat(), "days": seg.days}
            for name, seg in (("train", self.train), ("val", self.val), ("test", self.test))
        }

    def dates(self, dates: Sequence[date], segment: str) -> list[date]:
        seg = getattr(self, segment)
        return list(dates[seg.lo : seg.hi + 1])


def walk_forward(dates: Sequence[date], config: SplitConfig) -> list[Fold]:
    """Folds over the ascending trading days ``dates``; see the module doc for the layout."""
    dates = list(dates)
    if any(b <= a for a, b in pairwise(dates)):
        raise SplitError("dates must be strictly ascending")
    first = config.first_day
    last = len(dates) - 1
    if config.start is not None:
        first = max(first, bisect_left(dates, config.start))
    if config.end is not None:
        last = bisect_right(dates, config.end) - 1

    def seg(lo: int, hi: int) -> Segment:
        return Segment(lo, hi, dates[lo], dates[hi])

    folds: list[Fold] = []
    gap, step = config.gap, config.step
    while config.max_folds is None or len(folds) < config.max_folds:
        k = len(folds)
        t_lo = first if config.scheme == "expanding" else first + k * step
        t_hi = (first if config.scheme == "expanding" else t_lo) + config.train_days - 1
        if config.scheme == "expanding":
            t_hi += k * step
        v_lo = t_hi + 1 + gap
        v_hi = v_lo + config.val_days - 1
        x_lo = v_hi + 1 + gap
        x_hi = x_lo + config.test_days - 1
        if x_hi > last:
            break
        folds.append(Fold(k, seg(t_lo, t_hi), seg(v_lo, v_hi), seg(x_lo, x_hi)))
    if not folds:
        need = config.train_days + config.val_days + config.test_days + 2 * gap
        raise SplitError(
            f"no fold fits: train_days {config.train_days} + val_days {config.val_days} + "
            f"test_days {config.test_days} + 2 × gap {gap} = {need} trading days, but only "
            f"{max(0, last - first + 1)} dates from index {first} to {last}"
        )
    assert_no_label_overlap(folds, dates, config.label_horizon)
    return folds


def assert_no_label_overlap(folds: Sequence[Fold], dates: Sequence[date], horizon: int) -> None:
    """Raise if a train (or validation) row's label window [t+1, t+1+h] meets a later segment."""
    for fold in folds:
        for name, seg, later in (
            ("train", fold.train, (fold.val, fold.test)),
            ("val", fold.val, (fold.test,)),
        ):
            rows = seg.positions()
            win_lo, win_hi = rows + 1, rows + 1 + horizon
            for other in later:
                hit = (win_lo <= other.hi) & (win_hi >= other.lo)
                if hit.any():
                    t = int(rows[hit.argmax()])
                    raise SplitError(
                        f"fold {fold.index}: the label window of {name} row {dates[t]} "
                        f"(positions {t + 1}..{t + 1 + horizon}) reaches into "
                        f"{dates[other.lo]}..{dates[other.hi]}"
                    )


def dataset_dates(dataset_dir: Path) -> list[date]:
    """The date axis: the cache's when present, else the distinct dates of ``panel.parquet``."""
    cache_dates = dataset_dir / "cache" / "dates.npy"
    if cache_dates.exists():
        try:
            return np.load(cache_dates).astype("datetime64[D]").tolist()
        except (ValueError, OSError, EOFError) as exc:
            raise SplitError(
                f"{cache_dates}: unreadable ({exc}); rebuild the dataset (gogooku build --full)"
            ) from None
    panel = dataset_dir / "panel.parquet"
    if not panel.exists():
        raise SplitError(f"{panel}: not found (build the dataset first)")
    frame = pl.scan_parquet(panel).select(pl.col("Date").unique().sort()).collect()
    return frame["Date"].to_list()


def _first_usable(dates: Sequence[date], config: SplitConfig) -> int:
    first = config.first_day
    if config.start is not None:
        first = max(first, bisect_left(dates, config.start))
    return first


def dataset_folds(dataset_dir: Path, config: SplitConfig) -> list[Fold]:
    """The walk-forward folds of a built dataset under ``config``: what every trainer, search and
    ``gogooku splits`` uses, so the dates a fold may touch are decided here once.

    With a hold-out, the folds are made from the days before it less ``config.gap`` (purge +
    embargo, at least ``label_horizon + 1``): the label window of the last test day ends before
    the hold-out's first day."""
    dates = dataset_dates(dataset_dir)
    holdout = read_holdout(dataset_dir)
    if not holdout.active:
        return walk_forward(dates, config)
    usable = research_dates(dates, holdout, config.label_horizon, config.gap)
    try:
        return walk_forward(usable, config)
    except SplitError as exc:
        raise SplitError(
            f"{exc} (the dataset's hold-out {holdout.start}..{dates[-1]} and the {config.gap} "
            f"days before it are sealed; folds end by {usable[-1] if usable else 'nothing'})"
        ) from None


def final_fold(dates: Sequence[date], holdout: Holdout, config: SplitConfig) -> Fold:
    """The fold that scores the hold-out: test = every day from the hold-out's first day to the
    last of ``dates``; validation = ``val_days`` days ending ``gap`` days before it; train =
    ``train_days`` days ending ``gap`` days before validation (``rolling``), or every day from
    the first usable day (``first_day``/``start``) to there (``expanding``). Index -1."""
    dates = list(dates)
    if holdout.start is None:
        raise SplitError("the dataset has no hold-out")
    x_lo = bisect_left(dates, holdout.start)
    if x_lo >= len(dates):
        raise SplitError(f"the hold-out starting {holdout.start} has no day on the date axis")
    gap = config.gap
    v_hi = x_lo - 1 - gap
    v_lo = v_hi - config.val_days + 1
    t_hi = v_lo - 1 - gap
    first = _first_usable(dates, config)
    t_lo = first if config.scheme == "expanding" else t_hi - config.train_days + 1
    if t_lo < first or t_hi - t_lo + 1 < config.train_days:
        need = config.train_days + config.val_days + 2 * gap
        raise SplitError(
            f"no final fold fits: train_days {config.train_days} + val_days {config.val_days} + "
            f"2 × gap {gap} = {need} trading days before the hold-out ({holdout.start}), but "
            f"only {max(0, x_lo - first)} from index {first}"
        )

    def seg(lo: int, hi: int) -> Segment:
        return Segment(lo, hi, dates[lo], dates[hi])

    fold = Fold(-1, seg(t_lo, t_hi), seg(v_lo, v_hi), seg(x_lo, len(dates) - 1))
    assert_no_label_overlap([fold], dates, config.label_horizon)
    return fold
