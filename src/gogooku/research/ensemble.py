"""An ensemble of walk-forward runs whose weights are chosen on each fold's validation days only.

``run_ensemble(members, step=0.1)`` reads finished walk-forward runs (``gogooku walkforward``)
of the same dataset with the same folds, and writes a walk-forward run of model ``ensemble``
that ``gogooku compare``, ``gogooku evaluate`` and the stitched record treat like any other.

Per fit group g (the members' folds share their fits' train/valid/test ranges):

- member m's score on day t, stock i: the rank-normalised prediction at every horizon,
  r_m(t,i) = (rank_t(p_m(t,i)) − 1)/(n_t − 1) − 0.5 ∈ [−0.5, 0.5] (average ranks over the n_t
  stocks that every member predicts on day t; 0 when n_t = 1), where p_m is the member's
  prediction averaged over its seeds (as its stitched run);
- the weights w_g on the simplex grid {k·step : k ∈ ℕ, Σ w = 1} maximise the mean over g's
  VALIDATION days of the daily RankIC (average ranks, as the evaluator) of Σ_m w_m r_m against
  the label of ``[target] main_horizon`` (the members' own validation predictions, from their
  fits ``fits/gFFF-sS/predictions.parquet``, split "valid"); among maxima within 1e-12 the grid
  point nearest to equal weights wins, then the first in grid order — so members that tie
  share the weight equally;
- the ensemble's prediction on g's test days is Σ_m w_g,m r_m at every horizon all members
  predict, on the (Date, Code) rows every member predicts.

Test days never enter the choice: the weights read validation rows only, so changing every
member's test predictions changes the ensemble's test predictions but not its weights.

The run folder: ``run.json`` (the members' folds and ranges, ``params["ensemble"]``: members,
step, horizon, label and per group the weights and the validation RankIC they reached),
``config.toml`` (``[ensemble]``, and ``[target]``/``[evaluate]`` of the first member),
``predictions.parquet`` (``fold`` per row), ``validation.json`` (as a walk-forward run's: per
group the validation RankIC of the chosen weights — in-sample for the choice, so optimistic),
then the evaluator's ``metrics.json``, ``daily.parquet`` and ``report.html``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import Field, model_validator
from scipy.stats import rankdata

from gogooku.config import StrictModel, dump_config, read_toml
from gogooku.evaluate.config import EvaluateConfig
from gogooku.evaluate.evaluator import evaluate_run, load_targets
from gogooku.research.plan import FITS_DIR, WalkForwardError, fit_name
from gogooku.research.validation import write_validation
from gogooku.runs import (
    CONFIG_FILE,
    RunInfo,
    create_run,
    load_run,
    read_predictions,
    resolve_run_dir,
    runs_dir,
    write_predictions,
)
from gogooku.settings import get_settings
from gogooku.target import TargetConfig, pred_column

MODEL = "ensemble"
TIE_TOLERANCE = 1e-12


class EnsembleConfig(StrictModel):
    """``[ensemble]``: the member walk-forward runs (ids or folders) and the grid step."""

    members: list[str] = Field(min_length=1)
    step: float = Field(0.1, gt=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> EnsembleConfig:
        if len(set(self.members)) != len(self.members):
            raise ValueError(f"members {self.members} must be distinct")
        k = round(1 / self.step)
        if abs(k * self.step - 1) > 1e-9:
            raise ValueError(f"step {self.step}: 1/step must be an integer (e.g. 0.1, 0.25)")
        return self


class EnsembleRunConfig(StrictModel):
    """The ensemble run's ``config.toml``."""

    ensemble: EnsembleConfig
    target: TargetConfig = TargetConfig()
    evaluate: EvaluateConfig = EvaluateConfig()


def simplex_grid(n_members: int, step: float) -> np.ndarray:
    """Every weight vector of ``n_members`` non-negative multiples of ``step`` summing to 1,
    as rows, in lexicographic order of the multiples (largest first member weight last)."""
    k = round(1 / step)
    rows = [c for c in itertools.product(range(k + 1), repeat=n_members) if sum(c) == k]
    return np.asarray(rows, dtype=np.float64) / k


def rank_normalise(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """``columns`` replaced per Date by (rank − 1)/(n − 1) − 0.5 (average ranks; 0 when n = 1)."""
    n = pl.len().over("Date")
    return frame.with_columns(
        pl.when(n > 1)
        .then((pl.col(c).rank("average").over("Date") - 1) / (n - 1) - 0.5)
        .otherwise(0.0)
        .alias(c)
        for c in columns
    )


def grid_scores(
    scores: np.ndarray, labels: np.ndarray, days: np.ndarray, grid: np.ndarray
) -> np.ndarray:
    """Mean over days of the daily RankIC of ``scores @ w`` against ``labels`` for every row w
    of ``grid``: (G,) array. ``scores`` (n, M) rank-normalised members, ``days`` (n,) day ids;
    days with < 2 rows or a constant label or combined score are left out of the mean."""
    per_day = []
    for day in np.unique(days):
        rows = days == day
        if rows.sum() < 2:
            continue
        ry = rankdata(labels[rows])
        ry = ry - ry.mean()
        rs = rankdata(scores[rows] @ grid.T, axis=0)
        rs = rs - rs.mean(axis=0)
        denom = np.sqrt((rs**2).sum(axis=0) * (ry**2).sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            per_day.append(np.where(denom > 0, (rs * ry[:, None]).sum(axis=0) / denom, np.nan))
    if not per_day:
        return np.full(len(grid), np.nan)
    with np.errstate(invalid="ignore"):
        stacked = np.vstack(per_day)
        counts = np.isfinite(stacked).sum(axis=0)
        return np.where(counts > 0, np.nansum(stacked, axis=0) / np.maximum(counts, 1), np.nan)


def choose_weights(
    frame: pl.DataFrame, members: Sequence[str], label: str, step: float
) -> tuple[np.ndarray, float | None]:
    """(weights, mean daily RankIC) maximising the validation RankIC of ``frame`` (``Date``, one
    rank-normalised score column per member, ``label``) over the simplex grid (module doc)."""
    grid = simplex_grid(len(members), step)
    rows = frame.drop_nulls([*members, label])
    days = rows["Date"].to_physical().to_numpy()
    scores = rows.select(members).to_numpy().astype(np.float64)
    means = grid_scores(scores, rows[label].to_numpy().astype(np.float64), days, grid)
    if not np.isfinite(means).any():
        return np.full(len(members), 1 / len(members)), None
    best = np.nanmax(means)
    tied = np.flatnonzero(means >= best - TIE_TOLERANCE)
    distance = ((grid[tied] - 1 / len(members)) ** 2).sum(axis=1)
    pick = tied[np.argmin(distance)]  # argmin takes the first of equal distances
    return grid[pick], float(means[pick])


def _members(names: Sequence[str]) -> list[tuple[str, Path, RunInfo]]:
    """(name, folder, info) of each member, checked: walk-forward runs of one dataset with the
    same folds (ranges and fit groups)."""
    out = []
    for name in names:
        run_dir = resolve_run_dir(name)
        info = load_run(run_dir)
        if info.folds is None or "walkforward" not in info.params:
            raise WalkForwardError(
                f"ensemble member {name}: not a walk-forward run (run `gogooku walkforward`)"
            )
        out.append((name, run_dir, info))
    first_name, _, first = out[0]
    for name, _, info in out[1:]:
        if info.dataset != first.dataset:
            raise WalkForwardError(
                f"ensemble members {first_name} and {name}: datasets {first.dataset!r} and "
                f"{info.dataset!r} differ"
            )
        if info.folds != first.folds:
            raise WalkForwardError(
                f"ensemble members {first_name} and {name}: their folds differ (folds, ranges or "
                "--refit-every); run every member with the same [data.splits] and plan"
            )
    return out


def _member_target(run_dir: Path) -> tuple[TargetConfig, EvaluateConfig]:
    data = read_toml(run_dir / CONFIG_FILE)
    target = TargetConfig.model_validate(data.get("target", {}))
    return target, EvaluateConfig.model_validate(data.get("evaluate", {}))


def _valid_predictions(run_dir: Path, info: RunInfo, group: int, preds: list[str]) -> pl.DataFrame:
    """The member's validation rows of fit group ``group``, averaged over its seeds."""
    seeds = int(info.params["walkforward"]["seeds"])  # type: ignore[index]
    parts = [
        read_predictions(run_dir / FITS_DIR / fit_name(group, s))
        .filter(pl.col("split") == "valid")
        .select("Date", "Code", *preds)
        for s in range(seeds)
    ]
    return pl.concat(parts).group_by("Date", "Code").agg(pl.col(p).mean() for p in preds)


def _combine(
    frames: dict[str, pl.DataFrame], preds: list[str], keep: Sequence[str] = ()
) -> pl.DataFrame:
    """Rows every member predicts (finite), each member's ``preds`` rank-normalised per day, as
    ``{pred}__{member}`` columns."""
    joined = None
    for member, frame in frames.items():
        part = frame.filter(pl.all_horizontal(pl.col(p).is_finite() for p in preds))
        part = part.select(
            "Date", "Code", *keep, *(pl.col(p).alias(f"{p}__{member}") for p in preds)
        )
        joined = part if joined is None else joined.join(part.drop(keep), on=["Date", "Code"])
    assert joined is not None
    columns = [f"{p}__{m}" for p in preds for m in frames]
    return rank_normalise(joined.sort("Date", "Code"), columns)


def _common_target(
    loaded: list[tuple[str, Path, RunInfo]],
) -> tuple[TargetConfig, EvaluateConfig, list[int]]:
    """The first member's ``[target]`` and ``[evaluate]`` and the horizons every member
    predicts; the members' main horizon and label must agree, and every member predicts it."""
    target, evaluate_cfg = _member_target(loaded[0][1])
    horizons = sorted(set.intersection(*(set(info.horizons) for _, _, info in loaded)))
    main = target.main_horizon
    if main not in horizons:
        raise WalkForwardError(
            f"ensemble: [target] main_horizon {main} of {loaded[0][0]} is not predicted by every "
            f"member (common horizons {horizons})"
        )
    for name, run_dir, _ in loaded[1:]:
        other, _ = _member_target(run_dir)
        if (other.main_horizon, other.label) != (main, target.label):
            raise WalkForwardError(
                f"ensemble members {loaded[0][0]} and {name}: [target] main_horizon/label "
                f"{main}/{target.label} and {other.main_horizon}/{other.label} differ"
            )
    return target, evaluate_cfg, horizons


def _weighted(
    combined: pl.DataFrame, preds: list[str], keys: list[str], w: np.ndarray
) -> pl.DataFrame:
    """``Date, Code, pred_{h}d… = Σ_m w_m r_m, split = "test", fold`` of combined test rows."""
    return combined.select(
        "Date",
        "Code",
        *(
            pl.sum_horizontal(
                pl.col(f"{p}__{k}") * float(wk) for k, wk in zip(keys, w, strict=True)
            ).alias(p)
            for p in preds
        ),
        pl.lit("test").alias("split"),
        pl.col("fold").cast(pl.Int32),
    )


def run_ensemble(
    members: Sequence[str],
    step: float = 0.1,
    run_id: str | None = None,
    evaluate: bool = True,
) -> Path:
    """Choose per fit group the members' weights on validation and write the ensemble's
    walk-forward run (module doc); returns its folder."""
    config = EnsembleConfig(members=list(members), step=step)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = run_id or f"{MODEL}-{stamp}-{uuid.uuid4().hex[:6]}"
    if (runs_dir() / run_id).exists():
        raise WalkForwardError(
            f"run folder {runs_dir() / run_id} already exists: choose another --run"
        )
    loaded = _members(config.members)
    target, evaluate_cfg, horizons = _common_target(loaded)
    info0 = loaded[0][2]
    main = target.main_horizon
    preds = [pred_column(h) for h in horizons]
    keys = [f"m{i}" for i in range(len(loaded))]  # column-safe member keys
    labels, _ = load_targets(get_settings(), info0.dataset, target.label)
    label = f"target_{main}d"
    tests = {k: read_predictions(d) for k, (_, d, _) in zip(keys, loaded, strict=True)}
    group_of = {f.fold: f.group for f in info0.folds or []}
    out, weights, fits = [], {}, []
    for group in sorted(set(group_of.values())):
        valid = _combine(
            {
                k: _valid_predictions(d, info, group, preds)
                for k, (_, d, info) in zip(keys, loaded, strict=True)
            },
            preds,
        ).join(labels.select("Date", "Code", label), on=["Date", "Code"], how="left")
        main_cols = [f"{pred_column(main)}__{k}" for k in keys]
        w, score = choose_weights(valid, main_cols, label, config.step)
        name = f"g{group:03d}"
        weights[name] = {
            "weights": dict(zip(config.members, (round(float(x), 10) for x in w), strict=True)),
            "valid_rank_ic": score,
        }
        fits.append(
            {
                "fit": name,
                "first_date": valid["Date"].min().isoformat(),
                "last_date": valid["Date"].max().isoformat(),
                "n_dates": valid["Date"].n_unique(),
                "rank_ic_mean": score,
            }
        )
        folds = [f for f, g in group_of.items() if g == group]
        test = {k: t.filter(pl.col("fold").is_in(folds)) for k, t in tests.items()}
        out.append(_weighted(_combine(test, preds, keep=("fold",)), preds, keys, w))
    params = {
        "config": CONFIG_FILE,
        "walkforward": info0.params["walkforward"],
        "ensemble": {
            "members": config.members,
            "step": config.step,
            "horizon": main,
            "label": target.label,
            "groups": weights,
        },
    }
    run_dir, _ = create_run(
        MODEL, info0.dataset, horizons, info0.ranges, params, run_id=run_id, folds=info0.folds
    )
    run_cfg = EnsembleRunConfig(
        ensemble=config,
        target=target.model_copy(update={"horizons": horizons}),
        evaluate=evaluate_cfg,
    )
    dump_config(run_cfg, run_dir / CONFIG_FILE)
    write_predictions(run_dir, pl.concat(out))
    scores = [f["rank_ic_mean"] for f in fits if f["rank_ic_mean"] is not None]
    write_validation(
        run_dir,
        {
            "horizon": main,
            "label": target.label,
            "rank_ic_mean": sum(scores) / len(scores) if scores else None,
            "fits": fits,
        },
    )
    if evaluate:
        evaluate_run(run_dir)
    return run_dir
