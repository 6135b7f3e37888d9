"""report.html reads top-down (headline, charts, details), flags spans under a year, charts
only the horizons a run predicts and references one plotly.js per home.

Evaluations are built directly from small series (the evaluator's own ``signal_metrics`` and
``portfolio_metrics`` on a random cross-section and hand-made backtest days): no training."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gogooku.evaluate import backtest as bt
from gogooku.evaluate import risk
from gogooku.evaluate.evaluation import Evaluation, HorizonSeries
from gogooku.evaluate.evaluator import portfolio_metrics, signal_metrics
from gogooku.evaluate.plotlyjs import ASSETS_DIR, asset_name
from gogooku.evaluate.report import build_report, write_report
from gogooku.runs import Ranges, RunInfo

from .conftest import trading_days

N_CODES = 30


def _backtest(dates: list[dt.date], rng: np.random.Generator, scale: float) -> bt.BacktestResult:
    n = len(dates)
    topix = rng.normal(0.0003, 0.01, n)
    net = scale * topix + rng.normal(0.0004, 0.004, n)
    daily = pl.DataFrame(
        {
            "Date": dates,
            "ret_gross": net + 0.0001,
            "ret_net": net,
            "benchmark": topix,
            "benchmark_ew": topix + rng.normal(0, 0.002, n),
            "turnover": np.where(np.arange(n) % 5 == 0, 0.4, 0.0),
            "cost": np.where(np.arange(n) % 5 == 0, 0.0001, 0.0),
            "n_long": np.full(n, 5),
            "n_short": np.full(n, 5 if scale == 0 else 0),
        }
    )
    sectors = pl.DataFrame({"S33": ["0050", "3050"], "contribution": [0.01, -0.002]})
    return bt.BacktestResult(daily=daily, positions=pl.DataFrame(), sector_contribution=sectors)


def make_evaluation(tmp_path: Path, n_days: int, horizons: tuple[int, ...] = (5,)) -> Evaluation:
    """A one-split (test) evaluation of ``n_days`` days for ``horizons``."""
    rng = np.random.default_rng(n_days)
    dates = trading_days(n_days)
    pred = rng.normal(size=(n_days, N_CODES))
    frame = pl.DataFrame(
        {
            "Date": [d for d in dates for _ in range(N_CODES)],
            "Code": [f"{1000 + j}0" for _ in dates for j in range(N_CODES)],
            **{f"pred_{h}d": pred.ravel() for h in horizons},
            **{
                f"target_{h}d": (0.01 * pred + rng.normal(0, 0.03, pred.shape)).ravel()
                for h in (1, 5, 10, 20)
            },
        }
    )
    universe = frame.select("Date", "Code")
    entries, series = {}, {}
    for h in horizons:
        sig, daily, deciles, turnover = signal_metrics(
            frame, f"pred_{h}d", f"target_{h}d", h, 5, universe, replicates=50
        )
        backtests = {
            "long_only": _backtest(dates, rng, 1.0),
            "long_short": _backtest(dates, rng, 0.0),
        }
        entries[f"{h}d"] = {
            "signal": sig,
            "ic_decay": {f"{t}d": 0.01 * t for t in (1, 5, 10, 20)},
            "portfolio": {
                s: portfolio_metrics(r, 245.0, h, replicates=50) for s, r in backtests.items()
            },
        }
        series[("test", h)] = HorizonSeries(
            daily_ic=daily, quantiles=deciles, turnover=turnover, backtests=backtests
        )
    sd = {
        "first_date": dates[0],
        "last_date": dates[-1],
        "n_dates": n_days,
        "span_days": n_days,
        "short_span": risk.is_short_span(n_days),
        "horizons": entries,
        "benchmark": {"name": "topix", "weighting": "index", "reason": None},
    }
    metrics = {
        "evaluated_at": "2024-01-01T00:00:00+00:00",
        "code_version": "test",
        "config": {"top_k": 5, "cost_bps": 10.0},
        "main_horizon": 5,
        "warnings": [],
        "splits": {"test": sd},
    }
    day = dt.date(2023, 1, 1)
    info = RunInfo(
        run_id=f"r{n_days}",
        model="lgbm",
        dataset="t1",
        horizons=list(horizons),
        created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        code_version="test",
        ranges=Ranges(train=(day, day), valid=(day, day), test=(dates[0], dates[-1])),
    )
    return Evaluation(run_dir=tmp_path, info=info, metrics=metrics, series=series)


def _positions(text: str, markers: list[str]) -> list[int]:
    found = [text.find(m) for m in markers]
    assert all(p >= 0 for p in found), [m for m, p in zip(markers, found, strict=True) if p < 0]
    return found


def test_report_reads_top_down(tmp_path):
    text = build_report(make_evaluation(tmp_path, 60), plotlyjs="plotly.min.js")
    order = [
        "id='headline'",
        "RankIC mean (daily)",
        "ICIR (daily RankIC mean / std)",
        "Long-short net mean daily return",
        "Excess over TOPIX",
        "Beta to TOPIX",
        "Turnover, long-short book",
        "Period",
        "id='charts'",
        'id="ic-distribution"',
        'id="ic-over-time"',
        'id="turnover-over-time"',
        'id="quantile-cumulative"',
        'id="drawdown"',
        "id='details'",
        "id='summary-table'",
        "id='long-only'",
        'id="monthly"',
        'id="sector-contribution"',
        'id="ic-decay"',
    ]
    pos = _positions(text, order)
    assert pos == sorted(pos)
    # the long-only Sharpe is below the charts, with its one-line caveat
    assert "mostly market exposure" in text
    # the headline's period: first..last date and the number of days
    dates = trading_days(60)
    assert f"{dates[0]} .. {dates[-1]} (60 trading days)" in text
    # plotly.js is referenced, not inlined
    assert 'src="plotly.min.js"' in text and len(text) < 1_000_000


def test_short_span_is_flagged_not_silently_annualised(tmp_path):
    ev = make_evaluation(tmp_path, 20)
    assert ev.metrics["splits"]["test"]["short_span"] is True
    text = build_report(ev, plotlyjs="plotly.min.js")
    assert "annualised from 20 days" in text
    headline = text[text.find("id='headline'") : text.find("id='charts'")]
    assert "Long-short net Sharpe (annualised)" in headline
    assert "n/a: 20 days &lt; 1 year" in headline or "n/a: 20 days < 1 year" in headline
    assert "Long-short net daily Sharpe" in headline


def test_a_year_or_more_is_annualised_without_flag(tmp_path):
    ev = make_evaluation(tmp_path, 260)
    assert ev.metrics["splits"]["test"]["short_span"] is False
    text = build_report(ev, plotlyjs="plotly.min.js")
    assert "annualised from" not in text and "⚑" not in text
    headline = text[text.find("id='headline'") : text.find("id='charts'")]
    ls = ev.metrics["splits"]["test"]["horizons"]["5d"]["portfolio"]["long_short"]
    assert f"{ls['net']['sharpe']:.4f}" in headline
    assert f"[{ls['sharpe_ci']['low']:.4f}, {ls['sharpe_ci']['high']:.4f}]" in headline


def test_headline_intervals_come_from_metrics(tmp_path):
    ev = make_evaluation(tmp_path, 60)
    sig = ev.metrics["splits"]["test"]["horizons"]["5d"]["signal"]
    ci = sig["rank_icir_ci"]
    assert ci["low"] <= ci["estimate"] <= ci["high"]
    assert ci["estimate"] == pytest.approx(sig["rank_icir"])
    text = build_report(ev, plotlyjs="plotly.min.js")
    assert f"[{ci['low']:.4f}, {ci['high']:.4f}]" in text


def test_untrained_horizons_are_not_charted(tmp_path):
    text = build_report(make_evaluation(tmp_path, 30, (5,)), plotlyjs="plotly.min.js")
    assert "pred_5d" in text
    for h in (1, 10, 20):
        assert f"pred_{h}d" not in text
    both = build_report(make_evaluation(tmp_path, 30, (1, 5)), plotlyjs="plotly.min.js")
    assert "pred_1d" in both and "pred_5d" in both


def _script_src(path: Path) -> Path:
    srcs = re.findall(r'<script charset="utf-8" src="([^"]+)"', path.read_text())
    assert len(srcs) == 1, srcs
    return (path.parent / srcs[0]).resolve()


def test_one_plotly_asset_per_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("GOGOOKU_HOME", str(home))
    pages = [home / "runs" / "a" / "report.html", home / "runs" / "b" / "report.html"]
    for i, page in enumerate(pages):
        write_report(make_evaluation(tmp_path, 30 + i), page)
    assets = list((home / ASSETS_DIR).iterdir())
    assert [a.name for a in assets] == [asset_name()]
    for page in pages:
        assert page.stat().st_size < 1_000_000
        assert _script_src(page) == assets[0].resolve()
    # a page outside the home gets its own sibling copy, written once
    outside = tmp_path / "elsewhere" / "x.html"
    write_report(make_evaluation(tmp_path, 30), outside)
    assert _script_src(outside) == (outside.parent / asset_name()).resolve()
    assert _script_src(outside).stat().st_size > 1_000_000
    assert list((home / ASSETS_DIR).iterdir()) == assets
