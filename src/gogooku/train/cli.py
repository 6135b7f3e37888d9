"""``gogooku train`` (the work is ``gogooku.train.run.train_run``).

It trains on the LAST walk-forward fold unless ``--fold`` names another (negative: from the end)
and takes ``--set dotted.key=value`` overrides of the run config (``FOLD_HELP``, ``SET_HELP``:
shared with the other commands that train, ``gogooku ablate`` among them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gogooku.models.registry import kind_names

# the registry names kinds without importing them, so --help imports no model
KINDS_HELP = f"Model kind: one of {', '.join(kind_names())}."
FOLD_HELP = (
    "Walk-forward fold index (default: the last fold, the most recent test period; negative "
    "values count from the end: -1 the last, -2 the one before)."
)
SET_HELP = (
    "Override a run-config value, e.g. --set train.epochs=1 --set model.objective=lambdarank "
    "(repeatable; KEY is dotted from the file's top level, VALUE a TOML value or a bare string). "
    "The result is validated like the file and saved as the run's config.toml."
)

# the repeatable --set of the commands that take a run config
SetOption = Annotated[
    list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help=SET_HELP, show_default=False)
]


def _print_metrics(run_dir: Path) -> None:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for split, sd in metrics["splits"].items():
        for h, e in sd["horizons"].items():
            ric = e["signal"]["rank_ic_mean"]
            shown = "n/a" if ric is None else f"{ric:+.4f}"
            typer.echo(f"{split:5s} {h:>3s}: RankIC {shown}")


def train_command(
    model: str = typer.Option(..., "--model", help=KINDS_HELP),
    dataset: str = typer.Option(
        ..., "--dataset", help="Dataset name: $GOGOOKU_HOME/datasets/NAME/."
    ),
    config: Annotated[
        Path | None, typer.Option("--config", help="Run config TOML (default: built-in defaults).")
    ] = None,
    run: str | None = typer.Option(None, "--run", help="Run id (default: generated)."),
    fold: int | None = typer.Option(None, "--fold", help=FOLD_HELP, show_default=False),
    resume: bool = typer.Option(False, "--resume", help="Continue --run from its last checkpoint."),
    overrides: SetOption = None,
) -> None:
    """Train a model on one walk-forward fold (the last by default), write its run folder and
    evaluate it."""
    from gogooku.train.config import load_run_config
    from gogooku.train.run import train_run

    if config is None and not overrides:
        cfg = None  # the kind's defaults (or, with --resume, the run's saved config)
    else:
        if config is None and resume and run is not None:
            from gogooku.runs import CONFIG_FILE, resolve_run_dir

            config = resolve_run_dir(run) / CONFIG_FILE  # --set on top of the resumed run's
        cfg = load_run_config(config, overrides or (), kind=model)
    run_dir = train_run(model, dataset, cfg, run, fold, resume)
    _print_metrics(run_dir)
    typer.echo(f"wrote run {run_dir.name} at {run_dir}")
