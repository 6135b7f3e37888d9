"""Evaluate a run: join its predictions with the dataset's targets and the market, compute the
signal and portfolio metrics per split and horizon, and write ``metrics.json``, ``daily.parquet``
and ``report.html``.

``daily.parquet`` holds the daily series behind the metrics (what ``gogooku compare`` pairs runs
on), one row per split × horizon × day, sorted by split, horizon, Date: ``split`` (String),
``horizon`` (Int32), ``Date`` (Date), ``rank_ic`` (the day's RankIC, null on a constant day),
``ls_net`` and ``lo_net`` (the long-short and long-only books' net daily returns), ``bench`` (the
``[evaluate] benchmark``'s daily return). Days are the union of the days with predictions and the
backtest's days (which start the market day after the first prediction and run up to h sessions
past the last); the portfolio columns are null on splits without backtests (train).

Point-in-time guard: a run whose valid or test range overlaps its training range is refused
(:class:`EvaluationError` naming the dates); for a walk-forward run (``RunInfo.folds``), each
fold's against the training range of the fit that predicted it, and the test split gets per-fold
rows (:func:`fold_metrics`). When the h-day labels of the last training days reach
into the valid or test range (train end + h + 1 sessions ≥ its start), a warning is recorded in
``metrics.json``.

Hold-out guard: predictions dated in the dataset's sealed hold-out (``gogooku.dataset.holdout``)
are refused unless ``final=True`` (``gogooku evaluate --final``, which records the scoring in the
hold-out ledger) or the run is such a final run (``run.json`` params ``holdout: true``).

Portfolio metrics come from :mod:`gogooku.evaluate.backtest` (long-only top-K vs the
``[evaluate] benchmark`` and the equal-weight universe, long-short top-K/bottom-K), rebalanced
every h sessions for horizon h, on the valid and test splits. The benchmark is built per split by
:mod:`gogooku.evaluate.benchmark` (``auto``: TOPIX when the store has it, else the universe);
``metrics.json`` records it (``benchmark``: name, weighting, reason; per split and, for the last
portfolio split, at the top level). The backtest follows the market recorded in the dataset's
``metadata.json`` (``market``; absent: Tokyo): JPX price limits and 100-share lots on Tokyo, no
limits and 1-share lots elsewhere. On the synthetic market the oracle's expected returns
(``exp_target_{h}d``) are evaluated on the same rows, and the run is also reported as the share
of the oracle it recovers: ``rank_ic_vs_oracle`` = RankIC mean / oracle RankIC mean and
``sharpe_vs_oracle`` = net Sharpe / oracle net Sharpe per strategy (null where the oracle's
value is not positive: a share of a non-positive ceiling means nothing).

Only the run's own horizons (``run.json`` horizons, the ``pred_{h}d`` columns it has) are
evaluated: a model that predicts only its main horizon has metrics for that horizon alone.
``main_horizon`` (``[target] main_horizon`` of the run's config.toml; else 5 when the run has
it, else its first horizon) is the horizon the report's headline and charts show.

Each split records ``span_days`` (its evaluated trading days) and ``short_span`` (fewer than
``risk.MIN_ANNUAL_DAYS``, about a TSE year): its annualised figures (annual return, volatility,
Sharpe) extrapolate less than a year and the report flags them. Next to them every return
series carries its un-annualised ``mean_daily`` return and ``daily_sharpe``; the daily RankIC
carries bootstrap intervals of its mean (``rank_ic_mean_ci``) and of its ICIR
(``rank_icir_ci``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from gogooku.calendar import TradingCalendar
from gogooku.config import read_toml
from gogooku.dataset.holdout import read_holdout
from gogooku.errors import GogookuError
from gogooku.evaluate import backtest as bt
from gogooku.evaluate import bootstrap, metrics, risk
from gogooku.evaluate.benchmark import build_benchmark
from gogooku.evaluate.config import EvaluateConfig
from gogooku.evaluate.evaluation import Evaluation, HorizonSeries
from gogooku.io import atomic_write_parquet, atomic_write_text, code_version
from gogooku.market import Market, dataset_market
from gogooku.runs import CONFIG_FILE, Ranges, RunInfo, load_run, read_predictions
from gogooku.settings import Settings, get_settings
from gogooku.store.raw import RawStore
from gogooku.target import LabelKind, TargetConfig, label_column, pred_column

SCHEMA_VERSION = 2
METRICS_FILE = "metrics.json"
DAILY_FILE = "daily.parquet"
REPORT_FILE = "report.html"
PORTFOLIO_SPLITS = ("valid", "test")
STRATEGIES = ("long_only", "long_short")
TARGET_RE = re.compile(r"^target_(\d+)d$")

CONVENTIONS = {
    "ic": "Pearson correlation across stocks per day, then averaged over days",
    "rank_ic": "Spearman (average ranks for ties) per day, as scipy.stats.spearmanr / Alphalens IC",
    "icir": "mean / std (ddof=1) of daily values, not annualised (Alphalens Risk-Adjusted IC)",
    "t_stat": "icir * sqrt(n_days)",
    "hit_rate": "share of days with RankIC > 0",
    "quantiles": "per-day quantile buckets ([evaluate] quantiles, 10: deciles) of average prediction ranks, mean target per bucket averaged over days",
    "returns": "compounded (empyrical): annual_return = CAGR, max drawdown on compounded wealth",
    "annualisation": "periods_per_year = trading days of the split range per calendar year spanned",
    "sharpe": "mean / std (ddof=1) * sqrt(periods_per_year), risk-free 0 (empyrical)",
    "sortino": "mean * P / (sqrt(mean(min(r,0)^2)) * sqrt(P)) (empyrical)",
    "var": "historical 5th percentile of daily returns (empyrical, not pyfolio's mean - 2 std)",
    "cvar": "mean of the floor((n-1)*0.05)+1 lowest daily returns (empyrical)",
    "kaggle_jpx": "mean / std (ddof=1) of daily spread returns, top/bottom 200 weights linspace(2,1,200)/mean, not annualised",
    "qlib_difference": "Qlib sums returns and annualises by 238 days; these metrics compound and use the TSE calendar",
    "qlib_excess": "Qlib risk_analysis (sum mode) of daily excess returns over the benchmark, gross and net of costs, annualised by the calendar's periods_per_year",
    "bootstrap": "circular block bootstrap over days, block = max(h, ceil(n^(1/3))), percentile interval",
}


class EvaluationError(GogookuError, ValueError):
    """The run cannot be evaluated (overlapping ranges, missing targets or market data)."""


def _overlap(a: tuple[dt.date, dt.date], b: tuple[dt.date, dt.date]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _fit_ranges(info: RunInfo) -> list[tuple[str, Ranges]]:
    """(label, ranges) to check for leaks: the run's ranges (label ""), or each fold's of a
    walk-forward run ("fold K"; its stitched ranges span later folds' fits, whose training may
    follow earlier folds' tests)."""
    if info.folds is None:
        return [("", info.ranges)]
    return [(f"fold {f.fold}", f.ranges) for f in info.folds]


def check_ranges(info: RunInfo) -> None:
    """Refuse a valid or test range that overlaps the training range (names both ranges); for a
    walk-forward run, each fold's against the training range of the fit that predicted it.

    Predictions are already tied to their split's range by :func:`gogooku.runs.read_predictions`,
    so disjoint ranges mean no valid/test prediction is dated inside the training range.
    """
    for label, ranges in _fit_ranges(info):
        who = f"run {info.run_id}" + (f" {label}" if label else "")
        train = ranges.train
        for split in ("valid", "test"):
            rng = ranges.of(split)
            if _overlap(train, rng):
                first, last = max(train[0], rng[0]), min(train[1], rng[1])
                raise EvaluationError(
                    f"{who}: {split} range {rng[0]}..{rng[1]} overlaps the training "
                    f"range {train[0]}..{train[1]} on {first}..{last}; evaluation on training "
                    "dates is refused"
                )


def dataset_horizons(panel_path: Path) -> list[int]:
    names = pl.scan_parquet(panel_path).collect_schema().names()
    return sorted(int(m.group(1)) for c in names if (m := TARGET_RE.match(c)))


def load_targets(
    settings: Settings, dataset: str, label: LabelKind = "raw"
) -> tuple[pl.DataFrame, list[int]]:
    """``Date, Code, target_{h}d`` for every horizon of the dataset panel, holding the labels of
    kind ``label`` (``gogooku.target.label_column``; the evaluator calls them all targets)."""
    path = settings.datasets_dir / dataset / "panel.parquet"
    if not path.is_file():
        raise EvaluationError(f"dataset {dataset!r}: {path} does not exist")
    horizons = dataset_horizons(path)
    if not horizons:
        raise EvaluationError(f"dataset {dataset!r}: {path} has no target_{{h}}d columns")
    cols = {label_column(h, label): f"target_{h}d" for h in horizons}
    absent = [c for c in cols if c not in pl.read_parquet_schema(path)]
    if absent:
        raise EvaluationError(f"dataset {dataset!r}: {path} has no label column(s) {absent}")
    frame = pl.read_parquet(path, columns=["Date", "Code", *cols]).rename(cols)
    return frame, horizons


def load_oracle(store: RawStore, horizons: list[int]) -> pl.DataFrame | None:
    """The synthetic market's ``Date, Code, exp_target_{h}d``, or None on real data."""
    oracle = store.read_oracle().collect()
    if oracle.height == 0:
        return None
    cols = [f"exp_target_{h}d" for h in horizons if f"exp_target_{h}d" in oracle.columns]
    return oracle.select("Date", "Code", *cols)


def _ratio(a: float | None, b: float | None) -> float | None:
    """a / b as a share of the oracle; null when the oracle's own value b is not positive."""
    if a is None or b is None or b <= 0:
        return None
    return a / b


def signal_metrics(
    frame: pl.DataFrame,
    pred: str,
    target: str,
    horizon: int,
    top_k: int,
    universe: pl.DataFrame,
    replicates: int,
    quantiles: int = 10,
) -> tuple[dict[str, object], pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Signal metrics of ``pred`` vs ``target`` on ``frame``; also the daily IC, the per-day
    quantile returns and the per-day top-K turnover against ``horizon`` dates earlier."""
    daily = metrics.daily_ic(frame, pred, target)
    out: dict[str, object] = metrics.ic_summary(daily)
    deciles = metrics.quantile_returns(frame, pred, target, quantiles)
    out["deciles"] = metrics.quantile_summary(deciles, quantiles)
    turnover_1 = metrics.topk_turnover(frame, pred, top_k, lag=1)
    turnover_h = metrics.topk_turnover(frame, pred, top_k, lag=horizon)
    autocorr = metrics.rank_autocorrelation(frame, pred, lag=1)
    out["topk_turnover"] = turnover_1["turnover"].mean() if turnover_1.height else None
    out["topk_turnover_horizon"] = turnover_h["turnover"].mean() if turnover_h.height else None
    out["rank_autocorr"] = autocorr["rank_autocorr"].mean() if autocorr.height else None
    out["coverage"] = metrics.coverage(frame, universe, pred)
    out["kaggle_jpx"] = metrics.kaggle_jpx_score(metrics.kaggle_jpx_daily(frame, pred, target))
    ric = daily["rank_ic"].drop_nulls().to_numpy()
    block = bootstrap.default_block_length(ric.size, horizon)
    out["rank_ic_mean_ci"] = bootstrap.block_bootstrap_ci(
        ric, bootstrap.mean_statistic, block, replicates=replicates
    )
    out["rank_icir_ci"] = bootstrap.block_bootstrap_ci(
        ric, bootstrap.ir_statistic, block, replicates=replicates
    )
    return out, daily, deciles, turnover_h


def portfolio_metrics(
    result: bt.BacktestResult,
    ppy: float,
    horizon: int,
    replicates: int,
    benchmark: str = "topix",
) -> dict[str, object]:
    """Risk statistics of a backtest's daily returns (net and gross), benchmarks and excess;
    ``bench``, ``excess``, ``qlib_excess`` and ``beta`` are against the backtest's ``benchmark``
    column (the benchmark named ``benchmark``), ``benchmark_ew`` and ``excess_vs_ew`` against
    the equal-weight universe."""
    d = result.daily.sort("Date")
    net = d["ret_net"].to_numpy()
    bench = d["benchmark"].to_numpy()
    excess = (d["ret_net"] - d["benchmark"]).to_numpy()
    gross_ar = risk.annual_return(d["ret_gross"].to_numpy(), ppy)
    net_ar = risk.annual_return(net, ppy)
    clean = net[np.isfinite(net)]
    return {
        "net": risk.return_stats(net, ppy),
        "gross": risk.return_stats(d["ret_gross"].to_numpy(), ppy),
        "benchmark": benchmark,
        "bench": risk.return_stats(bench, ppy),
        "benchmark_ew": risk.return_stats(d["benchmark_ew"].to_numpy(), ppy),
        "excess": risk.return_stats(excess, ppy),
        "excess_vs_ew": risk.return_stats((d["ret_net"] - d["benchmark_ew"]).to_numpy(), ppy),
        "qlib_excess": {
            "without_cost": risk.qlib_risk_analysis(
                (d["ret_gross"] - d["benchmark"]).to_numpy(), ppy
            ),
            "with_cost": risk.qlib_risk_analysis(excess, ppy),
        },
        "beta": risk.beta(net, bench),
        "turnover_mean": d["turnover"].mean(),
        "cost_total": d["cost"].sum(),
        "cost_drag": gross_ar - net_ar if gross_ar is not None and net_ar is not None else None,
        "n_long_mean": d["n_long"].mean(),
        "n_short_mean": d["n_short"].mean(),
        "sharpe_ci": bootstrap.block_bootstrap_ci(
            clean,
            bootstrap.sharpe_statistic(ppy),
            bootstrap.default_block_length(clean.size, horizon),
            replicates=replicates,
        ),
        "monthly": risk.period_returns(d, "ret_net", "month").to_dicts(),
        "yearly": risk.period_returns(d, "ret_net", "year").to_dicts(),
        "sector_contribution": result.sector_contribution.sort("contribution").to_dicts(),
    }


class _Market:
    """Market inputs of the backtest for one date range, loaded once per split: the market grid,
    the benchmark (``choice``) and the rules of the dataset's market (lots, price limits)."""

    def __init__(
        self,
        store: RawStore,
        calendar: TradingCalendar,
        start: dt.date,
        end: dt.date,
        choice: str,
        rules: Market,
    ):
        self.market = bt.load_market(store, calendar, start, end)
        if self.market.height == 0:
            raise EvaluationError(
                f"no equities_bars_daily rows in the raw store for {start}..{end}"
            )
        self.benchmark = build_benchmark(store, calendar, self.market, choice)
        self.rules = rules


def _run_backtests(
    scores: pl.DataFrame, market: _Market, horizon: int, top_k: int, cost_bps: float
) -> dict[str, bt.BacktestResult]:
    out = {}
    for strategy in STRATEGIES:
        config = bt.BacktestConfig(
            top_k=top_k,
            strategy=strategy,
            rebalance_days=horizon,
            cost_bps=cost_bps,
            lot_size=market.rules.lot_size,
            price_limits=market.rules.jpx,
        )
        out[strategy] = bt.run_backtest(scores, market.market, market.benchmark.levels, config)
    return out


def _split_market(
    store: RawStore,
    calendar: TradingCalendar,
    info: RunInfo,
    split: str,
    first: dt.date,
    choice: str,
    rules: Market,
) -> _Market:
    """The backtest market of ``split``: from its first prediction date to max-horizon + 1
    sessions past its range end (positions opened on the last days are closed then), with the
    benchmark ``choice`` and the dataset market's ``rules``."""
    end = info.ranges.of(split)[1]
    close_by = calendar.offset_clipped(calendar.on_or_before(end), max(info.horizons) + 1)
    return _Market(store, calendar, first, close_by, choice, rules)


def split_backtests(
    run_dir: Path,
    split: str,
    horizon: int,
    top_k: int,
    cost_bps: float,
    benchmark: str,
    settings: Settings,
) -> dict[str, bt.BacktestResult]:
    """The long-only and long-short backtests :func:`evaluate_run` runs for ``split`` and
    ``horizon``, run again from the run's predictions and the raw store (same market window,
    scores, book and market rules; ``top_k``, ``cost_bps`` and the ``benchmark`` choice as
    recorded in metrics.json's ``config``)."""
    info = load_run(run_dir)
    preds = read_predictions(run_dir)
    part = preds.filter(pl.col("split") == split)
    if part.height == 0:
        raise EvaluationError(f"run {info.run_id}: no {split} predictions")
    store = RawStore(settings.raw_dir)
    calendar = TradingCalendar.load(store, preds["Date"].min(), preds["Date"].max())
    rules = dataset_market(settings.datasets_dir / info.dataset)
    market = _split_market(store, calendar, info, split, part["Date"].min(), benchmark, rules)
    return _run_backtests(_scores(part, pred_column(horizon)), market, horizon, top_k, cost_bps)


def _label_overlap_warnings(info: RunInfo, calendar: TradingCalendar) -> list[str]:
    warnings = []
    for label, ranges in _fit_ranges(info):
        prefix = f"{label}: " if label else ""
        train_end = ranges.train[1]
        for split in ("valid", "test"):
            start = ranges.of(split)[0]
            for h in info.horizons:
                reach = calendar.offset_clipped(calendar.on_or_before(train_end), h + 1)
                if reach >= start:
                    warnings.append(
                        f"{prefix}{split}: {h}d labels of training days up to {train_end} use "
                        f"prices up to {reach}, on or after the {split} start {start} (no purge gap)"
                    )
    return warnings


def json_ready(value: object) -> object:
    """``value`` for JSON: keys as strings, dates ISO, numpy scalars as Python numbers, NaN and
    infinities as None."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


@dataclass
class _SplitContext:
    """Everything one split's horizons share: its rows, universe, annualisation and market."""

    part: pl.DataFrame
    universe: pl.DataFrame
    ppy: float
    market: _Market | None
    target_horizons: list[int]
    top_k: int
    cost_bps: float
    replicates: int
    quantiles: int


def _scores(part: pl.DataFrame, column: str) -> pl.DataFrame:
    return part.select("Date", "Code", score=pl.col(column)).drop_nulls("score")


def _evaluate_horizon(ctx: _SplitContext, h: int) -> tuple[dict[str, object], HorizonSeries]:
    """The ``splits.<split>.horizons.<h>d`` entry of metrics.json and its series."""
    part, pred, target = ctx.part, pred_column(h), f"target_{h}d"
    sig, daily, deciles, turnover = signal_metrics(
        part, pred, target, h, ctx.top_k, ctx.universe, ctx.replicates, ctx.quantiles
    )
    hs = HorizonSeries(daily_ic=daily, quantiles=deciles, turnover=turnover)
    entry: dict[str, object] = {
        "signal": sig,
        "ic_decay": {
            f"{th}d": metrics.ic_summary(metrics.daily_ic(part, pred, f"target_{th}d"))[
                "rank_ic_mean"
            ]
            for th in ctx.target_horizons
        },
    }
    oracle_col = f"exp_target_{h}d"
    has_oracle = oracle_col in part.columns
    if has_oracle:
        osig, _, _, _ = signal_metrics(
            part, oracle_col, target, h, ctx.top_k, ctx.universe, ctx.replicates, ctx.quantiles
        )
        entry["oracle"] = {"signal": osig}
        entry["vs_oracle"] = {
            "rank_ic_vs_oracle": _ratio(sig["rank_ic_mean"], osig["rank_ic_mean"])
        }
    if ctx.market is None:
        return entry, hs
    hs.backtests = _run_backtests(_scores(part, pred), ctx.market, h, ctx.top_k, ctx.cost_bps)
    bench_name = ctx.market.benchmark.name
    entry["portfolio"] = {
        s: portfolio_metrics(r, ctx.ppy, h, ctx.replicates, bench_name)
        for s, r in hs.backtests.items()
    }
    if has_oracle:
        hs.oracle_backtests = _run_backtests(
            _scores(part, oracle_col), ctx.market, h, ctx.top_k, ctx.cost_bps
        )
        oport = {
            s: portfolio_metrics(r, ctx.ppy, h, ctx.replicates, bench_name)
            for s, r in hs.oracle_backtests.items()
        }
        entry["oracle"]["portfolio"] = oport
        entry["vs_oracle"]["sharpe_vs_oracle"] = {
            s: _ratio(entry["portfolio"][s]["net"]["sharpe"], oport[s]["net"]["sharpe"])
            for s in STRATEGIES
        }
    return entry, hs


def check_holdout(info: RunInfo, preds: pl.DataFrame, settings: Settings) -> None:
    """Refuse predictions dated in the hold-out of the run's dataset (names the dates)."""
    holdout = read_holdout(settings.datasets_dir / info.dataset)
    if not holdout.active or preds.height == 0:
        return
    sealed = preds.filter(pl.col("Date") >= holdout.start)["Date"]
    if sealed.len():
        raise EvaluationError(
            f"run {info.run_id}: {sealed.len()} predictions dated {sealed.min()}..{sealed.max()} "
            f"lie in the sealed hold-out {holdout.describe()} of dataset {info.dataset!r}; "
            "only `gogooku evaluate --final RUN` scores the hold-out"
        )


def fold_metrics(part: pl.DataFrame, series: dict[int, HorizonSeries]) -> list[dict[str, object]]:
    """Per-fold rows of a walk-forward run's test split (``part`` has a ``fold`` column): each
    fold's dates, and per horizon its RankIC mean and ICIR (the split's daily RankIC on the fold's
    days) and ``ls_net_mean``, the mean daily net return of the split's long-short backtest on
    the fold's days (null without a backtest)."""
    out: list[dict[str, object]] = []
    for k in sorted(part["fold"].unique().to_list()):
        days = part.filter(pl.col("fold") == k)["Date"]
        first, last = days.min(), days.max()
        horizons: dict[str, object] = {}
        for h, hs in series.items():
            daily = hs.daily_ic.filter(pl.col("Date").is_between(first, last))
            summary = metrics.ic_summary(daily)
            ls_net = None
            if "long_short" in hs.backtests:
                net = hs.backtests["long_short"].daily.filter(
                    pl.col("Date").is_between(first, last)
                )["ret_net"]
                ls_net = net.mean() if net.len() else None
            horizons[f"{h}d"] = {
                "rank_ic_mean": summary["rank_ic_mean"],
                "rank_icir": summary["rank_icir"],
                "ls_net_mean": ls_net,
            }
        out.append(
            {
                "fold": int(k),
                "first_date": first,
                "last_date": last,
                "n_dates": days.n_unique(),
                "horizons": horizons,
            }
        )
    return out


DAILY_SCHEMA = {
    "split": pl.String,
    "horizon": pl.Int32,
    "Date": pl.Date,
    "rank_ic": pl.Float64,
    "ls_net": pl.Float64,
    "lo_net": pl.Float64,
    "bench": pl.Float64,
}


def daily_frame(series: dict[tuple[str, int], HorizonSeries]) -> pl.DataFrame:
    """The ``daily.parquet`` frame (see the module doc) of an evaluation's series."""
    parts = []
    for (split, h), hs in series.items():
        frame = hs.daily_ic.select("Date", "rank_ic")
        if "long_short" in hs.backtests:
            frame = frame.join(
                hs.backtests["long_short"].daily.select("Date", ls_net="ret_net"),
                on="Date",
                how="full",
                coalesce=True,
            )
        if "long_only" in hs.backtests:
            frame = frame.join(
                hs.backtests["long_only"].daily.select("Date", lo_net="ret_net", bench="benchmark"),
                on="Date",
                how="full",
                coalesce=True,
            )
        parts.append(
            frame.with_columns(split=pl.lit(split), horizon=pl.lit(h, dtype=pl.Int32))
            .select(
                [
                    pl.col(c).cast(t)
                    if c in frame.columns or c in ("split", "horizon")
                    else pl.lit(None, dtype=t).alias(c)
                    for c, t in DAILY_SCHEMA.items()
                ]
            )
            .sort("Date")
        )
    # ``series`` is filled split by split (train, valid, test), horizons ascending.
    return pl.concat(parts) if parts else pl.DataFrame(schema=DAILY_SCHEMA)


def run_settings(run_dir: Path) -> tuple[EvaluateConfig, LabelKind]:
    """The ``[evaluate]`` section and ``[target] label`` of the run's ``config.toml`` (defaults
    for a run without one, e.g. predictions written by another tool)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return EvaluateConfig(), "raw"
    data = read_toml(path)
    try:
        config = EvaluateConfig.model_validate(data.get("evaluate", {}))
        label = TargetConfig.model_validate(data.get("target", {})).label
    except ValueError as exc:
        raise EvaluationError(f"{path}: {exc}") from None
    return config, label


def main_horizon(run_dir: Path, horizons: list[int]) -> int:
    """The horizon the report leads with: ``[target] main_horizon`` of the run's config.toml
    when the run predicts it, else 5 when it does, else its first horizon."""
    path = Path(run_dir) / CONFIG_FILE
    if path.is_file():
        main = read_toml(path).get("target", {}).get("main_horizon")
        if main is None:
            main = TargetConfig.model_fields["main_horizon"].default
        if main in horizons:
            return int(main)
    return 5 if 5 in horizons else horizons[0]


def evaluate_run(
    run_dir: Path,
    config: EvaluateConfig | None = None,
    settings: Settings | None = None,
    write_report: bool = True,
    final: bool = False,
) -> Evaluation:
    """Evaluate ``run_dir`` and write ``metrics.json``, ``daily.parquet`` (and ``report.html``)
    into it.

    ``config`` defaults to the run's own ``[evaluate]`` section; predictions are scored against
    the labels of the run's ``[target] label`` kind. Predictions dated in the dataset's hold-out
    are refused unless ``final`` or the run is a final run (params ``holdout: true``)."""
    settings = settings or get_settings()
    run_dir = Path(run_dir)
    saved, label = run_settings(run_dir)
    config = config or saved
    top_k, cost_bps, replicates = config.top_k, config.cost_bps, config.bootstrap
    info = load_run(run_dir)
    check_ranges(info)
    preds = read_predictions(run_dir)
    if not (final or info.params.get("holdout") is True):
        check_holdout(info, preds, settings)
    targets, target_hs = load_targets(settings, info.dataset, label)
    missing = [h for h in info.horizons if h not in target_hs]
    if missing:
        raise EvaluationError(
            f"run {info.run_id}: dataset {info.dataset!r} has no target for horizons {missing} "
            f"(has {target_hs})"
        )
    store = RawStore(settings.raw_dir)
    rules = dataset_market(settings.datasets_dir / info.dataset)
    calendar = TradingCalendar.load(store, preds["Date"].min(), preds["Date"].max())
    oracle = load_oracle(store, info.horizons)
    joined = preds.join(targets, on=["Date", "Code"], how="left")
    if oracle is not None:
        joined = joined.join(oracle, on=["Date", "Code"], how="left")

    splits_out: dict[str, object] = {}
    benchmark: dict[str, object] | None = None
    series: dict[tuple[str, int], HorizonSeries] = {}
    for split in ("train", "valid", "test"):
        part = joined.filter(pl.col("split") == split)
        if part.height == 0:
            continue
        start, end = info.ranges.of(split)
        first, last = part["Date"].min(), part["Date"].max()
        market = None
        if split in PORTFOLIO_SPLITS:
            market = _split_market(store, calendar, info, split, first, config.benchmark, rules)
            benchmark = market.benchmark.describe()
        ctx = _SplitContext(
            part=part,
            universe=targets.filter(pl.col("Date").is_between(first, last)),
            ppy=risk.periods_per_year(calendar, start, end),
            market=market,
            target_horizons=target_hs,
            top_k=top_k,
            cost_bps=cost_bps,
            replicates=replicates,
            quantiles=config.quantiles,
        )
        horizons_out: dict[str, object] = {}
        for h in info.horizons:
            horizons_out[f"{h}d"], series[(split, h)] = _evaluate_horizon(ctx, h)
        n_dates = part["Date"].n_unique()
        splits_out[split] = {
            "range": [start, end],
            "first_date": first,
            "last_date": last,
            "n_dates": n_dates,
            "span_days": n_dates,
            "short_span": risk.is_short_span(n_dates),
            "n_rows": part.height,
            "periods_per_year": ctx.ppy,
            "horizons": horizons_out,
        }
        if market is not None:
            splits_out[split]["benchmark"] = market.benchmark.describe()
        if split == "test" and info.folds is not None:
            splits_out[split]["folds"] = fold_metrics(
                part, {h: series[(split, h)] for h in info.horizons}
            )
    if not splits_out:
        raise EvaluationError(f"run {info.run_id}: predictions.parquet has no rows")
    result = {
        "schema_version": SCHEMA_VERSION,
        "run": info.model_dump(mode="json"),
        "evaluated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "code_version": code_version(),
        "config": {
            "top_k": top_k,
            "cost_bps": cost_bps,
            "n_quantiles": config.quantiles,
            "benchmark": config.benchmark,
            "label": label,
            "kaggle_portfolio_size": metrics.KAGGLE_PORTFOLIO_SIZE,
            "bootstrap_replicates": replicates,
            "portfolio_splits": list(PORTFOLIO_SPLITS),
        },
        "conventions": CONVENTIONS,
        "main_horizon": main_horizon(run_dir, info.horizons),
        "oracle_available": oracle is not None,
        "market": rules.to_json(),
        "benchmark": benchmark,
        "warnings": _label_overlap_warnings(info, calendar),
        "splits": splits_out,
    }
    result = json_ready(result)
    # daily.parquet first: a metrics.json is never newer than the series it summarises.
    atomic_write_parquet(run_dir / DAILY_FILE, daily_frame(series))
    atomic_write_text(
        run_dir / METRICS_FILE, json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False)
    )
    evaluation = Evaluation(run_dir=run_dir, info=info, metrics=result, series=series)
    if write_report:
        from gogooku.evaluate.report import write_report as _write

        _write(evaluation, run_dir / REPORT_FILE)
    return evaluation
