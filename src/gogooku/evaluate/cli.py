"""``gogooku evaluate`` and ``gogooku compare``.

Reference factors (reversal, momentum, the synthetic oracle) are runs like any model's:
``gogooku train --model factor`` (``gogooku.models.factor``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

_JSON_HELP = "Print JSON instead of a table."


def _finite(value: object) -> object:
    """``value`` with NaN and infinities as None (JSON has neither)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


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
    as_json: bool = typer.Option(
        False, "--json", help="Print the written metrics.json instead of the summary lines."
    ),
) -> None:
    """Evaluate a run: write runs/RUN/metrics.json and runs/RUN/report.html."""
    from gogooku.evaluate.evaluator import evaluate_run, run_settings
    from gogooku.evaluate.report import _fmt
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
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Print a side-by-side table of evaluated runs and write compare.html."""
    from rich.console import Console

    from gogooku.evaluate.report import compare_rows, compare_table, load_evaluated, write_compare
    from gogooku.settings import get_settings

    loaded = load_evaluated(runs)
    target = write_compare(loaded, split, out or get_settings().runs_dir / "compare.html")
    if as_json:
        ids = [m["run"]["run_id"] for m in loaded]
        rows = [
            {
                "horizon": h,
                "metric": label,
                "values": dict(zip(ids, map(_finite, values), strict=True)),
            }
            for h, label, values in compare_rows(loaded, split)
        ]
        typer.echo(
            json.dumps({"split": split, "runs": ids, "rows": rows, "html": str(target)}, indent=2)
        )
        return
    Console().print(compare_table(loaded, split))
    typer.echo(f"wrote {target}")
