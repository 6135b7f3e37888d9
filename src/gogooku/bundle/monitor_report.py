"""The monitor page ``$GOGOOKU_HOME/monitor/NAME/report.html``: per version of NAME with stored
predictions, its role, matured days and latest live figures, a Plotly chart of the daily RankIC
and its trailing 20-day mean per version, the top-K spread's trailing 20-day mean, and the
latest day's largest feature PSIs. plotly.js is the home's one copy
(``gogooku.evaluate.plotlyjs``)."""

from __future__ import annotations

import html
from pathlib import Path

import plotly.graph_objects as go

from gogooku.bundle.livestore import LiveStore
from gogooku.bundle.livesummary import role_of, summary
from gogooku.evaluate.pages import Figures, fmt, page
from gogooku.evaluate.plotlyjs import plotly_src
from gogooku.io import atomic_write_text
from gogooku.settings import get_settings

REPORT_FILE = "report.html"
TOP_FEATURES = 10


def report_path(model: str) -> Path:
    return get_settings().home / "monitor" / model / REPORT_FILE


def build_page(model: str, live: LiveStore, plotlyjs: str | bool = True) -> str:
    """The monitor page of ``model`` (module doc)."""
    pairs = [v for m, v in live.predicted_versions(model) if m == model]
    figs = Figures(plotlyjs)
    rankic, spread = go.Figure(), go.Figure()
    rows, drift_parts = [], []
    for version in pairs:
        series = live.live_series(model, version)
        s = summary(live, model, version, series)
        role = role_of(model, version) or ""
        rows.append(
            "<tr>"
            + "".join(
                f"<td class='l'>{html.escape(str(x))}</td>" for x in (version, role, s["date"])
            )
            + "".join(
                f"<td>{fmt(s[k])}</td>"
                for k in (
                    "matured_days",
                    "rankic_1d",
                    "rankic_20d",
                    "rankic_60d",
                    "spread_20d",
                    "psi_max",
                    "prediction_psi",
                )
            )
            + "</tr>"
        )
        if series.height:
            dates = series["date"].to_list()
            rankic.add_scatter(x=dates, y=series["rankic"].to_list(), mode="markers",
                               name=f"{version} daily", opacity=0.35)  # fmt: skip
            rankic.add_scatter(x=dates, y=series["rankic_20d"].to_list(), name=f"{version} 20d")
            spread.add_scatter(x=dates, y=series["spread_20d"].to_list(), name=f"{version} 20d")
        top = list(s["psi_top"].items())[:TOP_FEATURES]
        if top:
            cells = "".join(
                f"<tr><td class='l'>{html.escape(n)}</td><td>{fmt(p)}</td></tr>" for n, p in top
            )
            drift_parts.append(
                f"<h3>{html.escape(version)}: largest feature PSI on {s['drift_date']}</h3>"
                f"<table><tr><th class='l'>feature</th><th>PSI</th></tr>{cells}</table>"
            )
    head = (
        "<tr><th class='l'>version</th><th class='l'>role</th><th class='l'>last matured</th>"
        "<th>matured days</th><th>RankIC 1d</th><th>RankIC 20d</th><th>RankIC 60d</th>"
        "<th>top-K spread 20d</th><th>max feature PSI</th><th>prediction PSI</th></tr>"
    )
    if rankic.data:
        rankic.update_layout(xaxis_title="prediction date", yaxis_title="RankIC")
        figs.add(rankic, "Live RankIC per version (daily and trailing 20-day mean)")
        spread.update_layout(xaxis_title="prediction date", yaxis_title="return")
        figs.add(spread, "Top-K spread, trailing 20-day mean")
    body = [
        f"<h1>gogooku monitor: {html.escape(model)}</h1>",
        "<p class='note'>Matured days only: a prediction of date d is scored once the close of "
        "session d + 1 + h is stored. PSI: &lt; 0.1 stable, 0.1–0.25 moderate, &gt; 0.25 "
        "large; stock- and sector-level features only (market-level ones are in the drift "
        "table, kind 'market').</p>",
        f"<table>{head}{''.join(rows)}</table>",
        *figs.parts,
        *drift_parts,
    ]
    return page(f"gogooku monitor {model}", body)


def write_report(model: str, live: LiveStore | None = None) -> Path:
    """Write the monitor page of ``model`` atomically; its path."""
    path = report_path(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, build_page(model, live or LiveStore(), plotly_src(path)))
    return path
