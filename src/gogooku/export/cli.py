"""``gogooku export alphalens RUN`` and ``gogooku export returns RUN``."""

from __future__ import annotations

from pathlib import Path

import typer

export_app = typer.Typer(
    help="Export an evaluated run for other tools: Alphalens factor and prices, pyfolio / "
    "quantstats / empyrical returns, positions and benchmark (docs/exports.md).",
    no_args_is_help=True,
)

_HORIZON = typer.Option(None, "--horizon", help="Horizon in sessions (default: the run's main).")
_OUT = typer.Option(None, "--out", help="Output folder (default: runs/RUN/export).")


@export_app.command("alphalens")
def alphalens_command(
    run: str = typer.Argument(..., help="Run id (under $GOGOOKU_HOME/runs) or run folder."),
    horizon: int | None = _HORIZON,
    split: str = typer.Option("test", "--split", help="train, valid or test."),
    out: Path | None = _OUT,
) -> None:
    """Write the factor and prices tables for Alphalens.

    In the layout of alphalens.utils.get_clean_factor_and_forward_returns. Factor values are dated at their trade day (the session after the signal), so Alphalens'
    forward returns equal gogooku's labels and its IC the evaluator's daily RankIC. Files:
    factor and prices (.parquet, .csv) and alphalens.json (the timing and a Python snippet).
    """
    from gogooku.export.alphalens import export_alphalens

    manifest = export_alphalens(run, horizon=horizon, split=split, out=out)
    typer.echo(f"wrote factor and prices for Alphalens to {manifest.parent} ({manifest.name})")


@export_app.command("returns")
def returns_command(
    run: str = typer.Argument(..., help="Run id (under $GOGOOKU_HOME/runs) or run folder."),
    strategy: str = typer.Option("long_short", "--strategy", help="long_short or long_only."),
    horizon: int | None = _HORIZON,
    split: str = typer.Option("test", "--split", help="valid or test (the backtested splits)."),
    out: Path | None = _OUT,
) -> None:
    """Write daily returns, positions, transactions and benchmark.

    The evaluated book, for pyfolio, quantstats and empyrical: the evaluator's backtest of the
    split and horizon is run again and checked against daily.parquet. Files: returns (net and
    gross), positions (pyfolio layout with cash), transactions and benchmark (.parquet, .csv)
    and returns.json (timing, periods per year, a Python snippet).
    """
    from gogooku.export.returns import export_returns

    manifest = export_returns(run, strategy=strategy, horizon=horizon, split=split, out=out)
    typer.echo(f"wrote returns, positions and benchmark to {manifest.parent} ({manifest.name})")
