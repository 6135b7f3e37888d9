"""``gogooku compare``: evaluated runs side by side, paired on their common days.

A run is compared through what ``gogooku evaluate`` wrote into its folder: ``metrics.json`` (the
metrics table, unchanged from the evaluator) and ``daily.parquet`` (the daily series the paired
statistics need; :mod:`gogooku.evaluate.evaluator` documents its columns).

**Alignment.** For each horizon of the chosen split, the common days are the intersection, over
the runs that have the horizon, of the days with a finite daily RankIC. Runs with no common day
are refused (:class:`CompareError` naming each run's first..last dates); a partial overlap is a
warning naming the common period and how many days each run loses. Every statistic below is
computed on the common days only, so two runs evaluated on different folds or periods are never
compared on different days.

**Per run** (on the common days of each horizon): RankIC mean, RankIC IR (mean/std, ddof 1, not
annualised), the long-short book's net Sharpe and the long-only book's annualised net excess
return over the run's benchmark (CAGR of lo_net − bench); the portfolio figures use the
common days on which the run's book has a return, annualised by the periods per year of the
common period (trading days of first..last per calendar year spanned, as the evaluator). Runs
whose split benchmarks differ (``metrics.json`` ``splits.<split>.benchmark``: TOPIX for one, the
imported universe for another) get a warning naming each run's.

**Pairs.** By default the first run is the reference A and every other run is a B; with
``all_pairs`` every pair (i < j in the order given, A = the earlier run) is compared. For each pair
and each horizon both runs have (:mod:`gogooku.evaluate.paired` states the formulas):
Δ RankIC = mean(ric_B − ric_A) with a paired circular block-bootstrap 95 % interval; the
Diebold–Mariano t-statistic of d = ric_B − ric_A with Newey–West standard errors and its
two-sided normal p-value; Δ Sharpe = Sharpe(ls_B) − Sharpe(ls_A) of the long-short net returns
with a paired block-bootstrap interval, on the common days where both books have a return.

Runs that are hold-out scores (``run.json`` ``params.holdout == true``, written by
``gogooku evaluate --final``) are marked "hold-out" in every table and in ``compare.html``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl
from rich.table import Table

from gogooku.errors import GogookuError
from gogooku.evaluate import bootstrap, paired, risk
from gogooku.evaluate.benchmark import benchmark_label
from gogooku.evaluate.evaluator import json_ready
from gogooku.evaluate.pages import Figures, fmt, get, page
from gogooku.evaluate.plotlyjs import plotly_src
from gogooku.io import atomic_write_text
from gogooku.runs import RunError, resolve_run_dir

HOLDOUT = "hold-out"
METRICS_FILE = "metrics.json"
DAILY_FILE = "daily.parquet"


class CompareError(GogookuError, ValueError):
    """Runs cannot be compared (no common day, no daily series, an unknown split)."""


# ---------------------------------------------------------------------------------------------
# Loading


@dataclass
class EvaluatedRun:
    """One evaluated run folder: its ``metrics.json`` and (when written) ``daily.parquet``."""

    run_dir: Path
    metrics: dict
    daily: pl.DataFrame | None

    @property
    def run_id(self) -> str:
        return self.metrics["run"]["run_id"]

    @property
    def holdout(self) -> bool:
        return is_holdout(self.metrics)


def is_holdout(metrics: dict) -> bool:
    """Whether the run is a hold-out score (its run.json's ``params.holdout`` is true)."""
    return get(metrics, "run", "params", "holdout") is True


def run_label(metrics: dict) -> str:
    """The run id, with " (hold-out)" for a hold-out score."""
    rid = metrics["run"]["run_id"]
    return f"{rid} ({HOLDOUT})" if is_holdout(metrics) else rid


def load_evaluated(runs: Iterable[str | Path]) -> list[dict]:
    """The ``metrics.json`` of each run (id or folder), in order; a run without one is a
    RunError naming the command that writes it."""
    return [r.metrics for r in load_runs(runs, daily=False)]


def load_runs(runs: Iterable[str | Path], daily: bool = True) -> list[EvaluatedRun]:
    """Each run's :class:`EvaluatedRun`, in order; ``daily`` also reads ``daily.parquet`` (a run
    evaluated before it existed is a RunError naming the command that writes it)."""
    loaded = []
    for run in runs:
        run_dir = resolve_run_dir(run)
        path = run_dir / METRICS_FILE
        if not path.is_file():
            raise RunError(f"{path} missing; run `gogooku evaluate --run {run}`")
        frame = None
        if daily:
            daily_path = run_dir / DAILY_FILE
            if not daily_path.is_file():
                raise RunError(
                    f"{daily_path} missing (evaluated before daily series were written); "
                    f"run `gogooku evaluate --run {run}` again"
                )
            frame = pl.read_parquet(daily_path)
        loaded.append(EvaluatedRun(run_dir, json.loads(path.read_text(encoding="utf-8")), frame))
    ids = [r.run_id for r in loaded]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise CompareError(f"run(s) {dup} given more than once")
    return loaded


# ---------------------------------------------------------------------------------------------
# Alignment and statistics


@dataclass
class HorizonComparison:
    """The runs of one horizon on their common days, their metrics and the paired rows."""

    horizon: int
    runs: list[str]
    first: dt.date
    last: dt.date
    n_days: int
    periods_per_year: float
    lost_days: dict[str, int]
    per_run: dict[str, dict[str, object]] = field(default_factory=dict)
    pairs: list[dict[str, object]] = field(default_factory=list)


@dataclass
class Comparison:
    """What ``gogooku compare`` prints and ``compare.html`` shows (see the module doc)."""

    split: str
    runs: list[str]
    holdout: list[str]
    all_pairs: bool
    replicates: int
    horizons: list[HorizonComparison]
    warnings: list[str]

    @property
    def first(self) -> dt.date:
        return min(h.first for h in self.horizons)

    @property
    def last(self) -> dt.date:
        return max(h.last for h in self.horizons)

    def period_lines(self) -> list[str]:
        """ "common test period: F..L (n days)", once when every horizon has the same days."""
        spans = {(h.first, h.last, h.n_days) for h in self.horizons}
        if len(spans) == 1:
            first, last, n = spans.pop()
            return [f"common {self.split} period: {first}..{last} ({n} days)"]
        return [
            f"common {self.split} period, {h.horizon}d: {h.first}..{h.last} ({h.n_days} days)"
            for h in self.horizons
        ]

    def to_json(self) -> dict[str, object]:
        """JSON-ready (dates ISO, floats finite or null)."""
        return json_ready(
            {
                "split": self.split,
                "runs": self.runs,
                "holdout": self.holdout,
                "reference": None if self.all_pairs else self.runs[0],
                "all_pairs": self.all_pairs,
                "bootstrap_replicates": self.replicates,
                "period": [self.first, self.last],
                "warnings": self.warnings,
                "horizons": [
                    {
                        "horizon": f"{h.horizon}d",
                        "runs": h.runs,
                        "period": [h.first, h.last],
                        "n_days": h.n_days,
                        "periods_per_year": h.periods_per_year,
                        "lost_days": h.lost_days,
                        "per_run": h.per_run,
                        "pairs": h.pairs,
                    }
                    for h in self.horizons
                ],
            }
        )


def _split_days(run: EvaluatedRun, split: str) -> pl.DataFrame:
    """``horizon, Date, rank_ic, ls_net, lo_net, bench`` of ``split`` with a finite RankIC."""
    assert run.daily is not None
    return run.daily.filter(
        (pl.col("split") == split) & pl.col("rank_ic").is_not_null() & pl.col("rank_ic").is_finite()
    ).drop("split")


def _span(days: pl.Series) -> str:
    return f"{days.min()}..{days.max()} ({days.len()} days)" if days.len() else "no days"


def periods_per_year(first: dt.date, last: dt.date) -> float:
    """The evaluator's annualisation of first..last: trading days per calendar year spanned, from
    the raw store's calendar (``$GOGOOKU_HOME/raw``; the XTKS calendar when it has none)."""
    from gogooku.calendar import TradingCalendar
    from gogooku.settings import get_settings
    from gogooku.store.raw import RawStore

    calendar = TradingCalendar.load(RawStore(get_settings().raw_dir), first, last)
    return risk.periods_per_year(calendar, first, last)


def _finite(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)]


def run_metrics(days: pl.DataFrame, ppy: float) -> dict[str, object]:
    """Per-run metrics on the common days ``days`` (``rank_ic, ls_net, lo_net, bench``)."""
    ric = days["rank_ic"].to_numpy().astype(np.float64)
    std = float(ric.std(ddof=1)) if ric.size > 1 else 0.0
    ls = _finite(days["ls_net"].to_numpy().astype(np.float64))
    excess = _finite((days["lo_net"] - days["bench"]).to_numpy().astype(np.float64))
    return {
        "n_days": int(ric.size),
        "rank_ic_mean": float(ric.mean()) if ric.size else None,
        "rank_icir": float(ric.mean()) / std if std > 0 else None,
        "ls_net_sharpe": risk.sharpe_ratio(ls, ppy),
        "ls_n_days": int(ls.size),
        "lo_excess_annual_return": risk.annual_return(excess, ppy),
        "lo_n_days": int(excess.size),
    }


def pair_metrics(
    a: pl.DataFrame, b: pl.DataFrame, horizon: int, ppy: float, replicates: int
) -> dict[str, object]:
    """Paired rows of A vs B on the same common days (frames sorted by Date, equal dates)."""
    ric_a = a["rank_ic"].to_numpy().astype(np.float64)
    ric_b = b["rank_ic"].to_numpy().astype(np.float64)
    dm = paired.diebold_mariano(ric_a, ric_b, horizon)
    ls_a = a["ls_net"].to_numpy().astype(np.float64)
    ls_b = b["ls_net"].to_numpy().astype(np.float64)
    both = np.isfinite(ls_a) & np.isfinite(ls_b)
    return {
        "n_days": int(ric_a.size),
        "rank_ic_diff": paired.mean_difference_ci(ric_a, ric_b, horizon, replicates),
        "dm_t": dm["t_stat"],
        "dm_p": dm["p_value"],
        "nw_lag": dm["lag"],
        "ls_sharpe_diff": paired.sharpe_difference_ci(
            ls_a[both], ls_b[both], ppy, horizon, replicates
        ),
    }


def _pairs(ids: list[str], all_pairs: bool) -> list[tuple[str, str]]:
    if all_pairs:
        return [(ids[i], ids[j]) for i in range(len(ids)) for j in range(i + 1, len(ids))]
    return [(ids[0], b) for b in ids[1:]]


def compare_runs(
    runs: list[EvaluatedRun],
    split: str,
    all_pairs: bool = False,
    replicates: int = bootstrap.DEFAULT_REPLICATES,
) -> Comparison:
    """Align ``runs`` on their common days of ``split`` per horizon and compute the per-run and
    paired statistics (module doc). Raises :class:`CompareError` on disjoint periods."""
    if not runs:
        raise CompareError("no runs to compare")
    ids = [r.run_id for r in runs]
    by_run = {r.run_id: _split_days(r, split) for r in runs}
    for rid, frame in by_run.items():
        if frame.height == 0:
            raise CompareError(f"run {rid} has no {split} days with a finite RankIC")
    horizons = sorted({h for f in by_run.values() for h in f["horizon"].unique().to_list()})
    out: list[HorizonComparison] = []
    warnings: list[str] = []
    for h in horizons:
        frames = {
            rid: f.filter(pl.col("horizon") == h).drop("horizon").sort("Date")
            for rid, f in by_run.items()
            if (f["horizon"] == h).any()
        }
        common = None
        for f in frames.values():
            days = set(f["Date"].to_list())
            common = days if common is None else common & days
        if not common:
            spans = "; ".join(f"{rid} {_span(f['Date'])}" for rid, f in frames.items())
            raise CompareError(
                f"runs share no {split} day with a finite {h}d RankIC (disjoint periods): {spans}"
            )
        common_s = pl.Series("Date", sorted(common), dtype=pl.Date)
        lost = {rid: f.height - len(common) for rid, f in frames.items()}
        first, last = common_s.min(), common_s.max()
        if any(lost.values()):
            spans = ", ".join(
                f"{rid} {_span(frames[rid]['Date'])} loses {k}" for rid, k in lost.items()
            )
            warnings.append(
                f"{split} {h}d: the runs overlap on {first}..{last} ({len(common)} common days) "
                f"only: {spans}"
            )
        aligned = {
            rid: f.filter(pl.col("Date").is_in(common_s.implode())) for rid, f in frames.items()
        }
        ppy = periods_per_year(first, last)
        hc = HorizonComparison(
            horizon=h,
            runs=list(frames),
            first=first,
            last=last,
            n_days=len(common),
            periods_per_year=ppy,
            lost_days=lost,
            per_run={rid: run_metrics(f, ppy) for rid, f in aligned.items()},
        )
        for a, b in _pairs(ids, all_pairs):
            if a in aligned and b in aligned:
                hc.pairs.append(
                    {"a": a, "b": b, **pair_metrics(aligned[a], aligned[b], h, ppy, replicates)}
                )
        out.append(hc)
    warnings += _benchmark_warnings(runs, split)
    holdout = [r.run_id for r in runs if r.holdout]
    return Comparison(split, ids, holdout, all_pairs, replicates, out, warnings)


def _benchmark_warnings(runs: list[EvaluatedRun], split: str) -> list[str]:
    """A warning when the runs' ``split`` benchmarks differ (their ``bench`` series, and so the
    long-only excess, then measure against different things); runs evaluated before benchmarks
    were recorded are left out."""
    named = {
        r.run_id: benchmark_label(entry)
        for r in runs
        if (entry := r.metrics.get("splits", {}).get(split, {}).get("benchmark"))
    }
    if len(set(named.values())) < 2:
        return []
    listed = ", ".join(f"{rid} {label}" for rid, label in named.items())
    return [f"{split}: the runs' long-only excess is over different benchmarks: {listed}"]


# ---------------------------------------------------------------------------------------------
# The evaluator's metrics side by side (each run over its own days)


COMPARE_FIELDS: list[tuple[str, tuple[str, ...], bool]] = [
    ("RankIC", ("signal", "rank_ic_mean"), False),
    ("RankIC IR", ("signal", "rank_icir"), False),
    ("IC", ("signal", "ic_mean"), False),
    ("hit rate", ("signal", "hit_rate"), True),
    ("D10−D1", ("signal", "deciles", "top_bottom_spread"), True),
    ("Kaggle JPX", ("signal", "kaggle_jpx", "score"), False),
    ("LO Sharpe", ("portfolio", "long_only", "net", "sharpe"), False),
    ("LO ann. return", ("portfolio", "long_only", "net", "annual_return"), True),
    ("LO max DD", ("portfolio", "long_only", "net", "max_drawdown"), True),
    ("LS Sharpe", ("portfolio", "long_short", "net", "sharpe"), False),
    ("RankIC / oracle", ("vs_oracle", "rank_ic_vs_oracle"), False),
]


def compare_rows(all_metrics: list[dict], split: str) -> list[tuple[str, str, list[object]]]:
    """(horizon, field, values per run) for every horizon any run has on ``split``."""
    horizons: list[str] = []
    for m in all_metrics:
        for h in get(m, "splits", split, "horizons") or {}:
            if h not in horizons:
                horizons.append(h)
    rows = []
    for h in sorted(horizons, key=lambda s: int(s[:-1])):
        for label, path, _ in COMPARE_FIELDS:
            rows.append(
                (h, label, [get(m, "splits", split, "horizons", h, *path) for m in all_metrics])
            )
    return rows


def compare_table(all_metrics: list[dict], split: str) -> Table:
    """The side-by-side table of ``compare_rows`` for the terminal (each run over its own
    days of ``split``, as its ``metrics.json``)."""
    table = Table(title=f"{split} split, metrics.json (each run over its own days)")
    table.add_column("horizon")
    table.add_column("metric")
    for m in all_metrics:
        table.add_column(run_label(m), justify="right")
    pct = {label: p for label, _, p in COMPARE_FIELDS}
    for h, label, values in compare_rows(all_metrics, split):
        table.add_row(h, label, *(fmt(v, pct[label]) for v in values))
    return table


# ---------------------------------------------------------------------------------------------
# Presentation of the comparison


def _ci(ci: dict | None, pct: bool = False) -> str:
    if not ci or ci.get("low") is None or ci.get("high") is None:
        return "–"
    return f"[{fmt(ci['low'], pct)}, {fmt(ci['high'], pct)}]"


def _p(value: object) -> str:
    if value is None:
        return "–"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


PER_RUN_COLUMNS = ["horizon", "run", "days", "RankIC", "RankIC IR", "LS Sharpe", "LO excess ann."]
PAIR_COLUMNS = [
    "horizon",
    "B − A",
    "days",
    "Δ RankIC",
    "95% CI",
    "DM t",
    "p",
    "Δ LS Sharpe",
    "95% CI",
]


def per_run_cells(comparison: Comparison) -> list[list[str]]:
    labels = {r: f"{r} ({HOLDOUT})" if r in comparison.holdout else r for r in comparison.runs}
    rows = []
    for hc in comparison.horizons:
        for rid, m in hc.per_run.items():
            rows.append(
                [
                    f"{hc.horizon}d",
                    labels[rid],
                    str(m["n_days"]),
                    fmt(m["rank_ic_mean"]),
                    fmt(m["rank_icir"]),
                    fmt(m["ls_net_sharpe"]),
                    fmt(m["lo_excess_annual_return"], True),
                ]
            )
    return rows


def pair_cells(comparison: Comparison) -> list[list[str]]:
    labels = {r: f"{r} ({HOLDOUT})" if r in comparison.holdout else r for r in comparison.runs}
    rows = []
    for hc in comparison.horizons:
        for p in hc.pairs:
            ric, sharpe = p["rank_ic_diff"], p["ls_sharpe_diff"]
            rows.append(
                [
                    f"{hc.horizon}d",
                    f"{labels[p['b']]} − {labels[p['a']]}",
                    str(p["n_days"]),
                    fmt(ric["estimate"]),
                    _ci(ric),
                    fmt(p["dm_t"]),
                    _p(p["dm_p"]),
                    fmt(sharpe["estimate"]),
                    _ci(sharpe),
                ]
            )
    return rows


def comparison_tables(comparison: Comparison) -> list[Table]:
    """The per-run and the paired Rich tables, titled with the common period."""
    period = f"{comparison.first}..{comparison.last}"
    per_run = Table(title=f"{comparison.split} split, common days {period}")
    pairs = Table(
        title=f"paired, B − A on the common days ({comparison.replicates} block-bootstrap "
        "replicates; DM t with Newey–West errors)"
    )
    for table, columns, cells in (
        (per_run, PER_RUN_COLUMNS, per_run_cells(comparison)),
        (pairs, PAIR_COLUMNS, pair_cells(comparison)),
    ):
        for i, col in enumerate(columns):
            table.add_column(col, justify="left" if i < 2 else "right")
        for row in cells:
            table.add_row(*row)
    return [per_run, pairs]


def _html_table(columns: list[str], rows: list[list[str]]) -> list[str]:
    """Cells are plain text (escaped); the first two columns are left-aligned."""

    def cell(tag: str, i: int, text: str) -> str:
        cls = " class='l'" if i < 2 else ""
        return f"<{tag}{cls}>{html.escape(text)}</{tag}>"

    out = ["<table><tr>" + "".join(cell("th", i, c) for i, c in enumerate(columns)) + "</tr>"]
    out += ["<tr>" + "".join(cell("td", i, c) for i, c in enumerate(r)) + "</tr>" for r in rows]
    out.append("</table>")
    return out


def write_compare(
    all_metrics: list[dict], split: str, path: Path, comparison: Comparison | None = None
) -> Path:
    """Write ``build_compare``'s page to ``path`` (atomically, creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, build_compare(all_metrics, split, comparison, plotly_src(path)))
    return path


def build_compare(
    all_metrics: list[dict],
    split: str,
    comparison: Comparison | None = None,
    plotlyjs: str | bool = True,
) -> str:
    """The HTML text of ``compare.html``: with a ``comparison``, its common period (also in the
    title), warnings, per-run and paired tables; then the metrics.json table of every run and a
    RankIC bar chart. ``plotlyjs``: the ``src`` of plotly.js (``write_compare`` passes the
    home's copy), or True to inline it."""
    pct = {label: p for label, _, p in COMPARE_FIELDS}
    head = "".join(f"<th>{html.escape(run_label(m))}</th>" for m in all_metrics)
    table = [f"<table><tr><th class='l'>horizon</th><th class='l'>metric</th>{head}</tr>"]
    for h, label, values in compare_rows(all_metrics, split):
        cells = "".join(f"<td>{fmt(v, pct[label])}</td>" for v in values)
        table.append(f"<tr><td class='l'>{h}</td><td class='l'>{label}</td>{cells}</tr>")
    table.append("</table>")
    fig = go.Figure()
    for m in all_metrics:
        hz = get(m, "splits", split, "horizons") or {}
        fig.add_bar(
            x=list(hz),
            y=[e["signal"]["rank_ic_mean"] for e in hz.values()],
            name=run_label(m),
        )
    fig.update_layout(barmode="group", xaxis_title="horizon", yaxis_title="mean RankIC")
    figures = Figures(plotlyjs)
    figures.add(fig, f"Mean RankIC by horizon ({split}, each run over its own days)")
    chart = figures.parts[0]
    title = f"Run comparison ({split} split)"
    body: list[str] = []
    if comparison is not None:
        title = (
            f"Run comparison ({split} split, common period {comparison.first}..{comparison.last})"
        )
        body += [f"<p>{html.escape(line)}</p>" for line in comparison.period_lines()]
        body += [f"<p class='warn'>{html.escape(w)}</p>" for w in comparison.warnings]
        body += ["<h2>On the common days</h2>"]
        body += _html_table(PER_RUN_COLUMNS, per_run_cells(comparison))
        body += [
            "<h2>Paired: B − A</h2>",
            f"<p>95 % intervals from a paired circular block bootstrap "
            f"({comparison.replicates} replicates); DM t = Diebold–Mariano statistic of the "
            "daily RankIC difference with Newey–West errors, p two-sided (normal).</p>",
        ]
        body += _html_table(PAIR_COLUMNS, pair_cells(comparison))
        body += ["<h2>metrics.json (each run over its own days)</h2>"]
    body = [f"<h1>{html.escape(title)}</h1>", *body, *table, chart]
    return page(f"gogooku compare: {title}", body)
