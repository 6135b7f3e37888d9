"""Walk-forward splits: hand-made folds, the no-overlap property (hypothesis), the CLI."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gogooku.config import SplitConfig
from gogooku.dataset.splits import (
    Fold,
    Segment,
    SplitError,
    assert_no_label_overlap,
    dataset_dates,
    walk_forward,
)

DATES = [date(2020, 1, 1) + timedelta(days=i) for i in range(400)]


def _pos(fold: Fold) -> tuple:
    return tuple((s.lo, s.hi) for s in (fold.train, fold.val, fold.test))


def test_rolling_folds_by_hand():
    config = SplitConfig(
        scheme="rolling",
        train_days=30,
        val_days=10,
        test_days=5,
        step_days=10,
        label_horizon=5,
        purge_days=6,
        embargo_days=2,
        first_day=3,
    )
    folds = walk_forward(DATES[:120], config)
    # gap = 6 + 2: train [3, 32], val [41, 50], test [59, 63]; +10 per fold; test must end by 119
    assert [_pos(f) for f in folds] == [
        ((3 + 10 * k, 32 + 10 * k), (41 + 10 * k, 50 + 10 * k), (59 + 10 * k, 63 + 10 * k))
        for k in range(6)
    ]
    assert folds[0].ranges() == {
        "train": {"start": "2020-01-04", "end": "2020-02-02", "days": 30},
        "val": {"start": "2020-02-11", "end": "2020-02-20", "days": 10},
        "test": {"start": "2020-02-29", "end": "2020-03-04", "days": 5},
    }
    assert folds[1].dates(DATES, "test") == DATES[69:74]


def test_expanding_folds_and_date_limits():
    config = SplitConfig(
        train_days=50,
        val_days=20,
        test_days=20,
        label_horizon=20,
        start=DATES[10],
        end=DATES[250],
        max_folds=3,
    )
    folds = walk_forward(DATES, config)
    # purge defaults to h + 1 = 21, step to test_days
    assert [_pos(f) for f in folds] == [
        ((10, 59 + 20 * k), (81 + 20 * k, 100 + 20 * k), (122 + 20 * k, 141 + 20 * k))
        for k in range(3)
    ]
    fewer = walk_forward(DATES, config.model_copy(update={"max_folds": None, "end": DATES[200]}))
    assert fewer[-1].test.hi <= 200 and len(fewer) == 3


def test_refusals():
    with pytest.raises(ValueError, match=r"purge_days=20 is shorter than label_horizon \+ 1 = 21"):
        SplitConfig(purge_days=20)
    with pytest.raises(SplitError, match=r"no fold fits: train_days 756 .* only 400 dates"):
        walk_forward(DATES, SplitConfig())
    with pytest.raises(SplitError, match="strictly ascending"):
        walk_forward(DATES[::-1], SplitConfig(train_days=5, val_days=5, test_days=5))


def test_overlap_check_catches_a_short_gap():
    seg = lambda lo, hi: Segment(lo, hi, DATES[lo], DATES[hi])  # noqa: E731
    leaky = Fold(0, seg(0, 49), seg(60, 69), seg(91, 100))
    with pytest.raises(
        SplitError,
        match=r"fold 0: the label window of train row 2020-02-19 \(positions 50..60\) reaches into 2020-03-01",
    ):
        assert_no_label_overlap([leaky], DATES, horizon=10)
    leaky_val = Fold(0, seg(0, 49), seg(61, 69), seg(75, 80))
    with pytest.raises(SplitError, match=r"label window of val row 2020-03-05"):
        assert_no_label_overlap([leaky_val], DATES, horizon=10)
    assert_no_label_overlap([Fold(0, seg(0, 49), seg(61, 69), seg(81, 90))], DATES, horizon=10)


@settings(max_examples=200, deadline=None)
@given(
    scheme=st.sampled_from(["expanding", "rolling"]),
    train=st.integers(1, 80),
    val=st.integers(1, 30),
    test=st.integers(1, 30),
    step=st.integers(1, 40),
    horizon=st.integers(0, 25),
    extra_purge=st.integers(0, 5),
    embargo=st.integers(0, 5),
    first=st.integers(0, 30),
)
def test_no_train_label_window_reaches_validation_or_test(
    scheme, train, val, test, step, horizon, extra_purge, embargo, first
):
    config = SplitConfig(
        scheme=scheme,
        train_days=train,
        val_days=val,
        test_days=test,
        step_days=step,
        label_horizon=horizon,
        purge_days=horizon + 1 + extra_purge,
        embargo_days=embargo,
        first_day=first,
    )
    try:
        folds = walk_forward(DATES[:300], config)
    except SplitError as exc:
        assert "no fold fits" in str(exc)
        assert first + train + val + test + 2 * config.gap > 300
        return
    for f in folds:
        # the label window of train row t is [t+1, t+1+h] (positions on the date axis)
        train_label_days = {
            t + k for t in range(f.train.lo, f.train.hi + 1) for k in range(1, horizon + 2)
        }
        val_label_days = {
            t + k for t in range(f.val.lo, f.val.hi + 1) for k in range(1, horizon + 2)
        }
        assert train_label_days.isdisjoint(range(f.val.lo, f.test.hi + 1))
        assert val_label_days.isdisjoint(range(f.test.lo, f.test.hi + 1))
        assert f.train.lo >= first and f.test.hi < 300
        assert (f.train.days, f.val.days, f.test.days) == (
            train + (step * f.index if scheme == "expanding" else 0),
            val,
            test,
        )
        assert f.val.lo - f.train.hi - 1 == config.gap == f.test.lo - f.val.hi - 1
    assert [f.test.lo for f in folds] == [folds[0].test.lo + step * k for k in range(len(folds))]


def test_splits_command_prints_the_folds(built, tmp_path, monkeypatch):
    from gogooku.cli import app

    monkeypatch.setenv("GOGOOKU_HOME", str(built.path.parent.parent))
    config = tmp_path / "s.toml"
    config.write_text(
        "[splits]\nscheme = 'rolling'\ntrain_days = 60\nval_days = 20\ntest_days = 20\n"
        "step_days = 20\n"
    )
    result = CliRunner().invoke(app, ["splits", "--dataset", "td", "--config", str(config)])
    assert result.exit_code == 0, result.output
    dates = dataset_dates(built.path)
    folds = walk_forward(
        dates, SplitConfig(scheme="rolling", train_days=60, val_days=20, test_days=20)
    )
    assert len(folds) == 4  # 206 dates: test of fold k ends at 141 + 20k <= 205
    for f in folds:
        for seg in (f.train, f.val, f.test):
            assert f"{seg.start} → {seg.end}" in result.output
    as_json = CliRunner().invoke(
        app, ["splits", "--dataset", "td", "--config", str(config), "--json"]
    )
    assert json.loads(as_json.output) == {
        "folds": [{"fold": f.index, **f.ranges()} for f in folds],
        "holdout": None,
    }
    assert "hold-out: none" in result.output
    config.write_text("[splits]\ntrain_dayz = 5\n")
    bad = CliRunner().invoke(app, ["splits", "--dataset", "td", "--config", str(config)])
    assert bad.exit_code == 1 and f"{config}: splits.train_dayz: unknown key" in bad.output


def test_splits_command_reads_a_run_configs_data_splits(built, tmp_path, monkeypatch):
    """A run config (its [data.splits]; a shipped name works) and --set: this used to fail with
    "missing table [splits]"."""
    from gogooku.cli import app

    monkeypatch.setenv("GOGOOKU_HOME", str(built.path.parent.parent))
    small = "data.splits={scheme='rolling', train_days=60, val_days=20, test_days=20}"
    dates = dataset_dates(built.path)
    expected = walk_forward(
        dates, SplitConfig(scheme="rolling", train_days=60, val_days=20, test_days=20)
    )
    for config in ("configs/lgbm.toml", "hpo_lgbm.toml"):
        args = ["splits", "--dataset", "td", "--config", config, "--json", "--set", small]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["folds"] == [
            {"fold": f.index, **f.ranges()} for f in expected
        ]
    run = tmp_path / "run.toml"
    run.write_text(
        "[data.splits]\nscheme = 'rolling'\ntrain_days = 60\nval_days = 20\ntest_days = 20\n"
        "[model]\nkind = 'lgbm'\n"
    )
    result = CliRunner().invoke(app, ["splits", "--dataset", "td", "--config", str(run), "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["folds"]) == len(expected)
    # the shipped ten-year splits on a 206-day dataset: no fold fits (and the message says so)
    result = CliRunner().invoke(app, ["splits", "--dataset", "td", "--config", "lgbm.toml"])
    assert result.exit_code == 1 and "no fold fits: train_days 735" in result.output
    assert "missing table" not in result.output
    bad = ["splits", "--dataset", "td", "--config", "lgbm.toml", "--set", "data.splits.x=1"]
    result = CliRunner().invoke(app, bad)
    assert result.exit_code == 1
    assert "data.splits.x: unknown key (from --set data.splits.x=1)" in result.output


def test_a_truncated_cache_date_axis_is_named(tmp_path):
    path = tmp_path / "cache" / "dates.npy"
    path.parent.mkdir()
    np.save(path, np.arange(100).astype("datetime64[D]"))
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(SplitError, match=rf"{path}: unreadable .*rebuild the dataset"):
        dataset_dates(tmp_path)
