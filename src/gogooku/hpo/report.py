"""End-of-search outputs: a Rich table, ``summary.json``, ``report.html``, ``best_config.toml``.

- ``summary.json``: the study (name, storage with any password masked, direction, objective,
  counts per state), the best trial (number, value, params, folder) and every trial (number,
  state, value, params, seconds, error of a failed trial). All trials of the study, including
  other workers' ones.
- ``report.html``: Optuna's Plotly figures — optimisation history, parallel coordinates (with at
  least one complete trial) and fANOVA parameter importances (with at least two) — in one page.
  plotly.js is referenced by a relative path to the home's one copy
  (``gogooku.evaluate.plotlyjs``; next to the page when the study folder is outside the home),
  so the page works offline.
- ``best_config.toml``: the base config with the best trial's values and the same epoch cap the
  trials ran with, a plain run config for ``gogooku train --config``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math

import optuna
import optuna.visualization as vis
from rich.console import Console
from rich.table import Table

from gogooku.config import dump_config
from gogooku.evaluate.plotlyjs import plotly_src
from gogooku.hpo.objective import SearchJob, trial_dir
from gogooku.hpo.study import masked_storage
from gogooku.io import atomic_write_text

SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"
BEST_CONFIG_FILE = "best_config.toml"
State = optuna.trial.TrialState


def _value(trial: optuna.trial.FrozenTrial) -> float | None:
    v = trial.value if trial.state == State.COMPLETE else None
    return v if v is not None and math.isfinite(v) else None


def _seconds(trial: optuna.trial.FrozenTrial) -> float | None:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    done = [t for t in study.get_trials(deepcopy=False) if _value(t) is not None]
    return max(done, key=lambda t: (_value(t), -t.number)) if done else None


def build_summary(study: optuna.Study, job: SearchJob, storage: str) -> dict:
    trials = study.get_trials(deepcopy=False)
    best = best_trial(study)
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in State}
    return {
        "study": study.study_name,
        "storage": masked_storage(storage),
        "direction": "maximize",
        "model": job.kind,
        "dataset": job.dataset,
        "objective": job.objective,
        "folds": list(job.folds),
        "written_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "counts": counts,
        "best": None
        if best is None
        else {
            "number": best.number,
            "value": best.value,
            "params": best.params,
            "trial_dir": str(trial_dir(job.output_dir, best.number)),
        },
        "trials": [
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "value": _value(t),
                "params": t.params,
                "seconds": _seconds(t),
                "error": t.user_attrs.get("error"),
            }
            for t in trials
        ],
    }


def _figures(
    study: optuna.Study, n_complete: int, plotlyjs: str | bool = True
) -> list[tuple[str, str]]:
    figs = []
    if n_complete >= 1:
        figs.append(("Optimisation history", vis.plot_optimization_history(study)))
        figs.append(("Parallel coordinates", vis.plot_parallel_coordinate(study)))
    if n_complete >= 2:
        try:
            figs.append(("Parameter importances", vis.plot_param_importances(study)))
        except (RuntimeError, ValueError) as exc:
            figs.append(("Parameter importances", f"not available: {exc}"))
    parts = []
    inlined = False
    for i, (title, fig) in enumerate(figs):
        if isinstance(fig, str):
            parts.append((title, f"<p>{html.escape(fig)}</p>"))
            continue
        div = fig.to_html(
            full_html=False, include_plotlyjs=False if inlined else plotlyjs, div_id=f"plot-{i}"
        )
        parts.append((title, div))
        inlined = True
    return parts


def build_report(study: optuna.Study, summary: dict, plotlyjs: str | bool = True) -> str:
    """The HTML text of the study's report; ``plotlyjs`` is the ``src`` of plotly.js
    (``gogooku.evaluate.plotlyjs.plotly_src``) or True to inline it."""
    n_complete = summary["counts"].get("complete", 0)
    best = summary["best"]
    head = (
        f"<p>study <b>{html.escape(summary['study'])}</b> · {html.escape(summary['model'])} on "
        f"{html.escape(summary['dataset'])} · objective: mean validation "
        f"{html.escape(summary['objective'])} over folds {summary['folds']} · "
        + ", ".join(f"{k}: {v}" for k, v in summary["counts"].items() if v)
        + "</p>"
    )
    best_html = (
        "<p>no complete trial yet</p>"
        if best is None
        else f"<p>best trial {best['number']}: {best['value']:+.5f} · "
        f"{html.escape(json.dumps(best['params']))}</p>"
    )
    body = [f"<h2>{html.escape(t)}</h2>{p}" for t, p in _figures(study, n_complete, plotlyjs)]
    title = f"gogooku hpo: {summary['study']}"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body style='font-family:sans-serif'>"
        f"<h1>{html.escape(title)}</h1>{head}{best_html}{''.join(body)}</body></html>\n"
    )


def print_summary(summary: dict, console: Console | None = None) -> None:
    table = Table(title=f"study {summary['study']} ({summary['objective']}, maximize)")
    for col in ("trial", "state", "value", "seconds", "params / error"):
        table.add_column(col, justify="right" if col in ("trial", "value", "seconds") else "left")
    best = summary["best"]["number"] if summary["best"] else None
    for t in summary["trials"]:
        value = "" if t["value"] is None else f"{t['value']:+.5f}"
        seconds = "" if t["seconds"] is None else f"{t['seconds']:.1f}"
        detail = t["error"] or ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["params"].items()
        )
        style = "bold green" if t["number"] == best else None
        table.add_row(str(t["number"]), t["state"], value, seconds, detail, style=style)
    (console or Console()).print(table)


def write_outputs(study: optuna.Study, job: SearchJob, storage: str) -> dict:
    """Write summary.json, report.html and (with a complete trial) best_config.toml."""
    summary = build_summary(study, job, storage)
    out = job.output_dir
    atomic_write_text(out / SUMMARY_FILE, json.dumps(summary, indent=2, allow_nan=False) + "\n")
    report = out / REPORT_FILE
    atomic_write_text(report, build_report(study, summary, plotly_src(report)))
    if summary["best"] is not None:
        cfg = job.trial_config(summary["best"]["params"])
        train = cfg.train.model_copy(update={"progress": job.base.train.progress})
        dump_config(cfg.model_copy(update={"train": train}), out / BEST_CONFIG_FILE)
    return summary
