"""Cross-sectional signal metrics, computed per day and then aggregated over days.

Every function takes a long frame with ``Date``, ``Code``, a prediction column and (where needed)
a realised-target column, drops rows where either is null, and works per ``Date`` with Polars
window/group expressions. Conventions (named so numbers can be compared with other tools):

- **IC** — Pearson correlation of prediction and target across stocks on one day.
- **RankIC** — Spearman correlation: Pearson correlation of the average ranks (ties share the
  mean of their ranks), as ``scipy.stats.spearmanr`` and Alphalens' "IC".
- A day whose predictions (or targets) are all equal has no defined correlation: its IC and
  RankIC are null and the day is counted in ``constant_days``; aggregates skip null days.
- **ICIR** = mean / std (ddof = 1) of the daily values, *not* annualised (Alphalens
  "Risk-Adjusted IC"); **t-stat** = ICIR · √n_days; **hit rate** = share of days with RankIC > 0.
- **Deciles** — per day, stock i with average rank r_i among n gets quantile
  ⌈r_i · Q / n⌉ (1 = lowest prediction); quantile return = mean target over the quantile's stocks
  that day, then the mean over days; spread = top − bottom quantile, per day then averaged.
- **Cumulative quantile return** — an h-day target of day t overlaps the next h − 1 days'
  targets, so compounding them daily would count each return h times; as Alphalens does, each
  day's quantile return is converted to its daily rate (1 + ret)^(1/h) − 1 and those are
  compounded (:func:`quantile_cumulative`).
- **Top-K turnover** — 1 − |S_t ∩ S_{t−lag}| / K, S_t = the K highest predictions on day t
  (ties broken by Code); day t − lag is the lag-th previous evaluation date.
- **Rank autocorrelation** — Spearman correlation of a stock's prediction on day t with its
  prediction ``lag`` evaluation dates earlier, over the stocks present on both (Alphalens
  ``factor_rank_autocorrelation``).
- **Kaggle JPX** — see :func:`kaggle_jpx_daily`.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

KAGGLE_PORTFOLIO_SIZE = 200


def _pairs(frame: pl.DataFrame, pred: str, target: str) -> pl.DataFrame:
    return frame.select("Date", "Code", pl.col(pred).alias("p"), pl.col(target).alias("y")).filter(
        pl.col("p").is_not_null()
        & pl.col("y").is_not_null()
        & pl.col("p").is_finite()
        & pl.col("y").is_finite()
    )


def _nan_to_null(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.is_nan()).then(None).otherwise(expr)


def daily_ic(frame: pl.DataFrame, pred: str, target: str) -> pl.DataFrame:
    """Per day: ``Date, n, ic, rank_ic, constant``.

    ic = corr(p, y) (Pearson); rank_ic = corr(rank(p), rank(y)) with average ranks per day;
    ``constant`` is true where all predictions (or all targets) of the day are equal, or the day
    has fewer than 2 stocks, in which case ``ic`` and ``rank_ic`` are null.
    """
    pairs = _pairs(frame, pred, target).with_columns(
        rp=pl.col("p").rank("average").over("Date"),
        ry=pl.col("y").rank("average").over("Date"),
    )
    out = (
        pairs.group_by("Date")
        .agg(
            n=pl.len(),
            ic=pl.corr("p", "y"),
            rank_ic=pl.corr("rp", "ry"),
            constant=(pl.col("p").n_unique() < 2) | (pl.col("y").n_unique() < 2) | (pl.len() < 2),
        )
        .with_columns(
            ic=pl.when(pl.col("constant")).then(None).otherwise(_nan_to_null(pl.col("ic"))),
            rank_ic=pl.when(pl.col("constant"))
            .then(None)
            .otherwise(_nan_to_null(pl.col("rank_ic"))),
        )
        .sort("Date")
    )
    return out.with_columns(pl.col("n").cast(pl.Int64))


def summarize_series(values: pl.Series) -> dict[str, float | int | None]:
    """``mean, std (ddof=1), ir = mean/std, t_stat = ir·√n, hit_rate = P(x > 0), n`` over non-null values."""
    x = values.drop_nulls().drop_nans().to_numpy().astype(np.float64)
    n = int(x.size)
    if n == 0:
        return {"mean": None, "std": None, "ir": None, "t_stat": None, "hit_rate": None, "n": 0}
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else None
    ir = mean / std if std not in (None, 0.0) else None
    return {
        "mean": mean,
        "std": std,
        "ir": ir,
        "t_stat": ir * math.sqrt(n) if ir is not None else None,
        "hit_rate": float((x > 0).mean()),
        "n": n,
    }


def ic_summary(daily: pl.DataFrame) -> dict[str, object]:
    """Aggregate :func:`daily_ic`: IC and RankIC mean/std/ICIR/t-stat/hit rate and constant days."""
    ic = summarize_series(daily["ic"])
    ric = summarize_series(daily["rank_ic"])
    constant_days = int(daily["constant"].sum())
    return {
        "ic_mean": ic["mean"],
        "ic_std": ic["std"],
        "icir": ic["ir"],
        "ic_t_stat": ic["t_stat"],
        "rank_ic_mean": ric["mean"],
        "rank_ic_std": ric["std"],
        "rank_icir": ric["ir"],
        "rank_ic_t_stat": ric["t_stat"],
        "hit_rate": ric["hit_rate"],
        "n_days": daily.height,
        "n_days_valid": ric["n"],
        "constant_days": constant_days,
        "constant_prediction": daily.height > 0 and constant_days == daily.height,
        "mean_stocks_per_day": float(daily["n"].mean()) if daily.height else None,
    }


def quantile_returns(
    frame: pl.DataFrame, pred: str, target: str, n_quantiles: int = 10
) -> pl.DataFrame:
    """Per day and quantile the mean target: ``Date, quantile, ret, n``.

    Quantile of a stock with average rank r among n stocks that day: ⌈r·Q/n⌉, so tied predictions
    land in the same quantile. Days with fewer than Q stocks are skipped.
    """
    pairs = _pairs(frame, pred, target).with_columns(
        r=pl.col("p").rank("average").over("Date"), n=pl.len().over("Date")
    )
    return (
        pairs.filter(pl.col("n") >= n_quantiles)
        .with_columns(
            quantile=(pl.col("r") * n_quantiles / pl.col("n"))
            .ceil()
            .clip(1, n_quantiles)
            .cast(pl.Int64)
        )
        .group_by("Date", "quantile")
        .agg(ret=pl.col("y").mean(), n=pl.len())
        .sort("Date", "quantile")
    )


def quantile_summary(daily_q: pl.DataFrame, n_quantiles: int = 10) -> dict[str, object]:
    """Mean over days of each quantile's return and of the daily top − bottom spread."""
    means = daily_q.group_by("quantile").agg(pl.col("ret").mean()).sort("quantile")
    by_q = dict(zip(means["quantile"].to_list(), means["ret"].to_list(), strict=True))
    spread = (
        daily_q.filter(pl.col("quantile").is_in([1, n_quantiles]))
        .group_by("Date")
        .agg(
            top=pl.col("ret").filter(pl.col("quantile") == n_quantiles).first(),
            bottom=pl.col("ret").filter(pl.col("quantile") == 1).first(),
        )
        .select(spread=pl.col("top") - pl.col("bottom"))
        .drop_nulls()
    )
    return {
        "n_quantiles": n_quantiles,
        "mean_return": [by_q.get(q) for q in range(1, n_quantiles + 1)],
        "top_bottom_spread": float(spread["spread"].mean()) if spread.height else None,
        "spread_stats": summarize_series(spread["spread"]),
    }


def quantile_cumulative(daily_q: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """``Date, quantile, cum``: per quantile the compounded daily rate of its h-day mean returns
    of :func:`quantile_returns`, cum_t = ∏_{s≤t} (1 + ret_s)^(1/h) (1 on no day; a null rate —
    ret ≤ −1 — counts as 0)."""
    rate = (pl.col("ret") + 1.0).pow(1.0 / horizon) - 1.0
    return (
        daily_q.sort("quantile", "Date")
        .with_columns(rate=rate.fill_nan(None).fill_null(0.0))
        .with_columns(cum=(pl.col("rate") + 1.0).cum_prod().over("quantile"))
        .select("Date", "quantile", "cum")
    )


def _date_index(frame: pl.DataFrame) -> pl.DataFrame:
    dates = frame.select(pl.col("Date").unique().sort())
    return dates.with_columns(di=pl.int_range(pl.len()).cast(pl.Int64))


def topk_turnover(frame: pl.DataFrame, pred: str, k: int, lag: int = 1) -> pl.DataFrame:
    """Per day ``Date, turnover``: 1 − |S_t ∩ S_{t−lag}|/K with S_t the top K (ties by Code).

    K is min(k, stocks that day); the first ``lag`` dates have no turnover.
    """
    p = frame.select("Date", "Code", pl.col(pred).alias("p")).filter(
        pl.col("p").is_not_null() & pl.col("p").is_finite()
    )
    top = (
        p.sort(["Date", "p", "Code"], descending=[False, True, False])
        .with_columns(pos=pl.int_range(pl.len()).over("Date"))
        .filter(pl.col("pos") < k)
        .join(_date_index(p), on="Date")
    )
    prev = top.select("Code", di=pl.col("di") + lag, was=pl.lit(True))
    joined = top.join(prev, on=["Code", "di"], how="left")
    kept = joined.group_by("Date", "di").agg(
        size=pl.len(), overlap=pl.col("was").fill_null(False).sum()
    )
    return (
        kept.filter(pl.col("di") >= lag)
        .select("Date", turnover=1.0 - pl.col("overlap") / pl.col("size"))
        .sort("Date")
    )


def rank_autocorrelation(frame: pl.DataFrame, pred: str, lag: int = 1) -> pl.DataFrame:
    """Per day ``Date, rank_autocorr``: Spearman corr of p_t and p_{t−lag} over common stocks."""
    p = frame.select("Date", "Code", pl.col(pred).alias("p")).filter(
        pl.col("p").is_not_null() & pl.col("p").is_finite()
    )
    p = p.join(_date_index(p), on="Date")
    prev = p.select("Code", di=pl.col("di") + lag, p_prev=pl.col("p"))
    both = p.join(prev, on=["Code", "di"], how="inner").with_columns(
        r=pl.col("p").rank("average").over("Date"),
        r_prev=pl.col("p_prev").rank("average").over("Date"),
    )
    return (
        both.group_by("Date").agg(rank_autocorr=_nan_to_null(pl.corr("r", "r_prev"))).sort("Date")
    )


def coverage(predictions: pl.DataFrame, universe: pl.DataFrame, pred: str) -> float | None:
    """Share of universe rows (``Date, Code`` of the dataset on the evaluated dates) with a prediction."""
    if universe.height == 0:
        return None
    have = predictions.filter(pl.col(pred).is_not_null() & pl.col(pred).is_finite()).select(
        "Date", "Code"
    )
    hit = universe.select("Date", "Code").join(have, on=["Date", "Code"], how="semi").height
    return hit / universe.height


def kaggle_jpx_daily(
    frame: pl.DataFrame, pred: str, target: str, portfolio_size: int = KAGGLE_PORTFOLIO_SIZE
) -> pl.DataFrame:
    """Daily spread return of the Kaggle JPX competition metric: ``Date, spread, legs``.

    Stocks are ranked by prediction (descending, ties by Code): rank 0 is the best. With
    w = linspace(2, 1, m): S_up = Σ_i w_i·y(rank i−1) / mean(w), S_down = Σ_i w_i·y(rank N−i) /
    mean(w) (the worst-ranked stock gets weight 2), spread = S_up − S_down. The competition's
    m = 200 needs N ≥ 400 stocks; on smaller days m = min(200, ⌊N/2⌋) so the legs never overlap
    (``legs`` reports m). Days with m < 2 are skipped.
    """
    pairs = _pairs(frame, pred, target)
    ranked = pairs.sort(["Date", "p", "Code"], descending=[False, True, False]).with_columns(
        pos=pl.int_range(pl.len()).over("Date"), n=pl.len().over("Date")
    )
    m = pl.min_horizontal(pl.lit(portfolio_size), pl.col("n") // 2)
    # w at 0-based position j of a leg of size m: 2 − j/(m − 1); mean(w) = 1.5 for m ≥ 2.
    down_pos = pl.col("n") - 1 - pl.col("pos")
    w_up = pl.when(pl.col("pos") < m).then(2.0 - pl.col("pos") / (m - 1)).otherwise(0.0)
    w_down = pl.when(down_pos < m).then(2.0 - down_pos / (m - 1)).otherwise(0.0)
    return (
        ranked.with_columns(legs=m)
        .filter(pl.col("legs") >= 2)
        .group_by("Date")
        .agg(
            spread=((w_up - w_down) * pl.col("y")).sum() / 1.5,
            legs=pl.col("legs").first(),
        )
        .sort("Date")
    )


def kaggle_jpx_score(daily: pl.DataFrame) -> dict[str, object]:
    """Score = mean / std (ddof = 1) of the daily spreads, not annualised (the competition's)."""
    s = summarize_series(daily["spread"])
    return {
        "score": s["ir"],
        "spread_mean": s["mean"],
        "spread_std": s["std"],
        "n_days": s["n"],
        "portfolio_size_min": int(daily["legs"].min()) if daily.height else None,
        "portfolio_size_max": int(daily["legs"].max()) if daily.height else None,
    }
