"""LightGBM baseline (kind "lgbm"): regression on per-date rank-gauss targets, or lambdarank.

Inputs are the per-date normalised features of :class:`gogooku.dataset.tabular.TabularData`.

- ``objective = "regression"``: L2 regression on the target normalised per date with the one
  normalisation function, rank-gauss: z = Φ⁻¹((r − 0.5)/n) with r the target's average rank
  among the n known targets of that date (clipped to ±``[data.normalization].clip``).
- ``objective = "lambdarank"``: one query group per trading day (rows sorted by date, group sizes
  = rows per date, so a group never straddles a day and — train and validation being separate
  datasets — never a split boundary); relevance grade g = ⌊(r − 1)·G / n⌋ ∈ {0, …, G−1} with r
  the target's ordinal rank (1..n) on its date and G = ``relevance_grades`` (5: quintiles).
- Early stopping on the validation set's mean daily RankIC: the mean over validation days of the
  Spearman correlation between prediction and raw target (days with constant predictions are
  skipped; 0 when all are); training stops after ``early_stopping_rounds`` rounds without improvement and the
  best round is used.
- ``horizons = "main"``: one model on the label of ``[target] main_horizon``; the run predicts
  that horizon only (``predicted_horizons``: one ``pred_{h}d`` column, ``run.json`` horizons
  ``[main_horizon]``); ``horizons = "each"``: one model per ``[target]`` horizon.
- ``seeds = k``: each model is the mean of k boosters trained with seeds ``seed``, ``seed`` + 1,
  …, ``seed`` + k − 1 (different bagging and feature samples), which averages away part of the
  variance a single booster fits on noisy targets. ``early_stopping_on = "booster"``: each
  booster is early-stopped on its own validation RankIC; ``"mean"``: the k boosters grow a
  round at a time together, the RankIC of their mean is the stopping score, and every booster
  keeps the mean's best round (a single booster's validation curve on noisy targets often peaks
  by chance in its first rounds). With k = 1 the two are the same.
- ``extra_trees = true``: LightGBM's extremely randomised trees (one random threshold per
  feature at each split), a smoother fit of many weak additive effects.
- ``categorical_ids``: the sector and market ids (``gogooku.dataset.cache.STATIC_IDS``) are
  ``"drop"``: not inputs; ``"numeric"``: per-date normalised like every feature, split on as
  numbers; ``"categorical"``: their raw integer codes, declared to LightGBM as
  ``categorical_feature`` (splits on sets of codes; LightGBM's own ``max_cat_to_onehot``,
  ``cat_smooth``, ``cat_l2`` and ``min_data_per_group`` defaults). ``gogooku.kinds.lgbm`` hands
  it to ``gogooku.dataset.tabular.prepare``; the default is the validation choice of
  ``studies/ids.toml``.
- Written to the run folder: ``feature_importance.csv`` (horizon, feature, gain, splits — total
  gain and split count of the best-iteration boosters, summed over the k), ``lgbm.json`` (per
  fitted horizon the best iteration and best validation RankIC of each booster, and the
  validation RankIC of their mean) and per fitted horizon and booster i the file
  ``lgbm_file(h, i)`` (``lgbm_{h}d.txt`` for the first, ``lgbm_{h}d.s{i}.txt`` for the others;
  ``Booster.model_to_string`` up to its best iteration; ``gogooku bundle`` scores new rows with
  them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import lightgbm as lgb
import numpy as np
import polars as pl
from pydantic import Field, model_validator

from gogooku.config import NormalizationConfig, StrictModel
from gogooku.dataset.normalize import normalize_frame
from gogooku.dataset.tabular import TabularData, TabularError, target_column
from gogooku.evaluate.metrics import daily_ic
from gogooku.io import atomic_write_text
from gogooku.target import TargetConfig, pred_column

IMPORTANCE_FILE = "feature_importance.csv"
SUMMARY_FILE = "lgbm.json"


class LgbmConfig(StrictModel):
    """``[model]`` of a LightGBM run; the LightGBM parameters keep LightGBM's names."""

    kind: Literal["lgbm"] = "lgbm"
    objective: Literal["regression", "lambdarank"] = "regression"
    horizons: Literal["main", "each"] = "main"
    relevance_grades: int = Field(5, ge=2, le=31, description="lambdarank grades 0..G-1")
    num_boost_round: int = Field(500, ge=1)
    early_stopping_rounds: int = Field(50, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    num_leaves: int = Field(31, ge=2)
    min_data_in_leaf: int = Field(100, ge=1)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    bagging_freq: int = Field(1, ge=0)
    lambda_l2: float = Field(1.0, ge=0)
    extra_trees: bool = Field(False, description="random split thresholds, one per feature")
    seed: int = 0
    seeds: int = Field(1, ge=1, description="boosters averaged, seeds seed..seed+seeds-1")
    early_stopping_on: Literal["booster", "mean"] = Field(
        "booster", description="each booster's own validation RankIC, or that of their mean"
    )
    num_threads: int = Field(0, ge=0, description="0: LightGBM's default (all cores)")
    categorical_ids: Literal["drop", "numeric", "categorical"] = Field(
        "drop",
        description="sector/market ids: left out, per-date normalised numbers, or raw codes "
        "declared categorical",
    )

    @model_validator(mode="after")
    def _bagging(self) -> LgbmConfig:
        if self.bagging_fraction < 1 and self.bagging_freq == 0:
            raise ValueError("bagging_fraction < 1 has no effect with bagging_freq = 0")
        return self


def lgbm_file(horizon: int, member: int = 0) -> str:
    """The model file of booster ``member`` (0-based) of the ``horizon``-day model."""
    return f"lgbm_{horizon}d.txt" if member == 0 else f"lgbm_{horizon}d.s{member}.txt"


def lambdarank_labels(rows: pl.DataFrame, target: str, grades: int) -> pl.DataFrame:
    """``rows`` sorted by (Date, Code) with ``label`` = ⌊(r − 1)·G / n⌋ per date (see module doc)."""
    rank = pl.col(target).rank("ordinal").over("Date") - 1
    label = (rank * grades // pl.len().over("Date")).cast(pl.Int32)
    return rows.sort("Date", "Code").with_columns(label=label)


def day_groups(rows: pl.DataFrame) -> np.ndarray:
    """Query group sizes of ``rows`` sorted by date: the number of rows of each date, in order."""
    counts = rows.group_by("Date", maintain_order=True).len()
    return counts["len"].to_numpy()


def mean_daily_rank_ic(rows: pl.DataFrame, pred: np.ndarray, target: str) -> float:
    """Mean over the dates of ``rows`` of the daily RankIC of ``pred`` against ``rows[target]``
    (``gogooku.evaluate.metrics.daily_ic``: Spearman with average ranks); days with constant
    predictions are skipped and 0.0 is returned when every day is constant."""
    frame = rows.select("Date", "Code", target).with_columns(pred=pl.Series(pred))
    mean = daily_ic(frame, "pred", target)["rank_ic"].mean()
    return 0.0 if mean is None else float(mean)


def _params(cfg: LgbmConfig, seed: int) -> dict[str, object]:
    return {
        "objective": cfg.objective,
        "metric": "None",
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_data_in_leaf": cfg.min_data_in_leaf,
        "feature_fraction": cfg.feature_fraction,
        "bagging_fraction": cfg.bagging_fraction,
        "bagging_freq": cfg.bagging_freq,
        "lambda_l2": cfg.lambda_l2,
        "extra_trees": cfg.extra_trees,
        "seed": seed,
        "num_threads": cfg.num_threads,
        "deterministic": True,
        "verbosity": -1,
    }


def _training_rows(cfg: LgbmConfig, data: TabularData, horizon: int, clip: float) -> pl.DataFrame:
    """Train rows with a known target and their ``label`` for the configured objective."""
    target = target_column(horizon)
    rows = data.rows("train", horizon)
    if rows.height == 0:
        raise TabularError(f"lgbm: no training row has a known {target}")
    if cfg.objective == "lambdarank":
        return lambdarank_labels(rows, target, cfg.relevance_grades)
    spec = NormalizationConfig(method="rank_gauss", clip=clip)
    z = normalize_frame(rows, [target], spec).rename({target: "label"})
    return rows.join(z, on=["Date", "Code"], how="left").sort("Date", "Code")


def ranking_datasets(
    cfg: LgbmConfig, data: TabularData, horizon: int
) -> tuple[tuple[pl.DataFrame, lgb.Dataset], tuple[pl.DataFrame, lgb.Dataset]]:
    """(train rows, train set), (valid rows, valid set) for ``target_{horizon}d``.

    Both sorted by (Date, Code); the train set's label is the objective's (rank-gauss target or
    relevance grade), the valid set's the raw target (read by the RankIC metric). For lambdarank
    each set's query groups are its dates.
    """
    target = target_column(horizon)
    train = _training_rows(cfg, data, horizon, data.normalization.clip)
    valid = data.rows("valid", horizon).sort("Date", "Code")
    if valid.height == 0:
        raise TabularError(f"lgbm: no validation row has a known {target} for early stopping")
    x_train = train.select(data.inputs).to_numpy()
    x_valid = valid.select(data.inputs).to_numpy()
    train_set = lgb.Dataset(
        x_train,
        train["label"].to_numpy(),
        feature_name=data.inputs,
        categorical_feature=list(data.categorical) or "auto",
        free_raw_data=False,
        params=_params(cfg, cfg.seed),
    )
    valid_set = lgb.Dataset(
        x_valid, valid[target].to_numpy(), reference=train_set, free_raw_data=False
    )
    if cfg.objective == "lambdarank":
        train_set.set_group(day_groups(train))
        valid_set.set_group(day_groups(valid))
    return (train, train_set), (valid, valid_set)


def predict_mean(boosters: list[lgb.Booster], x: np.ndarray) -> np.ndarray:
    """The mean of the boosters' predictions (each up to its best iteration) for rows ``x``."""
    return np.mean([b.predict(x, num_iteration=b.best_iteration) for b in boosters], axis=0)


def _fit_each(
    cfg: LgbmConfig, train_set: lgb.Dataset, valid_set: lgb.Dataset, rank_ic
) -> list[lgb.Booster]:
    """``cfg.seeds`` boosters, each early-stopped on its own validation RankIC."""
    return [
        lgb.train(
            _params(cfg, cfg.seed + i),
            train_set,
            num_boost_round=cfg.num_boost_round,
            valid_sets=[valid_set],
            valid_names=["valid"],
            feval=lambda preds, _: ("rank_ic", rank_ic(preds), True),
            callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
        )
        for i in range(cfg.seeds)
    ]


def _fit_jointly(
    cfg: LgbmConfig, train_set: lgb.Dataset, valid_set: lgb.Dataset, rank_ic
) -> list[lgb.Booster]:
    """``cfg.seeds`` boosters grown a round at a time together and stopped on the validation
    RankIC of their mean; every booster keeps the mean's best round."""
    boosters = [lgb.Booster(_params(cfg, cfg.seed + i), train_set) for i in range(cfg.seeds)]
    x_valid = valid_set.data
    running = np.zeros((len(boosters), x_valid.shape[0]))
    best, best_round, finished = -np.inf, 0, [False] * len(boosters)
    for done in range(1, cfg.num_boost_round + 1):
        for j, booster in enumerate(boosters):
            if not finished[j]:
                finished[j] = booster.update()
                running[j] += booster.predict(x_valid, start_iteration=done - 1, num_iteration=1)
        score = rank_ic(running.mean(axis=0))
        if score > best:
            best, best_round = score, done
        if done - best_round >= cfg.early_stopping_rounds or all(finished):
            break
    for booster in boosters:
        booster.best_iteration = best_round
    return boosters


def _fit_one(cfg: LgbmConfig, data: TabularData, horizon: int) -> tuple[list[lgb.Booster], dict]:
    """The ``cfg.seeds`` boosters of ``target_{horizon}d`` and their validation summary."""
    target = target_column(horizon)
    (_, train_set), (valid, valid_set) = ranking_datasets(cfg, data, horizon)

    def rank_ic(preds: np.ndarray) -> float:
        return mean_daily_rank_ic(valid, preds, target)

    fit = _fit_jointly if cfg.early_stopping_on == "mean" else _fit_each
    boosters = fit(cfg, train_set, valid_set, rank_ic)
    x_valid = valid_set.data
    summary = {
        "best_iteration": [b.best_iteration for b in boosters],
        "valid_rank_ic": [
            rank_ic(b.predict(x_valid, num_iteration=b.best_iteration)) for b in boosters
        ],
        "valid_rank_ic_of_mean": rank_ic(predict_mean(boosters, x_valid)),
    }
    return boosters, summary


def _write_side_files(
    run_dir: Path, boosters: dict[int, list[lgb.Booster]], summary: dict[int, dict]
) -> None:
    importance = (
        pl.concat(
            pl.DataFrame(
                {
                    "horizon": h,
                    "feature": b.feature_name(),
                    "gain": b.feature_importance("gain", iteration=b.best_iteration),
                    "splits": b.feature_importance("split", iteration=b.best_iteration),
                },
                schema={
                    "horizon": pl.Int64,
                    "feature": pl.String,
                    "gain": pl.Float64,
                    "splits": pl.Int64,
                },
            )
            for h, members in boosters.items()
            for b in members
        )
        .group_by("horizon", "feature", maintain_order=True)
        .agg(pl.col("gain").sum(), pl.col("splits").sum())
        .sort("horizon", "gain", descending=[False, True])
    )
    atomic_write_text(Path(run_dir) / IMPORTANCE_FILE, importance.write_csv())
    text = json.dumps({str(h): v for h, v in summary.items()}, indent=2)
    atomic_write_text(Path(run_dir) / SUMMARY_FILE, text + "\n")
    for h, members in boosters.items():
        for i, b in enumerate(members):
            text = b.model_to_string(num_iteration=b.best_iteration)
            atomic_write_text(Path(run_dir) / lgbm_file(h, i), text)


def predicted_horizons(cfg: LgbmConfig, target: TargetConfig) -> list[int]:
    """The horizons a run predicts: ``[main_horizon]`` with ``horizons = "main"``, else all."""
    return [target.main_horizon] if cfg.horizons == "main" else target.sorted_horizons


def fitted_horizons(cfg: LgbmConfig, target: TargetConfig) -> dict[int, int]:
    """Output horizon → horizon of the LightGBM model that scores it (``horizons``). With
    ``"main"`` every ``[target]`` horizon maps to the main one: runs and bundles made before
    runs listed only their predicted horizons carry copies of the main score in every column."""
    if cfg.horizons == "main":
        return dict.fromkeys(target.sorted_horizons, target.main_horizon)
    return {h: h for h in target.sorted_horizons}


def fit_predict_lgbm(cfg: LgbmConfig, data: TabularData, run_dir: Path) -> pl.DataFrame:
    """Fit per the module doc; ``Date, Code, split, pred_{h}d`` for every row of ``data`` and
    every horizon of :func:`predicted_horizons`."""
    fitted = predicted_horizons(cfg, data.target)
    boosters, summary = {}, {}
    for h in fitted:
        boosters[h], summary[h] = _fit_one(cfg, data, h)
    _write_side_files(run_dir, boosters, summary)
    x_all = data.frame.select(data.inputs).to_numpy()
    return data.frame.select("Date", "Code", "split").with_columns(
        pl.Series(pred_column(h), predict_mean(boosters[h], x_all), dtype=pl.Float64)
        for h in fitted
    )
