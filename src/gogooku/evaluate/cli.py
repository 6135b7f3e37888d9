"""``gogooku evaluate`` and ``gogooku compare``.

Reference factors (reversal, momentum, the synthetic oracle) are runs like any model's:
``gogooku train --model factor`` (``gogooku.models.factor``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gogooku.calendar import CalendarError
from gogooku.evaluate.evaluator import EvaluationError, evaluate_run, run_settings
from gogooku.evaluate.report import COMPARE_FIELDS, _fmt, build_compare, compare_rows
from gogooku.io import atomic_write_text
from gogooku.runs import RunError, resolve_run_dir
from gogooku.settings import get_settings


def evaluate_command(
    run: str = typer.Option(..., "--run", help="Run id (under $GOGOOKU_HOME/runs) or run folder."),
    top_k: int | None = typer.Option(
        None, "--top-k", min=1, help="Names per portfolio leg (default: the run's [evaluate])."
    ),
    cost_bps: float | None = typer.Option(
        None, "--cost-bps", min=0.0, help="Costs in bps per side (default: the run's [evaluate])."
    ),
    replicates: int | None = typer.Option(
        None, "--bootstrap", min=10, help="Bootstrap replicates (default: the run's [evaluate])."
    ),
) -> None:
    """Evaluate a run: write runs/RUN/metrics.json and runs/RUN/report.html."""
    try:
        run_dir = resolve_run_dir(run)
        saved, _ = run_settings(run_dir)
        given = {"top_k": top_k, "cost_bps": cost_bps, "bootstrap": replicates}
        config = saved.model_copy(update={k: v for k, v in given.items() if v is not None})
        ev = evaluate_run(run_dir, config)
    except (RunError, EvaluationError, CalendarError) as exc:
        typer.echo(f"evaluate failed: {exc}", err=True)
        raise typer.Exit(code=1) from None
    for split, sd in ev.metrics["splits"].items():
        for h, e in sd["horizons"].items():
            s = e["signal"]
            lo = e.get("portfolio", {}).get("long_only", {}).get("net", {}).get("sharpe")
            typer.echo(
                f"{split:5s} {h:>3s}: RankIC {_fmt(s['rank_ic_mean'])}  IR {_fmt(s['rank_icir'])}"
                f"  long-only Sharpe {_fmt(lo)}"
            )
    typer.echo(f"wrote {ev.run_dir / 'metrics.json'} and {ev.run_dir / 'report.html'}")


def compare_command(
    runs: Annotated[list[str], typer.Argument(help="Run ids or folders (each evaluated).")],
    split: str = typer.Option("test", "--split", help="Split to compare."),
    out: Annotated[
        Path | None,
        typer.Option("--out", help="compare.html path (default $GOGOOKU_HOME/runs/compare.html)."),
    ] = None,
) -> None:
    """Print a side-by-side table of evaluated runs and write compare.html."""
    loaded = []
    for r in runs:
        try:
            path = resolve_run_dir(r) / "metrics.json"
        except RunError as exc:
            typer.echo(f"compare failed: {exc}", err=True)
            raise typer.Exit(code=1) from None
        if not path.is_file():
            typer.echo(
                f"compare failed: {path} missing; run `gogooku evaluate --run {r}`", err=True
            )
            raise typer.Exit(code=1)
        loaded.append(json.loads(path.read_text(encoding="utf-8")))
    table = Table(title=f"{split} split")
    table.add_column("horizon")
    table.add_column("metric")
    for m in loaded:
        table.add_column(m["run"]["run_id"], justify="right")
    pct = {label: p for label, _, p in COMPARE_FIELDS}
    for h, label, values in compare_rows(loaded, split):
        table.add_row(h, label, *(_fmt(v, pct[label]) for v in values))
    Console().print(table)
    target = out or get_settings().runs_dir / "compare.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, build_compare(loaded, split))
    typer.echo(f"wrote {target}")
