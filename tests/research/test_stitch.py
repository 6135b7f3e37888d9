"""Stitching a walk-forward run: every test day once, from the fit whose group covers it."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.config import SplitConfig
from gogooku.dataset.splits import walk_forward
from gogooku.research.plan import WalkForwardError, group_folds
from gogooku.research.stitch import stitch

DATES = [dt.date(2021, 1, 4) + dt.timedelta(days=i) for i in range(120)]
CODES = ["1301", "7203"]


def _fit_frame(group, seed: int, horizons) -> pl.DataFrame:
    """A fit's predictions on every date of its fold (train, valid and its whole test block),
    pred = 1000·group + 10·seed (+ h/100), so the source fit can be read back."""
    f = group.fold
    rows = []
    for split, seg in (("train", f.train), ("valid", f.val), ("test", f.test)):
        for d in DATES[seg.lo : seg.hi + 1]:
            rows += [(d, c, split) for c in CODES]
    frame = pl.DataFrame(rows, schema=["Date", "Code", "split"], orient="row")
    return frame.with_columns(
        pl.lit(1000.0 * group.first + 10.0 * seed + h / 100).alias(f"pred_{h}d") for h in horizons
    )


@settings(max_examples=40, deadline=None)
@given(
    train=st.integers(5, 15),
    val=st.integers(1, 5),
    test=st.integers(1, 8),
    extra_step=st.integers(0, 3),
    gap=st.integers(1, 3),
    refit=st.integers(1, 4),
    seeds=st.integers(1, 3),
    data=st.data(),
)
def test_every_test_day_once_from_the_covering_group(
    train, val, test, extra_step, gap, refit, seeds, data
):
    config = SplitConfig(
        scheme=data.draw(st.sampled_from(["rolling", "expanding"])),
        train_days=train,
        val_days=val,
        test_days=test,
        step_days=test + extra_step,
        label_horizon=gap - 1,
        purge_days=gap,
    )
    folds = walk_forward(DATES, config)
    a = data.draw(st.integers(0, len(folds) - 1))
    b = data.draw(st.integers(a, len(folds) - 1))
    groups = group_folds(folds, list(range(a, b + 1)), refit)
    horizons = [1, 5]
    fits = [(g, s, _fit_frame(g, s, horizons)) for g in groups for s in range(seeds)]
    by_seed, stitched = stitch(fits, horizons)

    expected = {}  # day -> (fold, group first)
    for g in groups:
        for f in g.folds:
            for d in DATES[f.test.lo : f.test.hi + 1]:
                assert d not in expected
                expected[d] = (f.index, g.first)
    assert stitched.height == len(expected) * len(CODES)
    assert stitched.select("Date", "Code").is_duplicated().sum() == 0
    assert set(stitched["split"]) == {"test"}
    assert set(stitched["n_seeds"]) == {seeds}
    assert by_seed.height == stitched.height * seeds
    mean_seed = 10.0 * (seeds - 1) / 2
    for row in stitched.iter_rows(named=True):
        fold, first = expected[row["Date"]]
        assert row["fold"] == fold
        assert row["pred_5d"] == pytest.approx(1000.0 * first + mean_seed + 0.05)
    assert stitched.schema["fold"] == pl.Int32 and stitched.schema["n_seeds"] == pl.Int32
    assert stitched.columns == ["Date", "Code", "pred_1d", "pred_5d", "split", "fold", "n_seeds"]
    assert by_seed.columns == ["Date", "Code", "fold", "seed", "pred_1d", "pred_5d"]


def test_a_day_from_two_groups_is_refused():
    config = SplitConfig(train_days=10, val_days=3, test_days=5, label_horizon=1, purge_days=2)
    folds = walk_forward(DATES, config)
    (both,) = group_folds(folds, [0, 1], 2)
    (second,) = group_folds(folds, [1], 1)
    fits = [(g, 0, _fit_frame(g, 0, [1])) for g in (both, second)]
    with pytest.raises(WalkForwardError, match="more than one fit group"):
        stitch(fits, [1])
