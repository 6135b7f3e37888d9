"""``gogooku evaluate`` and ``gogooku compare``.

Reference factors (reversal, momentum, the synthetic oracle) are runs like any model's:
``gogooku train --model factor`` (``gogooku.models.factor``).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer

_JSON_HELP = "Print JSON instead of a table."


def _finite(value: object) -> object:
    """``value`` with NaN and infinities as None (JSON has neither)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def evaluate_and_print(
    run: str, top_k: int | None, cost_bps: float | None, replicates: int | None, as_json: bool
) -> None:
    """Evaluate a run (``gogooku evaluate`` without ``--final``; None: the run's [evaluate]):
    write runs/RUN/metrics.json, daily.parquet and report.html and print their summary."""
    from gogooku.evaluate.benchmark import benchmark_label
    from gogooku.evaluate.evaluator import evaluate_run, run_settings
    from gogooku.evaluate.pages import fmt
    from gogooku.runs import resolve_run_dir

    run_dir = resolve_run_dir(run)
    saved, _ = run_settings(run_dir)
    given = {"top_k": top_k, "cost_bps": cost_bps, "bootstrap": replicates}
    ev = evaluate_run(
        run_dir, saved.model_copy(update={k: v for k, v in given.items() if v is not None})
    )
    if as_json:
        typer.echo((ev.run_dir / "metrics.json").read_text(encoding="utf-8"))
        return
    for split, sd in ev.metrics["splits"].items():
        for h, e in sd["horizons"].items():
            s = e["signal"]
            lo = e.get("portfolio", {}).get("long_only", {}).get("net", {}).get("sharpe")
            typer.echo(
                f"{split:5s} {h:>3s}: RankIC {fmt(s['rank_ic_mean'])}  IR {fmt(s['rank_icir'])}"
                f"  long-only Sharpe {fmt(lo)}"
            )
    bench = ev.metrics.get("benchmark")
    if bench:
        reason = f" ({bench['reason']})" if bench.get("reason") else ""
        typer.echo(f"benchmark: {benchmark_label(bench)}{reason}")
    typer.echo(f"wrote {ev.run_dir / 'metrics.json'} and {ev.run_dir / 'report.html'}")


def compare_command(
    runs: Annotated[list[str], typer.Argument(help="Run ids or folders (each evaluated).")],
    split: str = typer.Option("test", "--split", help="Split to compare."),
    out: Annotated[
        Path | None,
        typer.Option("--out", help="compare.html path (default $GOGOOKU_HOME/runs/compare.html)."),
    ] = None,
    all_pairs: bool = typer.Option(
        False,
        "--all-pairs",
        help="Compare every pair of runs (A = the one given first), not only the first run "
        "against each other run.",
    ),
    replicates: int = typer.Option(
        1000, "--bootstrap", min=10, help="Block-bootstrap replicates of the paired intervals."
    ),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Compare evaluated runs on their common days and write compare.html.

    Per horizon the runs are aligned on the days of the split where all have a finite daily
    RankIC (disjoint periods are refused, a partial overlap is a warning on stderr). Per run: RankIC
    mean, RankIC IR, long-short net Sharpe and long-only net excess return on those days. Per pair
    (the first run A against each other run B, or every pair with --all-pairs): mean daily RankIC
    difference B − A with a block-bootstrap 95 % interval, its Diebold–Mariano t (Newey–West) and
    p-value, and the long-short net Sharpe difference with a paired block-bootstrap interval.
    Hold-out runs (run.json params.holdout) are marked. The metrics.json table of each run
    follows.
    """
    from rich.console import Console

    from gogooku.evaluate.compare import (
        compare_rows,
        compare_runs,
        compare_table,
        comparison_tables,
        load_runs,
        write_compare,
    )
    from gogooku.settings import get_settings

    loaded = load_runs(runs)
    comparison = compare_runs(loaded, split, all_pairs=all_pairs, replicates=replicates)
    metrics = [r.metrics for r in loaded]
    target = write_compare(
        metrics, split, out or get_settings().runs_dir / "compare.html", comparison
    )
    for line in comparison.warnings:
        typer.echo(f"warning: {line}", err=True)
    if as_json:  # the common period is the document's "period" (per horizon in "horizons")
        ids = comparison.runs
        rows = [
            {
                "horizon": h,
                "metric": label,
                "values": dict(zip(ids, map(_finite, values), strict=True)),
            }
            for h, label, values in compare_rows(metrics, split)
        ]
        doc = {**comparison.to_json(), "rows": rows, "html": str(target)}
        typer.echo(json.dumps(doc, indent=2, allow_nan=False))
        return
    for line in comparison.period_lines():
        typer.echo(line)
    # piped or captured output keeps whole run ids and intervals instead of 80 columns
    console = Console() if sys.stdout.isatty() else Console(width=200)
    for table in comparison_tables(comparison):
        console.print(table)
    console.print(compare_table(metrics, split))
    typer.echo(f"wrote {target}")
