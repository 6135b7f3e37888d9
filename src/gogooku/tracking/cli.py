"""``gogooku runs list`` (the rows are ``gogooku.tracking.listing.list_runs``)."""

from __future__ import annotations

import datetime as dt
import json

import typer

runs_app = typer.Typer(
    name="runs", help="List the run folders ($GOGOOKU_HOME/runs).", no_args_is_help=True
)


def _shown(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:+.4f}"
    return str(value)


@runs_app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    model: str | None = typer.Option(None, "--model", help="Only runs of this model kind."),
    dataset: str | None = typer.Option(None, "--dataset", help="Only runs on this dataset."),
    since: str | None = typer.Option(
        None, "--since", help="Only runs created on or after this UTC date (YYYY-MM-DD)."
    ),
    sort: str = typer.Option(
        "created_at",
        "--sort",
        help="created_at (newest first), run_id, model, dataset, or rank_ic, rank_icir, "
        "ls_sharpe (highest first).",
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Show the first N runs."),
) -> None:
    """One line per run: model, dataset, periods, created, evaluated, and the test split's
    RankIC, RankIC IR and long-short net Sharpe at the run's main horizon.

    Walk-forward runs show their number of folds and the stitched test period. Runs without
    metrics.json are listed as not evaluated. A folder whose run.json or metrics.json cannot be
    read is listed with its problem; --model, --dataset and --since leave out those without a
    readable run.json."""
    from gogooku.tracking.listing import list_runs

    day = None
    if since is not None:
        try:
            day = dt.date.fromisoformat(since)
        except ValueError:
            raise typer.BadParameter(
                f"{since!r} is not a YYYY-MM-DD date", param_hint="--since"
            ) from None
    rows = list_runs(model, dataset, day, sort, limit)
    if as_json:
        typer.echo(json.dumps(rows.to_dicts(), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    from gogooku.runs import runs_dir

    table = Table(title=f"runs in {runs_dir()}")
    columns = ("run", "model", "dataset", "train", "test", "created", "eval", "h")
    for name in (*columns, "RankIC", "RankIC IR", "LS Sharpe", "problem"):
        table.add_column(
            name, justify="right" if name in ("RankIC", "RankIC IR", "LS Sharpe") else "left"
        )
    for r in rows.iter_rows(named=True):
        test = r["test"] if r["n_folds"] is None else f"{r['test']} ({r['n_folds']} folds)"
        table.add_row(
            r["run_id"],
            _shown(r["model"]),
            _shown(r["dataset"]),
            _shown(r["train"]),
            _shown(test),
            _shown(r["created_at"]),
            "yes" if r["evaluated"] else "no",
            "-" if r["main_horizon"] is None else f"{r['main_horizon']}d",
            *(_shown(r[f]) for f in ("rank_ic", "rank_icir", "ls_sharpe")),
            _shown(r["problem"]),
        )
    out = Console()
    (out if out.is_terminal else Console(width=200)).print(table)
