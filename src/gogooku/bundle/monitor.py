"""Live monitoring (``gogooku monitor``; also the last step of ``gogooku update``).

For every model version with stored predictions (``predictions.sqlite``) — or those of one
bundle name — and every stored prediction day not monitored yet (``days``: the last N stored
days, recomputed):

- **Matured days** (``live_scores``): a day d is scored once its label has matured, i.e. the
  exit session of the bundle's main-horizon label — session d + 1 + h, the label convention of
  ``gogooku.dataset.labels`` (bought at the close of d + 1, valued at the close of d + 1 + h) —
  is in the raw store. The realised return is that label, of the bundle's label kind (the run's
  ``[target] label``: raw, excess or sector), computed by ``compute_labels`` on a base frame
  ``build_base`` makes from the raw store's prices up to its last daily bar: a label reads no
  price after its exit session, and a day whose exit session is not stored yet is left for a
  later run. Per day: RankIC and top-K spread (``gogooku.bundle.livestats``; K = ``top_k``,
  default 50, the service's ``default_top_k``), then the version's trailing 20/60-day means
  (``gogooku.bundle.livestore``).
- **Drift** (``drift``, every stored day, matured or not): PSI of each raw input feature's values
  (the dataset's panel, over a window sized to hold about 200 distinct values) against the
  training-period deciles of the bundle's reference, and PSI of the day's stored scores against
  the validation-period scores (``gogooku.bundle.drift``, ``gogooku.bundle.reference``); null
  PSI where there is no reference.

Afterwards the monitor page ``$GOGOOKU_HOME/monitor/NAME/report.html`` of each name is rewritten
(``gogooku.bundle.monitor_report``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from gogooku.bundle.drift import feature_drift, prediction_drift
from gogooku.bundle.livestats import rank_ic, topk_spread
from gogooku.bundle.livestore import LiveStore
from gogooku.bundle.livesummary import role_of, summary
from gogooku.bundle.monitor_report import write_report
from gogooku.bundle.reference import load_reference, reference_source
from gogooku.bundle.store import BundleInfo, load_info, resolve, versions
from gogooku.calendar import TradingCalendar
from gogooku.dataset.base import build_base
from gogooku.dataset.build import dataset_dir
from gogooku.dataset.labels import compute_labels
from gogooku.runs import CONFIG_FILE
from gogooku.settings import get_settings
from gogooku.store.raw import RawStore
from gogooku.target import label_column
from gogooku.train.config import load_run_config

DEFAULT_TOP_K = 50
DRIFT_BATCH = 60
BARS = "equities_bars_daily"


@dataclass(frozen=True)
class VersionSummary:
    """What one monitor run did for model@version and where the version stands."""

    model: str
    version: str
    role: str | None
    predicted: int
    matured: int
    scored_now: int
    drift_now: int
    reference: str
    last: dict


@dataclass
class _Version:
    model: str
    version: str
    path: Path
    info: BundleInfo
    label: str
    predicted: list[dt.date]
    todo_live: list[dt.date]
    todo_drift: list[dt.date]


def realised_labels(start: dt.date) -> tuple[pl.DataFrame, list[dt.date]]:
    """(``Code, Date`` + every label column from ``start`` to the raw store's last daily bar,
    the sessions of that base frame in order)."""
    store = RawStore(get_settings().raw_dir)
    last = store.scan(BARS).select(pl.col("Date").max()).collect().item()
    calendar = TradingCalendar.load(store, start - dt.timedelta(days=10), last)
    base = build_base(store, calendar, start, last)
    sessions = base["Date"].unique().sort().to_list()
    return compute_labels(base).collect(), sessions


def _plan(model: str, version: str, live: LiveStore, days: int | None) -> _Version:
    path = resolve(model, version)
    info = load_info(path)
    label = load_run_config(path / CONFIG_FILE).target.label
    predicted = live.predicted_dates(model, version)
    chosen = predicted[-days:] if days else predicted
    done_live = set() if days else live.live_dates(model, version)
    done_drift = set() if days else live.drift_dates(model, version)
    return _Version(
        model,
        version,
        path,
        info,
        label_column(info.main_horizon, label),
        predicted,
        [d for d in chosen if d not in done_live],
        [d for d in chosen if d not in done_drift],
    )


def score_matured(
    v: _Version, labels: pl.DataFrame, sessions: list[dt.date], live: LiveStore, top_k: int
) -> int:
    """Score v's matured days to do (module doc); the number scored."""
    index = {d: i for i, d in enumerate(sessions)}
    h = v.info.main_horizon
    exits = {
        d: sessions[index[d] + 1 + h]
        for d in v.todo_live
        if d in index and index[d] + 1 + h < len(sessions)
    }
    if not exits:
        return 0
    frame = live.scores(v.model, v.version, sorted(exits)).join(
        labels.select("Date", "Code", pl.col(v.label).alias("ret")),
        on=["Date", "Code"],
        how="left",
    )
    rows = []
    for (day,), g in frame.sort("Date", "Code").group_by("Date", maintain_order=True):
        s, r = g["score"].to_numpy(), g["ret"].fill_null(np.nan).to_numpy()
        rows.append(
            {
                "date": day,
                "horizon": h,
                "label": v.label,
                "exit_date": exits[day],
                "n": int(np.isfinite(r).sum()),
                "k": top_k,
                "rankic": rank_ic(s, r),
                "spread": topk_spread(s, r, top_k),
            }
        )
    live.write_live(v.model, v.version, rows)
    return len(rows)


def measure_drift(v: _Version, live: LiveStore) -> int:
    """Feature and prediction PSI of v's drift days to do (``gogooku.bundle.drift``), in
    batches of ``DRIFT_BATCH`` days (a first run over a long backlog reads the panel a batch at
    a time); each batch is written in one transaction."""
    if not v.todo_drift:
        return 0
    reference = load_reference(v.path, v.info)
    panel = dataset_dir(v.info.dataset) / "panel.parquet"
    for i in range(0, len(v.todo_drift), DRIFT_BATCH):
        days = v.todo_drift[i : i + DRIFT_BATCH]
        features = feature_drift(panel, list(v.info.features), reference, days)
        scores = live.scores(v.model, v.version, days)
        predictions = prediction_drift(reference, scores, days)
        live.write_drift(v.model, v.version, {d: [*features[d], predictions[d]] for d in days})
    return len(v.todo_drift)


def monitor(
    name: str | None = None,
    days: int | None = None,
    top_k: int = DEFAULT_TOP_K,
    live: LiveStore | None = None,
    report: bool = True,
) -> list[VersionSummary]:
    """Monitor the stored predictions of ``name`` (default: every model) — see module doc."""
    live = live or LiveStore()
    pairs = [
        (m, ver) for m, ver in live.predicted_versions(name) if ver in versions(m)
    ]  # versions whose bundle folder was removed are not monitored
    plans = [_plan(m, ver, live, days) for m, ver in pairs]
    starts = [min(p.todo_live) for p in plans if p.todo_live]
    labels, sessions = realised_labels(min(starts)) if starts else (None, [])
    out = []
    for p in plans:
        scored = score_matured(p, labels, sessions, live, top_k) if labels is not None else 0
        drifted = measure_drift(p, live)
        series = live.live_series(p.model, p.version)
        out.append(
            VersionSummary(
                p.model,
                p.version,
                role_of(p.model, p.version),
                len(p.predicted),
                series.height,
                scored,
                drifted,
                reference_source(p.path, p.info),
                summary(live, p.model, p.version, series),
            )
        )
    if report:
        for model in sorted({s.model for s in out}):
            write_report(model, live)
    return out
