"""The sealed hold-out: the spec rules by hand, the folds never reach it (hypothesis), the build
records it and keeps its start, ordinary evaluation refuses its dates."""

from __future__ import annotations

import json
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gogooku.config import SplitConfig
from gogooku.dataset.build import BuildError, build_dataset
from gogooku.dataset.holdout import (
    Holdout,
    HoldoutError,
    _minus_months,
    read_holdout,
    research_dates,
    resolve_holdout,
)
from gogooku.dataset.splits import SplitError, dataset_folds, final_fold
from gogooku.evaluate.evaluator import EvaluationError, evaluate_run
from gogooku.runs import create_run, write_predictions

from ..support.tables import TableStore
from .conftest import RETURNS_BLOCK


def weekdays(first: date, last: date) -> list[date]:
    n = (last - first).days + 1
    return [d for d in (first + timedelta(i) for i in range(n)) if d.weekday() < 5]


# --- the spec rules, by hand ------------------------------------------------------------------


def test_auto_holds_out_the_last_12_months_of_a_dataset_of_4_years_or_more():
    dates = weekdays(date(2019, 1, 1), date(2023, 12, 29))  # last day a Friday
    # last day minus 12 months = 2022-12-29 (Thu): the hold-out starts the next trading day
    assert resolve_holdout("auto", dates) == date(2022, 12, 30)
    exactly_4 = weekdays(date(2020, 1, 1), date(2024, 1, 1))  # first + 4 years == last
    assert resolve_holdout("auto", exactly_4) == date(2023, 1, 2)


def test_auto_is_none_under_4_years_and_none_is_none():
    dates = weekdays(date(2020, 1, 2), date(2023, 12, 29))  # 4 years less 4 days
    assert resolve_holdout("auto", dates) is None
    assert resolve_holdout("none", weekdays(date(2010, 1, 1), date(2023, 12, 29))) is None


def test_n_days_n_months_and_an_explicit_date():
    dates = weekdays(date(2023, 1, 2), date(2023, 12, 29))
    assert resolve_holdout("20d", dates) == dates[-20] == date(2023, 12, 4)
    assert resolve_holdout("1d", dates) == date(2023, 12, 29)
    # 3 months before Fri 2023-12-29 is Fri 2023-09-29: the hold-out starts Mon 2023-10-02
    assert resolve_holdout("3m", dates) == date(2023, 10, 2)
    assert resolve_holdout(" 3M ", dates) == date(2023, 10, 2)
    assert resolve_holdout("2023-06-10", dates) == date(2023, 6, 12)  # a Saturday
    assert resolve_holdout("2023-06-12", dates) == date(2023, 6, 12)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("abc", "expected auto | none"),
        ("0d", "at least 1"),
        ("5y", "expected auto | none"),
        ("2024-01-05", "after the dataset's last day 2023-12-29"),
        ("260d", "would cover every day"),
        ("300d", "would cover every day"),
        ("2022-01-03", "would cover every day"),
    ],
)
def test_bad_specs_are_refused(spec, message):
    dates = weekdays(date(2023, 1, 2), date(2023, 12, 29))  # 260 days
    with pytest.raises(HoldoutError, match=message):
        resolve_holdout(spec, dates)


def test_months_back_clamp_to_the_month_end():
    assert _minus_months(date(2024, 3, 31), 1) == date(2024, 2, 29)
    assert _minus_months(date(2024, 1, 15), 13) == date(2022, 12, 15)
    assert _minus_months(date(2023, 12, 29), 12) == date(2022, 12, 29)


def test_research_dates_drop_the_label_window_before_the_holdout():
    dates = weekdays(date(2023, 1, 2), date(2023, 6, 30))
    hold = Holdout(dates[80])
    # a day t is usable when t + 1 + h < 80: t <= 80 - h - 2, i.e. the first 80 - h - 1 days
    assert research_dates(dates, hold, 5) == dates[:74]
    assert research_dates(dates, hold, 5, gap=10) == dates[:70]
    assert research_dates(dates, Holdout(None), 5) == dates


# --- no fold reaches the hold-out (property) ---------------------------------------------------


def _dataset(folder: Path, dates: list[date], start: date | None) -> Path:
    (folder / "cache").mkdir(parents=True, exist_ok=True)
    np.save(folder / "cache" / "dates.npy", np.array(dates, dtype="datetime64[D]"))
    meta = {"end": dates[-1].isoformat(), "holdout": {"start": start and start.isoformat()}}
    (folder / "metadata.json").write_text(json.dumps(meta))
    return folder


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(60, 400),
    hold_days=st.integers(1, 80),
    scheme=st.sampled_from(["expanding", "rolling"]),
    train=st.integers(5, 80),
    val=st.integers(1, 30),
    test=st.integers(1, 30),
    horizon=st.integers(0, 20),
    extra_purge=st.integers(0, 3),
    embargo=st.integers(0, 5),
    step=st.integers(1, 30),
    first_day=st.integers(0, 10),
    offset=st.integers(0, 3000),
)
def test_no_fold_day_nor_label_window_reaches_the_holdout(
    n, hold_days, scheme, train, val, test, horizon, extra_purge, embargo, step, first_day, offset
):
    assume(hold_days < n)
    dates = weekdays(date(2010, 1, 4) + timedelta(offset), date(2030, 1, 1))[:n]
    hold = dates[n - hold_days]
    config = SplitConfig(
        scheme=scheme,
        train_days=train,
        val_days=val,
        test_days=test,
        step_days=step,
        label_horizon=horizon,
        purge_days=horizon + 1 + extra_purge,
        embargo_days=embargo,
        first_day=first_day,
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = _dataset(Path(tmp), dates, hold)
        try:
            folds = dataset_folds(folder, config)
        except SplitError:
            folds = []
    h_pos = n - hold_days
    for f in folds:
        for seg in (f.train, f.val, f.test):
            assert seg.hi < h_pos and seg.end < hold
            # the label of the segment's last day reads closes up to seg.hi + 1 + h
            assert seg.hi + 1 + horizon < h_pos
    try:
        final = final_fold(dates, Holdout(hold, dates[-1]), config)
    except SplitError:
        return
    assert (final.test.lo, final.test.hi, final.test.start) == (h_pos, n - 1, hold)
    assert final.val.hi + 1 + config.gap == h_pos and final.val.days == val
    assert final.train.hi + 1 + config.gap == final.val.lo and final.train.lo >= first_day
    assert final.train.days == (train if scheme == "rolling" else final.train.hi - first_day + 1)


# --- the build records it and keeps its start -------------------------------------------------


def _build(store, end: date, **kw):
    return build_dataset(
        "h",
        date(2020, 8, 3),
        end,
        store=store,
        registry={"t_returns": RETURNS_BLOCK},
        show_progress=False,
        **kw,
    )


def test_build_records_the_holdout_and_an_extension_keeps_its_start(small_market):
    store = TableStore(small_market)
    first = _build(store, date(2021, 1, 29), holdout="20d")
    meta = json.loads((first.path / "metadata.json").read_text())
    dates = pl.read_parquet(first.path / "panel.parquet")["Date"].unique().sort().to_list()
    assert meta["holdout"] == {"start": dates[-20].isoformat(), "spec": "20d"}
    start = dates[-20]
    assert read_holdout(first.path) == Holdout(start, date(2021, 1, 29))

    extended = _build(store, date(2021, 2, 26))  # no --holdout: keeps it, the hold-out grows
    assert extended.incremental
    assert read_holdout(extended.path) == Holdout(start, date(2021, 2, 26))
    again = _build(store, date(2021, 3, 15), holdout="20d")  # same spec: still the same start
    assert read_holdout(again.path).start == start

    with pytest.raises(BuildError, match="--holdout-reset"):
        _build(store, date(2021, 3, 15), holdout="10d", incremental=False)
    with pytest.raises(BuildError, match="--holdout-reset"):
        _build(store, date(2021, 3, 15), holdout="none")
    assert read_holdout(again.path).start == start  # nothing written by a refused build
    # an explicit date equal to the recorded start is not a change
    _build(store, date(2021, 3, 15), holdout=start.isoformat())
    reset = _build(store, date(2021, 3, 15), holdout="10d", holdout_reset=True, incremental=False)
    assert read_holdout(reset.path).start > start


def test_a_small_dataset_has_no_holdout_by_default(small_market):
    result = _build(TableStore(small_market), date(2021, 1, 29))
    assert json.loads((result.path / "metadata.json").read_text())["holdout"] == {
        "start": None,
        "spec": "auto",
    }
    assert not read_holdout(result.path).active


# --- ordinary evaluation refuses hold-out dates -----------------------------------------------


def test_evaluate_refuses_predictions_dated_in_the_holdout(_isolated_home):
    dates = weekdays(date(2023, 1, 2), date(2023, 3, 31))
    folder = _isolated_home / "datasets" / "hx"
    _dataset(folder, dates, dates[-10])
    ranges = {
        "train": (dates[0], dates[29]),
        "valid": (dates[40], dates[49]),
        "test": (dates[55], dates[-1]),
    }
    run_dir, _ = create_run("factor", "hx", [1], ranges, run_id="r")
    preds = pl.DataFrame(
        {
            "Date": dates[55:],
            "Code": ["13010"] * len(dates[55:]),
            "pred_1d": [0.0] * len(dates[55:]),
            "split": ["test"] * len(dates[55:]),
        }
    )
    write_predictions(run_dir, preds)
    with pytest.raises(EvaluationError) as err:
        evaluate_run(run_dir)
    message = str(err.value)
    assert f"dated {dates[-10]}..{dates[-1]}" in message
    assert "hold-out" in message and "'hx'" in message and "--final" in message
