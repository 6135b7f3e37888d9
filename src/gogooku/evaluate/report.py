"""Self-contained HTML report ``report.html`` of one evaluated run (``compare.html`` of several is
:mod:`gogooku.evaluate.compare`'s).

The Plotly library is inlined once (``include_plotlyjs=True`` on the first figure), so the files
open offline. Charts of ``report.html`` are drawn for the test split (the valid split when a run
has no test rows) and the run's first horizon: cumulative net return vs TOPIX, the equal-weight
universe and (on synthetic data) the oracle's long-only book; drawdown; daily RankIC with its
20-day rolling mean; decile mean returns; IC decay (RankIC of every ``pred_{h}d`` against every
``target_{h'}d``); the monthly return heat map and the sector contribution. A summary table
covers every split and horizon; a walk-forward run adds its per-fold table (``_fold_rows``).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl

from gogooku.evaluate import risk
from gogooku.evaluate.evaluation import Evaluation
from gogooku.io import atomic_write_text

ROLLING_IC_DAYS = 20
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
.warn { color: #a33; }
"""


def _fmt(value: object, pct: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value * 100:.2f}%" if pct else f"{value:.4f}"
    return html.escape(str(value))


def _get(d: object, *keys: str) -> object:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


class _Figures:
    """Collects figure divs; the first carries the inlined plotly.js, the rest reference it."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, fig: go.Figure, title: str) -> None:
        fig.update_layout(title=title, height=380, margin={"l": 50, "r": 20, "t": 50, "b": 40})
        self.parts.append(
            fig.to_html(
                full_html=False,
                include_plotlyjs=not self.parts,
                div_id=f"plot-{len(self.parts)}",
                config={"displaylogo": False, "responsive": True},
            )
        )


def _page(title: str, body: Iterable[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def _summary_rows(metrics: dict) -> list[str]:
    rows = [
        "<table><tr><th class='l'>split</th><th>h</th><th>IC</th><th>RankIC</th><th>RankIC IR</th>"
        "<th>t</th><th>hit</th><th>D10−D1</th><th>Kaggle JPX</th><th>LO Sharpe</th>"
        "<th>LO ann. ret</th><th>LO max DD</th><th>LS Sharpe</th><th>RankIC/oracle</th></tr>"
    ]
    for split, sd in metrics["splits"].items():
        for h, e in sd["horizons"].items():
            s = e["signal"]
            rows.append(
                f"<tr><td class='l'>{split}</td><td>{h}</td><td>{_fmt(s['ic_mean'])}</td>"
                f"<td>{_fmt(s['rank_ic_mean'])}</td><td>{_fmt(s['rank_icir'])}</td>"
                f"<td>{_fmt(s['rank_ic_t_stat'])}</td><td>{_fmt(s['hit_rate'], True)}</td>"
                f"<td>{_fmt(_get(s, 'deciles', 'top_bottom_spread'), True)}</td>"
                f"<td>{_fmt(_get(s, 'kaggle_jpx', 'score'))}</td>"
                f"<td>{_fmt(_get(e, 'portfolio', 'long_only', 'net', 'sharpe'))}</td>"
                f"<td>{_fmt(_get(e, 'portfolio', 'long_only', 'net', 'annual_return'), True)}</td>"
                f"<td>{_fmt(_get(e, 'portfolio', 'long_only', 'net', 'max_drawdown'), True)}</td>"
                f"<td>{_fmt(_get(e, 'portfolio', 'long_short', 'net', 'sharpe'))}</td>"
                f"<td>{_fmt(_get(e, 'vs_oracle', 'rank_ic_vs_oracle'))}</td></tr>"
            )
    rows.append("</table>")
    return rows


def _fold_rows(metrics: dict) -> list[str]:
    """A walk-forward run's per-fold table (test split: RankIC, RankIC IR and the long-short
    book's mean daily net return per fold and horizon); nothing for other runs."""
    folds = _get(metrics, "splits", "test", "folds")
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
            f"<td>{_fmt(_get(f, 'horizons', h, 'rank_ic_mean'))}</td>"
            f"<td>{_fmt(_get(f, 'horizons', h, 'rank_icir'))}</td>"
            f"<td>{_fmt(_get(f, 'horizons', h, 'ls_net_mean'), True)}</td>"
            for h in horizons
        )
        rows.append(
            f"<tr><td class='l'>{_fmt(f['fold'])}</td><td>{_fmt(f['first_date'])}</td>"
            f"<td>{_fmt(f['last_date'])}</td><td>{_fmt(f['n_dates'])}</td>{cells}</tr>"
        )
    rows.append("</table>")
    return rows


def _cumulative(daily: pl.DataFrame, column: str) -> list[float]:
    return (daily[column].fill_null(0.0) + 1.0).cum_prod().to_list()


def build_report(evaluation: Evaluation) -> str:
    """The HTML text of ``report.html``."""
    m = evaluation.metrics
    info = evaluation.info
    split = "test" if "test" in m["splits"] else next(iter(m["splits"]))
    h = info.horizons[0]
    hs = evaluation.series[(split, h)]
    figs = _Figures()

    if "long_only" in hs.backtests:
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
        fig.add_scatter(x=lo["Date"], y=_cumulative(lo, "benchmark_topix"), name="TOPIX")
        fig.add_scatter(x=lo["Date"], y=_cumulative(lo, "benchmark_ew"), name="equal-weight")
        figs.add(fig, f"Cumulative return ({split}, {h}d rebalance)")
        dd = risk.drawdown_series(lo["ret_net"].fill_null(0.0).to_numpy())[1:]
        fig = go.Figure(go.Scatter(x=lo["Date"], y=dd, fill="tozeroy", name="drawdown"))
        figs.add(fig, "Drawdown of the long-only portfolio (net)")

    ic = hs.daily_ic.sort("Date").with_columns(
        roll=pl.col("rank_ic").rolling_mean(ROLLING_IC_DAYS, min_samples=1)
    )
    fig = go.Figure()
    fig.add_bar(x=ic["Date"], y=ic["rank_ic"], name="daily RankIC")
    fig.add_scatter(x=ic["Date"], y=ic["roll"], name=f"{ROLLING_IC_DAYS}-day mean")
    figs.add(fig, f"Daily RankIC, pred_{h}d vs target_{h}d ({split})")

    dec = m["splits"][split]["horizons"][f"{h}d"]["signal"]["deciles"]["mean_return"]
    figs.add(
        go.Figure(go.Bar(x=[f"D{i + 1}" for i in range(len(dec))], y=dec)),
        f"Mean {h}d target by prediction decile ({split})",
    )

    decay = go.Figure()
    for ph, entry in m["splits"][split]["horizons"].items():
        decay.add_bar(
            x=list(entry["ic_decay"]), y=list(entry["ic_decay"].values()), name=f"pred_{ph}"
        )
    decay.update_layout(xaxis_title="target horizon", yaxis_title="mean RankIC", barmode="group")
    figs.add(decay, f"IC decay ({split})")

    if "long_only" in hs.backtests:
        monthly = risk.period_returns(hs.backtests["long_only"].daily, "ret_net", "month")
        years = sorted(set(monthly["year"].to_list()))
        grid = np.full((len(years), 12), np.nan)
        for row in monthly.iter_rows(named=True):
            grid[years.index(row["year"]), row["month"] - 1] = row["ret"]
        heat = go.Heatmap(
            z=grid, x=MONTHS, y=[str(y) for y in years], colorscale="RdYlGn", zmid=0.0
        )
        figs.add(go.Figure(heat), "Monthly net return, long-only (compounded)")
        sec = hs.backtests["long_only"].sector_contribution.sort("contribution")
        figs.add(
            go.Figure(go.Bar(x=sec["contribution"], y=sec["S33"], orientation="h")),
            "Sector (S33) contribution, long-only",
        )

    warnings = "".join(f"<p class='warn'>{html.escape(w)}</p>" for w in m.get("warnings", []))
    body = [
        f"<h1>Run {html.escape(info.run_id)}</h1>",
        f"<p>model <b>{html.escape(info.model)}</b>, dataset <b>{html.escape(info.dataset)}</b>, "
        f"horizons {info.horizons}, evaluated {html.escape(m['evaluated_at'])}, code "
        f"{html.escape(m['code_version'])}; top-K {m['config']['top_k']}, costs "
        f"{m['config']['cost_bps']} bps per side.</p>",
        warnings,
        "<h2>Summary</h2>",
        *_summary_rows(m),
        *_fold_rows(m),
        f"<h2>Charts ({split} split, {h}d)</h2>",
        *figs.parts,
    ]
    return _page(f"gogooku report {info.run_id}", body)


def write_report(evaluation: Evaluation, path: Path) -> Path:
    atomic_write_text(path, build_report(evaluation))
    return path
