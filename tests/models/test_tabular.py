"""fit_predict_tabular: the purge assertion, normalisation, train-only fitting, linear ridge."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from gogooku.config import NormalizationConfig
from gogooku.dataset.cache import STATIC_IDS
from gogooku.dataset.normalize import normalize_frame
from gogooku.dataset.tabular import TabularError, assert_purged, prepare
from gogooku.kinds.tabular import fit_predict_tabular
from gogooku.models.linear import LinearConfig
from gogooku.runs import Ranges, create_run, read_predictions, write_predictions

D = dt.date


def _days(n: int) -> list[dt.date]:
    return [D(2021, 1, 4) + dt.timedelta(days=i) for i in range(n)]


def test_purge_needs_h_plus_one_trading_days_between_splits():
    days = _days(30)
    # train ends at position 9, valid starts at 15 → 5 days between: enough for h ≤ 4
    ranges = Ranges(train=(days[0], days[9]), valid=(days[15], days[19]), test=(days[25], days[29]))
    assert_purged(days, ranges, [1, 4])
    with pytest.raises(TabularError, match=r"train ends .* only 5 trading day\(s\).* 5-day label"):
        assert_purged(days, ranges, [5])
    # calendar days absent from the axis do not count: drop positions 10..14 from the axis
    thin = days[:10] + days[15:]
    with pytest.raises(TabularError, match=r"only 0 trading day"):
        assert_purged(thin, ranges, [1])


def test_fit_predict_refuses_ranges_without_purge(baselines_market, baselines_home, tmp_path):
    r = baselines_market.ranges
    leaky = Ranges(
        train=(r.train[0], r.valid[0] - dt.timedelta(days=3)), valid=r.valid, test=r.test
    )
    with pytest.raises(TabularError, match="needs a purge of at least 21"):
        fit_predict_tabular(
            LinearConfig(),
            baselines_market.panel,
            baselines_market.features,
            leaky,
            baselines_market.target,
            tmp_path,
        )


def test_prepare_normalises_features_per_date_with_the_one_function(baselines_market):
    spec = NormalizationConfig(method="robust_z", clip=3.0, missing_indicator=True)
    data = prepare(
        baselines_market.panel,
        baselines_market.features,
        baselines_market.ranges,
        baselines_market.target,
        spec,
    )
    assert data.frame["split"].unique().sort().to_list() == ["test", "train", "valid"]
    day = data.frame.filter(pl.col("split") == "valid")["Date"][0]
    rows = baselines_market.panel.filter(pl.col("Date") == day)
    # categorical ids are not ordinal: left out of the tabular inputs
    numeric = [f for f in baselines_market.features if f not in STATIC_IDS]
    assert len(numeric) == len(baselines_market.features) - 3
    expected = normalize_frame(rows, numeric, spec)
    got = data.frame.filter(pl.col("Date") == day).select(expected.columns)
    assert got.equals(expected)
    assert len(data.inputs) == 2 * len(numeric)
    assert got.select(data.inputs).null_count().sum_horizontal().item() == 0


def test_prepare_ids_dropped_normalised_or_kept_as_raw_codes(baselines_market):
    spec = NormalizationConfig()
    args = (
        baselines_market.panel,
        baselines_market.features,
        baselines_market.ranges,
        baselines_market.target,
        spec,
    )
    ids = [f for f in baselines_market.features if f in STATIC_IDS]
    numeric = [f for f in baselines_market.features if f not in STATIC_IDS]
    assert ids == list(STATIC_IDS)
    dropped = prepare(*args)
    assert prepare(*args, ids="drop").inputs == dropped.inputs == numeric
    assert dropped.categorical == () and not set(ids) & set(dropped.frame.columns)
    # "numeric": the ids normalised per date among the features, in the features' order
    as_numbers = prepare(*args, ids="numeric")
    assert as_numbers.inputs == baselines_market.features and as_numbers.categorical == ()
    day = as_numbers.frame["Date"][0]
    rows = baselines_market.panel.filter(pl.col("Date") == day)
    expected = normalize_frame(rows, baselines_market.features, spec)
    got = as_numbers.frame.filter(pl.col("Date") == day).select(expected.columns)
    assert got.equals(expected)
    # "categorical": numeric features normalised as with "drop", then the ids' raw integer codes
    coded = prepare(*args, ids="categorical")
    assert coded.inputs == [*numeric, *ids] and coded.categorical == tuple(ids)
    assert coded.frame.select(numeric).equals(dropped.frame.select(numeric))
    assert all(coded.frame.schema[i] == pl.Int32 for i in ids)
    raw = baselines_market.panel.select("Date", "Code", *ids)
    joined = coded.frame.select("Date", "Code", *ids).join(
        raw, on=["Date", "Code"], how="left", suffix="_panel"
    )
    for i in ids:
        assert (joined[i] == joined[f"{i}_panel"].cast(pl.Int32)).all()
    assert coded.frame["sector33_id"].n_unique() > 5  # codes, not a per-day rank transform
    with pytest.raises(TabularError, match="ids: 'ordinal'"):
        prepare(*args, ids="ordinal")


def _corrupt(panel: pl.DataFrame, start: dt.date, columns: list[str]) -> pl.DataFrame:
    """Replace ``columns`` on dates ≥ start by noise."""
    rng = np.random.default_rng(3)
    late = pl.col("Date") >= start
    return panel.with_columns(
        pl.when(late)
        .then(pl.Series(rng.normal(size=panel.height)).cast(panel.schema[c]))
        .otherwise(pl.col(c))
        .alias(c)
        for c in columns
    )


def test_linear_fits_train_rows_only_and_writes_a_valid_run(
    baselines_market, baselines_home, tmp_path
):
    cfg = LinearConfig(alpha=5.0)
    preds = fit_predict_tabular(
        cfg,
        baselines_market.panel,
        baselines_market.features,
        baselines_market.ranges,
        baselines_market.target,
        tmp_path / "a",
    )
    run_dir, _ = create_run(
        "linear", "b1", baselines_market.horizons, baselines_market.ranges, run_id="lin"
    )
    write_predictions(run_dir, preds)
    back = read_predictions(run_dir)
    in_ranges = baselines_market.panel.filter(
        pl.any_horizontal(
            pl.col("Date").is_between(*baselines_market.ranges.of(s))
            for s in ("train", "valid", "test")
        )
    )
    assert back.height == in_ranges.height
    assert back.select(pl.col("^pred_.*$").is_finite().all()).row(0) == (True,) * len(
        baselines_market.horizons
    )
    # a horizon's own ridge: the columns differ
    assert not np.allclose(back["pred_1d"].to_numpy(), back["pred_20d"].to_numpy())
    # labels of validation and test days (and everything after train) never reach the fit
    targets = [c for c in baselines_market.panel.columns if c.startswith("target_")]
    noisy = _corrupt(baselines_market.panel, baselines_market.ranges.valid[0], targets)
    again = fit_predict_tabular(
        cfg,
        noisy,
        baselines_market.features,
        baselines_market.ranges,
        baselines_market.target,
        tmp_path / "b",
    )
    assert again.equals(preds)
    # while a change in the training labels changes the fit
    changed = _corrupt(baselines_market.panel, baselines_market.ranges.train[0], ["target_5d"])
    other = fit_predict_tabular(
        cfg,
        changed,
        baselines_market.features,
        baselines_market.ranges,
        baselines_market.target,
        tmp_path / "c",
    )
    assert not other["pred_5d"].equals(preds["pred_5d"])
    assert other["pred_1d"].equals(preds["pred_1d"])
