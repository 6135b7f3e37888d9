"""``gogooku demo``: the whole pipeline on the synthetic market, then where to look next."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gogooku.config import CONFIGS_DIR


def _next_steps(console: Console, summary: dict, home: Path, configs: Path) -> None:
    from gogooku.demo.plan import splits_override

    splits = splits_override(configs)  # the shipped run configs' own splits are for ten years
    runs = summary["runs"]
    served = summary["served"]
    console.rule("[bold]where things are")
    console.print(f"comparison report  {summary['compare_html']}")
    for run_id, path in runs.items():
        console.print(f"{run_id:<18} {path}/report.html")
    console.print(f"search report      {summary['search']['report']}")
    console.print(
        f"served bundle      {served['bundle']} (run {served['run']}, its latest fit) "
        f"{served['bundle_path']}"
    )
    console.print(f"dataset            {summary['dataset']} (panel.parquet, features.json)")
    console.print(f"raw store          {home / 'raw'}")
    console.print(f"summary            {home / 'demo' / 'summary.json'}")
    console.rule("[bold]next")
    console.print(
        f"export GOGOOKU_HOME={home}\n"
        "gogooku compare " + " ".join(runs) + "   # paired on the common test days\n"
        "gogooku walkforward --model linear --dataset demo --config linear.toml --folds last:6 "
        f"--run my-ridge {splits}\n"
        f"gogooku ablate --dataset demo --config atft.toml {splits}   # without each switch\n"
        "gogooku hpo --model lgbm --dataset demo --config hpo_lgbm.toml --n-trials 20 "
        f"--study-name mine {splits}\n"
        "gogooku apikey add me && gogooku serve   # then GET /v1/rankings with X-API-Key\n"
        "With a J-Quants key (README: plans, rate limits, backfill times):\n"
        "  export JQUANTS_API_KEY=...  JQUANTS_PLAN=standard\n"
        "  gogooku fetch --source jquants --start 2016-01-01 --end 2025-12-31\n"
        "  gogooku build --start 2017-01-01 --end 2025-12-31 --name jq"
    )


def demo_command(
    quick: bool = typer.Option(
        False,
        "--quick",
        help="Small version (40 stocks, 1.5 years, one epoch per neural model, one fit per "
        "model, 2 search trials).",
    ),
    seed: int = typer.Option(7, "--seed", min=0, help="Synthetic market and model seed."),
    stocks: int | None = typer.Option(
        None, "--stocks", min=20, help="Stocks in the market (default 100; --quick 40)."
    ),
    market_version: int = typer.Option(
        2, "--market-version", min=1, max=2, help="Synthetic market version (1: linear)."
    ),
    home: Annotated[
        Path | None,
        typer.Option("--home", help="GOGOOKU_HOME for this demo (default: $GOGOOKU_HOME)."),
    ] = None,
    configs: Annotated[
        Path,
        typer.Option(
            "--configs",
            help="Folder of the run configs (lgbm.toml, …; default: the shipped ones).",
            show_default=False,
        ),
    ] = CONFIGS_DIR,
) -> None:
    """Synthetic market through the J-Quants client, build, train, search, compare, serve.

    Every model is a walk-forward run over the last 6 folds (120 stitched test days), compared
    paired on those days. Writes $GOGOOKU_HOME/demo/summary.json (plan, stage seconds, tables,
    search, served top 10) and demo/compare.html; each run's report is runs/demo-NAME/report.html.
    """
    from gogooku.demo.pipeline import run_demo
    from gogooku.demo.plan import demo_plan
    from gogooku.settings import get_settings

    if home is not None:
        os.environ["GOGOOKU_HOME"] = str(home.resolve())
    settings = get_settings()
    console = Console(soft_wrap=True)
    summary = run_demo(demo_plan(quick, seed, stocks, market_version), configs, settings, console)
    _next_steps(console, summary, settings.home, configs)
    console.print(f"[bold green]demo finished in {summary['total_seconds']:.0f} s")
