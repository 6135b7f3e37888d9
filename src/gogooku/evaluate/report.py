"""HTML report ``report.html`` of one evaluated run (``compare.html`` of several is
:mod:`gogooku.evaluate.compare`'s).

plotly.js is not inlined: :func:`write_report` references the home's one copy
(``$GOGOOKU_HOME/assets/plotly-<version>.min.js``, or a copy next to a page written outside the
home) by a relative path (:mod:`gogooku.evaluate.plotlyjs`), so the pages open offline and
stay small.

``report.html`` reads top-down, for the test split (the valid split when a run has no test
rows) at the run's main horizon (``metrics.json``'s ``main_horizon``: ``[target]
main_horizon``, else 5, else the first horizon):

1. **Headline** — daily RankIC mean and ICIR with their 95 % block-bootstrap intervals; the
   long-short book's net mean daily return and daily Sharpe, its annualised Sharpe [CI] and
   annual return; excess return of the long-only book over the split's benchmark (named as
   :func:`gogooku.evaluate.benchmark.benchmark_label` writes it, with the reason when ``auto`` fell back to the universe);
   beta; turnover; the period (first..last date, trading days).
2. **Charts** — IC distribution (histogram of daily RankIC); IC over time (daily + 20-day
   rolling mean); top-K turnover over time; cumulative return per prediction quantile
   (``metrics.quantile_cumulative``); drawdown of the long-short book.
3. **Details** — the summary table of every split and horizon; the long-only book (cumulative
   return vs the benchmark, the equal-weight universe and, on synthetic data, the oracle; its Sharpe is
   mostly market exposure); the monthly return heat map; the sector contribution; mean target
   by decile; IC decay (RankIC of every ``pred_{h}d`` against every ``target_{h'}d``); a
   walk-forward run's per-fold table (``_fold_rows``).

Spans under a year (``short_span`` of the split, fewer than ``risk.MIN_ANNUAL_DAYS`` trading
days) are not silently annualised: the headline shows the un-annualised mean daily return and
daily Sharpe and leaves the annualised Sharpe and return out (“n/a, N days < 1 year”); the
summary table keeps annualised figures but marks them ⚑ with a note “annualised from N days”.
Only horizons the run predicts are in ``metrics.json``, so a model fitted on its main horizon
alone is charted once, not as four copies.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl

from gogooku.evaluate import metrics as sig_metrics
from gogooku.evaluate import risk
from gogooku.evaluate.benchmark import benchmark_label
from gogooku.evaluate.evaluation import Evaluation
from gogooku.evaluate.pages import Figures, fmt, get, page
from gogooku.evaluate.plotlyjs import plotly_src
from gogooku.io import atomic_write_text

ROLLING_IC_DAYS = 20
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
FLAG = "⚑"


def _span_note(split: str, sd: dict) -> str | None:
    """The flag of a split shorter than a year, or None."""
    if not sd.get("short_span"):
        return None
    return f"{split}: annualised from {sd.get('span_days', sd.get('n_dates'))} days (< 1 year)"


def _annual(value: object, short: bool, pct: bool = False) -> str:
    """An annualised figure, marked when its split spans less than a year."""
    text = fmt(value, pct)
    return f"{text} <span class='flag'>{FLAG}</span>" if short and value is not None else text


def _summary_rows(metrics: dict) -> list[str]:
    rows = [
        "<table id='summary-table'><tr><th class='l'>split</th><th>days</th><th>h</th><th>IC</th>"
        "<th>RankIC</th><th>RankIC IR</th><th>t</th><th>hit</th><th>D10−D1</th>"
        "<th>Kaggle JPX</th><th>LS Sharpe</th><th>LS mean/day</th><th>LO Sharpe</th>"
        "<th>LO ann. ret</th><th>LO max DD</th><th>RankIC/oracle</th></tr>"
    ]
    notes = []
    for split, sd in metrics["splits"].items():
        short = bool(sd.get("short_span"))
        note = _span_note(split, sd)
        if note:
            notes.append(note)
        days = sd.get("span_days", sd.get("n_dates"))
        for h, e in sd["horizons"].items():
            s = e["signal"]
            lo = get(e, "portfolio", "long_only", "net")
            ls = get(e, "portfolio", "long_short", "net")
            rows.append(
                f"<tr><td class='l'>{split}</td><td>{fmt(days)}</td><td>{h}</td>"
                f"<td>{fmt(s['ic_mean'])}</td><td>{fmt(s['rank_ic_mean'])}</td>"
                f"<td>{fmt(s['rank_icir'])}</td><td>{fmt(s['rank_ic_t_stat'])}</td>"
                f"<td>{fmt(s['hit_rate'], True)}</td>"
                f"<td>{fmt(get(s, 'deciles', 'top_bottom_spread'), True)}</td>"
                f"<td>{fmt(get(s, 'kaggle_jpx', 'score'))}</td>"
                f"<td>{_annual(get(ls, 'sharpe'), short)}</td>"
                f"<td>{fmt(get(ls, 'mean_daily'), True)}</td>"
                f"<td>{_annual(get(lo, 'sharpe'), short)}</td>"
                f"<td>{_annual(get(lo, 'annual_return'), short, True)}</td>"
                f"<td>{fmt(get(lo, 'max_drawdown'), True)}</td>"
                f"<td>{fmt(get(e, 'vs_oracle', 'rank_ic_vs_oracle'))}</td></tr>"
            )
    rows.append("</table>")
    rows.extend(f"<p class='note flag'>{FLAG} {html.escape(n)}</p>" for n in notes)
    return rows


def _fold_rows(metrics: dict) -> list[str]:
    """A walk-forward run's per-fold table (test split: RankIC, RankIC IR and the long-short
    book's mean daily net return per fold and horizon); nothing for other runs."""
    folds = get(metrics, "splits", "test", "folds")
    if not folds:
        return []
    horizons = list(folds[0]["horizons"])
    head = "".join(
        f"<th>RankIC {h}</th><th>RankIC IR {h}</th><th>LS net/day {h}</th>" for h in horizons
    )
    rows = [
        "<h2>Walk-forward folds (test)</h2>",
        f"<table><tr><th class='l'>fold</th><th>first</th><th>last</th><th>days</th>{head}</tr>",
    ]
    for f in folds:
        cells = "".join(
            f"<td>{fmt(get(f, 'horizons', h, 'rank_ic_mean'))}</td>"
            f"<td>{fmt(get(f, 'horizons', h, 'rank_icir'))}</td>"
            f"<td>{fmt(get(f, 'horizons', h, 'ls_net_mean'), True)}</td>"
            for h in horizons
        )
        rows.append(
            f"<tr><td class='l'>{fmt(f['fold'])}</td><td>{fmt(f['first_date'])}</td>"
            f"<td>{fmt(f['last_date'])}</td><td>{fmt(f['n_dates'])}</td>{cells}</tr>"
        )
    rows.append("</table>")
    return rows


def _cumulative(daily: pl.DataFrame, column: str) -> list[float]:
    return (daily[column].fill_null(0.0) + 1.0).cum_prod().to_list()


def headline_split(metrics: dict) -> str:
    """The split the headline and charts show: test, else valid, else the first."""
    splits = metrics["splits"]
    return next((s for s in ("test", "valid") if s in splits), next(iter(splits)))


def report_horizon(metrics: dict, horizons: list[int]) -> int:
    """The horizon the headline and charts show: ``metrics.json``'s ``main_horizon`` when the
    run predicts it, else 5, else the first horizon."""
    main = metrics.get("main_horizon")
    if main in horizons:
        return int(main)
    return 5 if 5 in horizons else horizons[0]


def _ci(ci: object, pct: bool = False) -> str:
    low, high = get(ci, "low"), get(ci, "high")
    if low is None or high is None:
        return ""
    return f"[{fmt(low, pct)}, {fmt(high, pct)}]"


def _headline(metrics: dict, split: str, h: int) -> list[str]:
    """The headline table (module doc) of ``split`` at horizon ``h``."""
    sd = metrics["splits"][split]
    e = sd["horizons"][f"{h}d"]
    s = e["signal"]
    short = bool(sd.get("short_span"))
    days = sd.get("span_days", sd.get("n_dates"))
    not_annual = f"n/a: {days} days < 1 year, not annualised (see the daily figures)"
    rows: list[tuple[str, str, str]] = [
        ("RankIC mean (daily)", fmt(s["rank_ic_mean"]), _ci(s.get("rank_ic_mean_ci"))),
        ("ICIR (daily RankIC mean / std)", fmt(s["rank_icir"]), _ci(s.get("rank_icir_ci"))),
    ]
    port = e.get("portfolio")
    if port:
        ls = port["long_short"]
        lo = port["long_only"]
        bench_entry = sd.get("benchmark")
        bench = benchmark_label(bench_entry)
        rows += [
            ("Long-short net mean daily return", fmt(ls["net"].get("mean_daily"), True), ""),
            ("Long-short net daily Sharpe", fmt(ls["net"].get("daily_sharpe")), ""),
        ]
        if short:
            rows += [
                ("Long-short net Sharpe (annualised)", not_annual, ""),
                ("Long-short net annual return", not_annual, ""),
            ]
        else:
            rows += [
                (
                    "Long-short net Sharpe (annualised)",
                    fmt(ls["net"]["sharpe"]),
                    _ci(ls.get("sharpe_ci")),
                ),
                ("Long-short net annual return", fmt(ls["net"]["annual_return"], True), ""),
            ]
        excess = lo.get("excess") or {}
        rows.append(
            (
                f"Excess over {bench} (long-only, net), mean daily",
                fmt(excess.get("mean_daily"), True),
                "",
            )
        )
        if not short:
            rows.append(
                (
                    f"Excess over {bench} (long-only, net), annualised",
                    fmt(excess.get("annual_return"), True),
                    "",
                )
            )
        rows += [
            (
                f"Beta to {bench}: long-short / long-only",
                f"{fmt(ls.get('beta'))} / {fmt(lo.get('beta'))}",
                "",
            ),
            (
                "Turnover, long-short book (mean daily traded / NAV)",
                fmt(ls.get("turnover_mean"), True),
                "",
            ),
        ]
    if port and bench_entry:
        why = bench_entry.get("reason")
        rows.append(("Benchmark", html.escape(bench + (f": {why}" if why else "")), ""))
    rows.append(
        (f"Top-K turnover vs {h} sessions earlier", fmt(s.get("topk_turnover_horizon"), True), "")
    )
    period = f"{sd.get('first_date')} .. {sd.get('last_date')} ({days} trading days)"
    rows.append(("Period", html.escape(period), ""))
    body = "".join(
        f"<tr><td class='l'>{html.escape(label)}</td><td>{value}</td><td class='ci'>{ci}</td></tr>"
        for label, value, ci in rows
    )
    out = [
        f"<section id='headline'><h2>Headline: {html.escape(split)} split, {h}d</h2>",
        "<table class='headline'><tr><th class='l'>metric</th><th>value</th>"
        "<th>95 % interval</th></tr>" + body + "</table>",
    ]
    if short:
        out.append(
            f"<p class='note flag'>{FLAG} {html.escape(split)} spans {days} trading days "
            f"(< 1 year): annualised from {days} days would extrapolate, so the headline shows "
            "daily figures; the summary table marks annualised ones.</p>"
        )
    out.append("</section>")
    return out


def _charts(evaluation: Evaluation, split: str, h: int, figs: Figures) -> None:
    """The chart section (module doc, step 2) of ``split`` at horizon ``h``."""
    hs = evaluation.series[(split, h)]
    ic = hs.daily_ic.sort("Date").with_columns(
        roll=pl.col("rank_ic").rolling_mean(ROLLING_IC_DAYS, min_samples=1)
    )
    ric = ic["rank_ic"].drop_nulls()
    fig = go.Figure(go.Histogram(x=ric, nbinsx=min(40, max(5, ric.len() // 3)), name="days"))
    if ric.len():
        fig.add_vline(x=float(ric.mean()), line_dash="dash", annotation_text="mean")
    fig.update_layout(xaxis_title="daily RankIC", yaxis_title="days")
    figs.add(
        fig, f"IC distribution: daily RankIC, pred_{h}d vs target_{h}d ({split})", "ic-distribution"
    )

    fig = go.Figure()
    fig.add_bar(x=ic["Date"], y=ic["rank_ic"], name="daily RankIC")
    fig.add_scatter(x=ic["Date"], y=ic["roll"], name=f"{ROLLING_IC_DAYS}-day mean")
    figs.add(
        fig,
        f"IC over time: daily RankIC and its {ROLLING_IC_DAYS}-day mean ({split})",
        "ic-over-time",
    )

    fig = go.Figure()
    if hs.turnover is not None and hs.turnover.height:
        to = hs.turnover.sort("Date")
        fig.add_scatter(x=to["Date"], y=to["turnover"], name=f"top-K turnover vs {h} sessions")
    if "long_short" in hs.backtests:
        ls = hs.backtests["long_short"].daily.sort("Date").filter(pl.col("turnover") > 0)
        fig.add_scatter(
            x=ls["Date"], y=ls["turnover"], mode="markers", name="long-short book, traded / NAV"
        )
    fig.update_layout(yaxis_tickformat=".0%")
    figs.add(fig, f"Turnover over time ({split})", "turnover-over-time")

    fig = go.Figure()
    if hs.quantiles.height:
        cum = sig_metrics.quantile_cumulative(hs.quantiles, h)
        for q in sorted(cum["quantile"].unique().to_list()):
            part = cum.filter(pl.col("quantile") == q)
            fig.add_scatter(x=part["Date"], y=part["cum"], name=f"Q{q}")
    fig.update_layout(yaxis_title="growth of 1")
    figs.add(
        fig,
        f"Cumulative return per prediction quantile ({split}; daily rate of the {h}d target, "
        "compounded)",
        "quantile-cumulative",
    )

    if "long_short" in hs.backtests:
        ls = hs.backtests["long_short"].daily.sort("Date")
        dd = risk.drawdown_series(ls["ret_net"].fill_null(0.0).to_numpy())[1:]
        fig = go.Figure(go.Scatter(x=ls["Date"], y=dd, fill="tozeroy", name="drawdown"))
        fig.update_layout(yaxis_tickformat=".0%")
        figs.add(fig, f"Drawdown of the long-short book, net ({split})", "drawdown")


def _details(evaluation: Evaluation, split: str, h: int, figs: Figures) -> list[str]:
    """The detail section (module doc, step 3): returns the html parts, adding figures."""
    m = evaluation.metrics
    hs = evaluation.series[(split, h)]
    out = ["<section id='details'><h2>Details</h2>", "<h3>Summary of every split and horizon</h3>"]
    out += _summary_rows(m)
    if "long_only" in hs.backtests:
        start = len(figs.parts)
        lo = hs.backtests["long_only"].daily.sort("Date")
        fig = go.Figure()
        fig.add_scatter(x=lo["Date"], y=_cumulative(lo, "ret_net"), name="long-only top-K (net)")
        if "long_short" in hs.backtests:
            ls = hs.backtests["long_short"].daily.sort("Date")
            fig.add_scatter(x=ls["Date"], y=_cumulative(ls, "ret_net"), name="long-short (net)")
        if "long_only" in hs.oracle_backtests:
            ol = hs.oracle_backtests["long_only"].daily.sort("Date")
            fig.add_scatter(
                x=ol["Date"],
                y=_cumulative(ol, "ret_net"),
                name="oracle long-only (net)",
                line={"dash": "dot"},
            )
        bench = benchmark_label(get(m, "splits", split, "benchmark"))
        fig.add_scatter(x=lo["Date"], y=_cumulative(lo, "benchmark"), name=bench)
        fig.add_scatter(x=lo["Date"], y=_cumulative(lo, "benchmark_ew"), name="equal-weight")
        figs.add(fig, f"Cumulative return ({split}, {h}d rebalance)", "long-only-cumulative")
        monthly = risk.period_returns(hs.backtests["long_only"].daily, "ret_net", "month")
        years = sorted(set(monthly["year"].to_list()))
        grid = np.full((len(years), 12), np.nan)
        for row in monthly.iter_rows(named=True):
            grid[years.index(row["year"]), row["month"] - 1] = row["ret"]
        heat = go.Heatmap(
            z=grid, x=MONTHS, y=[str(y) for y in years], colorscale="RdYlGn", zmid=0.0
        )
        figs.add(go.Figure(heat), "Monthly net return, long-only (compounded)", "monthly")
        sec = hs.backtests["long_only"].sector_contribution.sort("contribution")
        figs.add(
            go.Figure(go.Bar(x=sec["contribution"], y=sec["S33"], orientation="h")),
            "Sector (S33) contribution, long-only",
            "sector-contribution",
        )
        beta = get(m, "splits", split, "horizons", f"{h}d", "portfolio", "long_only", "beta")
        out += [
            "<h3 id='long-only'>Long-only book</h3>",
            "<p class='note'>The long-only top-K Sharpe is mostly market exposure "
            f"(beta {fmt(beta)}): judge the signal by the long-short and excess figures "
            "above.</p>",
            *figs.parts[start:],
        ]
    start = len(figs.parts)
    dec = m["splits"][split]["horizons"][f"{h}d"]["signal"]["deciles"]["mean_return"]
    figs.add(
        go.Figure(go.Bar(x=[f"D{i + 1}" for i in range(len(dec))], y=dec)),
        f"Mean {h}d target by prediction decile ({split})",
        "deciles",
    )
    decay = go.Figure()
    for ph, entry in m["splits"][split]["horizons"].items():
        decay.add_bar(
            x=list(entry["ic_decay"]), y=list(entry["ic_decay"].values()), name=f"pred_{ph}"
        )
    decay.update_layout(xaxis_title="target horizon", yaxis_title="mean RankIC", barmode="group")
    figs.add(decay, f"IC decay ({split})", "ic-decay")
    out += ["<h3>Deciles and IC decay</h3>", *figs.parts[start:], "</section>"]
    return out


def build_report(evaluation: Evaluation, plotlyjs: str | bool = True) -> str:
    """The HTML text of ``report.html`` (module doc); ``plotlyjs`` is the ``src`` of plotly.js
    (:func:`gogooku.evaluate.plotlyjs.plotly_src`) or True to inline it."""
    m = evaluation.metrics
    info = evaluation.info
    split = headline_split(m)
    h = report_horizon(m, info.horizons)
    figs = Figures(plotlyjs)
    _charts(evaluation, split, h, figs)
    charts = list(figs.parts)
    details = _details(evaluation, split, h, figs)
    warnings = "".join(f"<p class='warn'>{html.escape(w)}</p>" for w in m.get("warnings", []))
    body = [
        f"<h1>Run {html.escape(info.run_id)}</h1>",
        f"<p>model <b>{html.escape(info.model)}</b>, dataset <b>{html.escape(info.dataset)}</b>, "
        f"horizons {info.horizons} (main {h}d), evaluated {html.escape(m['evaluated_at'])}, "
        f"code {html.escape(m['code_version'])}; top-K {m['config']['top_k']}, costs "
        f"{m['config']['cost_bps']} bps per side.</p>",
        warnings,
        *_headline(m, split, h),
        f"<section id='charts'><h2>Charts ({split} split, {h}d)</h2>",
        *charts,
        "</section>",
        *_fold_rows(m),
        *details,
    ]
    return page(f"gogooku report {info.run_id}", body)


def write_report(evaluation: Evaluation, path: Path) -> Path:
    """Write ``build_report``'s page to ``path`` (atomically), referencing the home's plotly.js
    (:mod:`gogooku.evaluate.plotlyjs`)."""
    path = Path(path)
    atomic_write_text(path, build_report(evaluation, plotly_src(path)))
    return path
