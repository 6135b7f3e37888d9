"""LightGBM baseline: lambdarank grades and day groups, early stopping on validation RankIC,
feature importance, predictions through the run contract."""

from __future__ import annotations

import datetime as dt
import itertools

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr

from gogooku.config import NormalizationConfig
from gogooku.dataset.cache import STATIC_IDS
from gogooku.dataset.tabular import prepare
from gogooku.kinds.tabular import fit_predict_tabular
from gogooku.models.gbdt import (
    IMPORTANCE_FILE,
    LgbmConfig,
    lambdarank_labels,
    mean_daily_rank_ic,
    ranking_datasets,
)
from gogooku.runs import Ranges, create_run, write_predictions
from gogooku.target import TargetConfig

D = dt.date
FAST = {"num_boost_round": 60, "early_stopping_rounds": 15, "min_data_in_leaf": 20}
FAST |= {"num_leaves": 7, "num_threads": 1}


def test_lambdarank_grades_are_per_day_quantiles():
    # 7 stocks on one day, 5 grades: ⌊(r − 1)·5/7⌋ for r = 1..7 → 0, 0, 1, 2, 2, 3, 4
    day1 = pl.DataFrame(
        {
            "Date": [D(2021, 1, 4)] * 7,
            "Code": [f"{1000 + i}0" for i in range(7)],
            "y": [0.3, -0.1, 0.7, 0.0, 0.5, -0.4, 0.2],
        }
    )
    # ranks of y: 0.3→5, -0.1→2, 0.7→7, 0.0→3, 0.5→6, -0.4→1, 0.2→4
    # another day with the same codes but reversed values: grades do not mix across days
    day2 = day1.with_columns(Date=pl.lit(D(2021, 1, 5)), y=-pl.col("y"))
    out = lambdarank_labels(pl.concat([day2, day1]), "y", 5)
    first = out.filter(pl.col("Date") == D(2021, 1, 4))["label"].to_list()
    assert first == [2, 0, 4, 1, 3, 0, 2]
    second = out.filter(pl.col("Date") == D(2021, 1, 5))["label"].to_list()
    assert second == [1, 3, 0, 2, 0, 4, 2]  # ranks 8 − r
    assert out["Date"].is_sorted()


def test_mean_daily_rank_ic_matches_scipy_and_skips_constant_days():
    rng = np.random.default_rng(0)
    rows = pl.DataFrame(
        {
            "Date": [D(2021, 1, 4 + d) for d in range(3) for _ in range(9)],
            "Code": [f"{1000 + i}0" for _ in range(3) for i in range(9)],
            "y": rng.normal(size=27),
        }
    )
    pred = rng.normal(size=27)
    pred[18:] = 1.0  # day 3: constant predictions, no RankIC
    expected = np.mean([spearmanr(pred[k : k + 9], rows["y"][k : k + 9]).statistic for k in (0, 9)])
    assert mean_daily_rank_ic(rows, pred, "y") == pytest.approx(expected, abs=1e-12)
    assert mean_daily_rank_ic(rows, np.ones(27), "y") == 0.0


def test_lambdarank_groups_are_days_inside_their_split(baselines_market):
    cfg = LgbmConfig(objective="lambdarank", relevance_grades=10, **FAST)
    data = prepare(
        baselines_market.panel,
        baselines_market.features,
        baselines_market.ranges,
        baselines_market.target,
        NormalizationConfig(),
    )
    for (rows, dataset), split in zip(
        ranking_datasets(cfg, data, 5), ("train", "valid"), strict=True
    ):
        dataset.construct()
        sizes = np.asarray(dataset.get_group())
        assert sizes.sum() == rows.height == dataset.num_data()
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        dates = rows["Date"]
        for lo, hi in itertools.pairwise(bounds):
            group_dates = dates[int(lo) : int(hi)]
            assert group_dates.n_unique() == 1
            assert (
                baselines_market.ranges.of(split)[0]
                <= group_dates[0]
                <= baselines_market.ranges.of(split)[1]
            )
        assert len(sizes) == dates.n_unique()
        labels = np.asarray(dataset.get_label())
        if split == "train":
            assert set(labels.astype(int)) == set(range(10))
        else:
            np.testing.assert_array_equal(labels, rows["target_5d"].to_numpy())


@pytest.mark.parametrize("objective", ["regression", "lambdarank"])
def test_lgbm_writes_a_valid_run_with_feature_importance(
    baselines_market, baselines_home, objective
):
    cfg = LgbmConfig(objective=objective, **FAST)
    # horizons = "main": the run predicts the main horizon only
    run_dir, _ = create_run("lgbm", "b1", [5], baselines_market.ranges, run_id=objective)
    preds = fit_predict_tabular(
        cfg,
        baselines_market.panel,
        baselines_market.features,
        baselines_market.ranges,
        baselines_market.target,
        run_dir,
    )
    write_predictions(run_dir, preds)
    assert preds["split"].value_counts().height == 3
    # main horizon only: one model, one pred column (no copies for the other horizons)
    assert [c for c in preds.columns if c.startswith("pred_")] == ["pred_5d"]
    importance = pl.read_csv(run_dir / IMPORTANCE_FILE)
    assert importance.columns == ["horizon", "feature", "gain", "splits"]
    numeric = [f for f in baselines_market.features if f not in STATIC_IDS]
    assert sorted(importance["feature"].to_list()) == sorted(numeric)
    assert importance["horizon"].unique().to_list() == [5]
    assert (importance["gain"] >= 0).all() and importance["gain"].sum() > 0
    assert importance["gain"].is_sorted(descending=True)


def test_lgbm_each_horizon_and_test_labels_never_used(baselines_market, tmp_path):
    cfg = LgbmConfig(horizons="each", **FAST)
    args = (baselines_market.features, baselines_market.ranges, baselines_market.target)
    preds = fit_predict_tabular(cfg, baselines_market.panel, *args, tmp_path / "a")
    importance = pl.read_csv(tmp_path / "a" / IMPORTANCE_FILE)
    assert importance["horizon"].unique().sort().to_list() == baselines_market.horizons
    assert not np.allclose(preds["pred_1d"].to_numpy(), preds["pred_20d"].to_numpy())
    # test-period labels replaced by noise: the same models (validation labels pick the round)
    rng = np.random.default_rng(1)
    targets = [c for c in baselines_market.panel.columns if c.startswith("target_")]
    in_test = pl.col("Date") >= baselines_market.ranges.test[0]
    noisy = baselines_market.panel.with_columns(
        pl.when(in_test).then(pl.lit(rng.normal())).otherwise(pl.col(c)).cast(pl.Float32).alias(c)
        for c in targets
    )
    again = fit_predict_tabular(cfg, noisy, *args, tmp_path / "b")
    assert again.equals(preds)


def test_lgbm_seeds_average_their_boosters(baselines_market, tmp_path):
    import json

    import lightgbm as lgb

    from gogooku.models.gbdt import SUMMARY_FILE, lgbm_file

    args = (
        baselines_market.panel,
        baselines_market.features,
        baselines_market.ranges,
        baselines_market.target,
    )
    cfg = LgbmConfig(seeds=3, feature_fraction=0.5, bagging_fraction=0.6, **FAST)
    preds = fit_predict_tabular(cfg, *args, tmp_path / "bag")
    files = sorted(p.name for p in (tmp_path / "bag").glob("lgbm_*.txt"))
    assert files == sorted(lgbm_file(5, i) for i in range(3))
    assert files == ["lgbm_5d.s1.txt", "lgbm_5d.s2.txt", "lgbm_5d.txt"]
    data = prepare(
        baselines_market.panel,
        baselines_market.features,
        baselines_market.ranges,
        baselines_market.target,
        NormalizationConfig(),
    )
    x = data.frame.select(data.inputs).to_numpy()
    members = [lgb.Booster(model_file=str(tmp_path / "bag" / f)) for f in files]
    scores = [m.predict(x) for m in members]
    assert not np.allclose(scores[0], scores[1])  # seeds change the bagging/feature samples
    np.testing.assert_allclose(preds["pred_5d"].to_numpy(), np.mean(scores, axis=0), rtol=1e-12)
    summary = json.loads((tmp_path / "bag" / SUMMARY_FILE).read_text())["5"]
    assert len(summary["best_iteration"]) == len(summary["valid_rank_ic"]) == 3
    valid = data.rows("valid", 5).join(preds, on=["Date", "Code"])
    expected = mean_daily_rank_ic(valid, valid["pred_5d"].to_numpy(), "target_5d")
    assert summary["valid_rank_ic_of_mean"] == pytest.approx(expected, abs=1e-9)
    # the first booster is the one-seed run's booster
    single = fit_predict_tabular(cfg.model_copy(update={"seeds": 1}), *args, tmp_path / "one")
    np.testing.assert_allclose(single["pred_5d"].to_numpy(), scores[2], rtol=1e-12)


def test_lgbm_extra_trees_reaches_the_booster(baselines_market, tmp_path):
    args = (
        baselines_market.panel,
        baselines_market.features,
        baselines_market.ranges,
        baselines_market.target,
    )
    cfg = LgbmConfig(**FAST)
    plain = fit_predict_tabular(cfg, *args, tmp_path / "plain")
    extra = fit_predict_tabular(cfg.model_copy(update={"extra_trees": True}), *args, tmp_path / "x")
    assert "[extra_trees: 1]" in (tmp_path / "x" / "lgbm_5d.txt").read_text()
    assert "[extra_trees: 0]" in (tmp_path / "plain" / "lgbm_5d.txt").read_text()
    assert not np.allclose(plain["pred_5d"].to_numpy(), extra["pred_5d"].to_numpy())


def _planted(days: int = 90, stocks: int = 40) -> tuple[pl.DataFrame, list[str], Ranges]:
    """A panel whose target_5d is 0.3 · f0 plus noise (f1..f4 pure noise); train / valid / test
    are days 0–49 / 56–72 / 79–89 (purged by 6 days, the 5-day label window + 1)."""
    rng = np.random.default_rng(5)
    dates = [D(2021, 1, 1) + dt.timedelta(days=d) for d in range(days)]
    x = rng.normal(size=(days * stocks, 5))
    panel = pl.DataFrame(
        {
            "Date": [d for d in dates for _ in range(stocks)],
            "Code": [f"{1000 + i}0" for _ in dates for i in range(stocks)],
            **{f"f{k}": x[:, k] for k in range(5)},
            "target_5d": 0.3 * x[:, 0] + rng.normal(size=days * stocks),
        }
    )
    ranges = Ranges(
        train=(dates[0], dates[49]), valid=(dates[56], dates[72]), test=(dates[79], dates[-1])
    )
    return panel, [f"f{k}" for k in range(5)], ranges


def test_lgbm_stopping_on_the_mean_keeps_the_best_round_of_the_mean(tmp_path):
    import json

    import lightgbm as lgb

    from gogooku.models.gbdt import SUMMARY_FILE, lgbm_file

    panel, features, ranges = _planted()
    cfg = LgbmConfig(
        seeds=3,
        feature_fraction=0.6,
        bagging_fraction=0.5,
        learning_rate=0.05,
        num_leaves=4,
        min_data_in_leaf=40,
        num_boost_round=200,
        early_stopping_rounds=20,
        early_stopping_on="mean",
        num_threads=1,
    )
    preds = fit_predict_tabular(
        cfg, panel, features, ranges, TargetConfig(horizons=[5]), tmp_path / "joint"
    )
    summary = json.loads((tmp_path / "joint" / SUMMARY_FILE).read_text())["5"]
    best = summary["best_iteration"][0]
    assert summary["best_iteration"] == [best] * 3
    assert 1 < best < cfg.num_boost_round - cfg.early_stopping_rounds  # an interior peak
    data = prepare(panel, features, ranges, TargetConfig(horizons=[5]), NormalizationConfig())
    valid = data.rows("valid", 5)
    x_valid, x_all = (f.select(data.inputs).to_numpy() for f in (valid, data.frame))
    # the same boosters grown without stopping: the mean's RankIC over the rounds peaks at best
    (_, train_set), _ = ranking_datasets(cfg, data, 5)
    rounds = best + cfg.early_stopping_rounds
    full = [
        lgb.train(
            lgb.Booster(model_file=str(tmp_path / "joint" / lgbm_file(5, i))).params,
            train_set,
            num_boost_round=rounds,
        )
        for i in range(3)
    ]
    curve = [
        mean_daily_rank_ic(
            valid, np.mean([b.predict(x_valid, num_iteration=r) for b in full], axis=0), "target_5d"
        )
        for r in range(1, rounds + 1)
    ]
    assert int(np.argmax(curve)) + 1 == best
    assert summary["valid_rank_ic_of_mean"] == pytest.approx(max(curve), abs=1e-9)
    expected = np.mean([b.predict(x_all, num_iteration=best) for b in full], axis=0)
    np.testing.assert_allclose(preds["pred_5d"].to_numpy(), expected, rtol=1e-9)
    # stopped on each booster instead, the boosters keep different rounds
    each = cfg.model_copy(update={"early_stopping_on": "booster"})
    fit_predict_tabular(
        each, panel, features, ranges, TargetConfig(horizons=[5]), tmp_path / "each"
    )
    own = json.loads((tmp_path / "each" / SUMMARY_FILE).read_text())["5"]["best_iteration"]
    assert len(set(own)) > 1


def test_lgbm_stopping_on_the_mean_of_one_booster_is_stopping_on_the_booster(
    baselines_market, tmp_path
):
    args = (
        baselines_market.panel,
        baselines_market.features,
        baselines_market.ranges,
        baselines_market.target,
    )
    cfg = LgbmConfig(**FAST)
    each = fit_predict_tabular(cfg, *args, tmp_path / "each")
    joint = cfg.model_copy(update={"early_stopping_on": "mean"})
    mean = fit_predict_tabular(joint, *args, tmp_path / "mean")
    assert mean.equals(each)


@pytest.mark.parametrize("ids", ["drop", "numeric", "categorical"])
def test_categorical_ids_reach_the_booster_as_configured(baselines_market, tmp_path, ids):
    cfg = LgbmConfig(categorical_ids=ids, **FAST)
    args = (baselines_market.features, baselines_market.ranges, baselines_market.target)
    fit_predict_tabular(cfg, baselines_market.panel, *args, tmp_path)
    booster = lgb.Booster(model_file=str(tmp_path / "lgbm_5d.txt"))
    names = booster.feature_name()
    infos = booster.dump_model()["feature_infos"]
    numeric = [f for f in baselines_market.features if f not in STATIC_IDS]
    if ids == "drop":
        assert names == numeric
        return
    if ids == "numeric":
        assert names == baselines_market.features
        # numeric features: a range of the per-date normalised values, no category list
        assert all(infos[i]["values"] == [] for i in STATIC_IDS)
        assert all(abs(infos[i]["max_value"]) <= 5 for i in STATIC_IDS)
        return
    assert names == [*numeric, *STATIC_IDS]
    train = baselines_market.panel.filter(pl.col("Date").is_between(*baselines_market.ranges.train))
    for i in STATIC_IDS:
        # categorical features: the category codes seen in training (LightGBM adds -1)
        codes = set(infos[i]["values"]) - {-1}
        assert codes == set(train[i].cast(pl.Int64).unique().to_list())
    assert infos["sector33_id"]["max_value"] > 5  # codes, not normalised values
    assert all(infos[f]["values"] == [] for f in numeric if f in infos)  # constant ones absent
    data = prepare(baselines_market.panel, *args, NormalizationConfig(), ids="categorical")
    (rows, train_set), _ = ranking_datasets(cfg, data, 5)
    train_set.construct()
    assert train_set.categorical_feature == list(STATIC_IDS)
    x = np.asarray(train_set.get_data())
    for j, i in enumerate(STATIC_IDS, start=len(numeric)):
        np.testing.assert_array_equal(x[:, j], rows[i].to_numpy())
