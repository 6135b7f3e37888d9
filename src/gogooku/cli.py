"""The ``gogooku`` command line: every command, loaded when it runs, and its errors, in one place.

``COMMANDS`` names each command's ``module:attribute`` (a Typer-annotated function or a
``typer.Typer`` sub-app) and its one-line help: ``gogooku --help`` lists them without importing
any area, and ``gogooku CMD ...`` imports CMD's module only (each area's ``cli`` module imports
its heavy stacks inside the command bodies, so ``gogooku CMD --help`` stays fast too).

:class:`GogookuGroup` (the class of the root and of every sub-app, see ``_load``) maps a
:class:`~gogooku.errors.GogookuError` raised by any command to ``CMD failed: message`` on stderr
and exit code ``exc.exit_code``; usage errors keep click's exit 2, anything else is a bug and
keeps its traceback. Help texts are plain (no Rich markup), so ``[splits]`` shows as written.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer._click.exceptions import UsageError
from typer._click.shell_completion import CompletionItem
from typer.core import TyperCommand, TyperGroup

from gogooku import __version__
from gogooku.errors import GogookuError


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives (``module:attribute``) and its one-line help for ``gogooku --help``
    (the first paragraph of the command's own help; a test keeps them equal)."""

    target: str
    help: str


COMMANDS: dict[str, LazyCommand] = {
    "fetch": LazyCommand(
        "gogooku.store.cli:fetch_command",
        "Fetch into the raw store what it lacks for start..end; a re-run is a no-op.",
    ),
    "store": LazyCommand(
        "gogooku.store.cli:store_app", "Inspect the raw store ($GOGOOKU_HOME/raw)."
    ),
    "build": LazyCommand(
        "gogooku.dataset.cli:build_command",
        "Build the feature panel, labels, features.json and metadata.json for START..END.",
    ),
    "splits": LazyCommand(
        "gogooku.dataset.cli:splits_command",
        "Print the walk-forward folds of a dataset for the [splits] of a data config or the "
        "[data.splits] of a run config.",
    ),
    "import": LazyCommand(
        "gogooku.importers.cli:import_app", "Import data files into the raw store."
    ),
    "synth": LazyCommand(
        "gogooku.synth.cli:synth_app",
        "The synthetic J-Quants V2 market (for running everything without an API key).",
    ),
    "evaluate": LazyCommand(
        "gogooku.research.cli:evaluate_command",
        "Evaluate a run: write runs/RUN/metrics.json, daily.parquet and report.html.",
    ),
    "export": LazyCommand(
        "gogooku.export.cli:export_app",
        "Export an evaluated run for other tools: Alphalens factor and prices, pyfolio / "
        "quantstats / empyrical returns, positions and benchmark (docs/exports.md).",
    ),
    "compare": LazyCommand(
        "gogooku.evaluate.cli:compare_command",
        "Compare evaluated runs on their common days and write compare.html.",
    ),
    "train": LazyCommand(
        "gogooku.train.cli:train_command",
        "Train a model on one walk-forward fold (the last by default), write its run folder and "
        "evaluate it.",
    ),
    "ablate": LazyCommand(
        "gogooku.research.cli:ablate_command",
        "Train a network as configured (full) and without each of its switches that is on, and "
        "decide on validation which components earn their place; with --trials, also with each "
        "trial's change, adopted only if it beats full on validation.",
    ),
    "hpo": LazyCommand(
        "gogooku.hpo.cli:hpo_command",
        "Search hyperparameters with Optuna on the validation folds; resumable and shareable.",
    ),
    "walkforward": LazyCommand(
        "gogooku.research.cli:walkforward_command",
        "Train a model on every selected walk-forward fold and seed, stitch the test predictions "
        "into one run and evaluate it.",
    ),
    "ensemble": LazyCommand(
        "gogooku.research.cli:ensemble_command",
        "Combine walk-forward runs with weights chosen on each fold's validation days only, and "
        "write and evaluate the ensemble as a walk-forward run.",
    ),
    "runs": LazyCommand(
        "gogooku.tracking.cli:runs_app", "List the run folders ($GOGOOKU_HOME/runs)."
    ),
    "demo": LazyCommand(
        "gogooku.demo.cli:demo_command",
        "Synthetic market through the J-Quants client, build, train, search, compare, serve.",
    ),
    "bundle": LazyCommand(
        "gogooku.bundle.cli:bundle_app",
        "Immutable model bundles: `gogooku bundle --run RUN` creates the next version; "
        "`verify` and `list` inspect them, `sign` and `keygen` sign manifests.",
    ),
    "promote": LazyCommand(
        "gogooku.bundle.cli:promote_command",
        "Verify NAME@VERSION and point NAME's CURRENT at it (atomic; audited). A running service "
        "switches on its next request.",
    ),
    "rollback": LazyCommand(
        "gogooku.bundle.cli:rollback_command",
        "Point NAME's CURRENT back at the version the current one replaced (atomic; audited).",
    ),
    "predict": LazyCommand(
        "gogooku.bundle.cli:predict_command",
        "Score every stock listed on DATE with the bundle and store the scores (prediction store: "
        "--store, default $GOGOOKU_HOME/predictions.sqlite). Refuses a dataset whose feature hash "
        "differs.",
    ),
    "update": LazyCommand(
        "gogooku.bundle.cli:update_command",
        "Daily job: fetch up to END, extend the bundle's dataset incrementally, predict its newest "
        "date. Idempotent (safe from cron).",
    ),
    "monitor": LazyCommand(
        "gogooku.bundle.cli:monitor_command",
        "Score stored predictions whose labels have matured (live RankIC, top-K spread, rolling "
        "20/60-day means) and measure feature and prediction drift (PSI); write the live tables "
        "of the prediction store and $GOGOOKU_HOME/monitor/NAME/report.html.",
    ),
    "serve": LazyCommand(
        "gogooku.serve.cli:serve_command",
        "Run the ranking service (FastAPI under uvicorn; OpenAPI at /docs).",
    ),
    "apikey": LazyCommand(
        "gogooku.serve.cli:apikey_app",
        "API keys of the ranking service (stored as SHA-256 hashes: in the key file, or in a "
        "PostgreSQL prediction store).",
    ),
}

_COMMAND_PATH = "gogooku.command_path"


class GogookuGroup(TyperGroup):
    """A Typer group that maps a GogookuError of any command below it to its message and exit
    code, and loads the commands of ``lazy`` (name → LazyCommand) only when one runs."""

    lazy: ClassVar[dict[str, LazyCommand]] = {}

    def list_commands(self, ctx: typer.Context) -> list[str]:
        eager = [name for name in super().list_commands(ctx) if name not in self.lazy]
        return [*eager, *self.lazy]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.add_command(_load(cmd_name, self.lazy[cmd_name]), cmd_name)
        return super().get_command(ctx, cmd_name)

    def _short_helps(self, ctx: typer.Context) -> list[tuple[str, TyperCommand]]:
        """(name, command) of the visible commands, a stand-in carrying the help for a command
        not loaded yet, so listing them imports nothing."""
        shown = []
        for name in self.list_commands(ctx):
            cmd = self.commands.get(name) or TyperCommand(name=name, help=self.lazy[name].help)
            if not cmd.hidden:
                shown.append((name, cmd))
        return shown

    def format_commands(self, ctx: typer.Context, formatter: Any) -> None:
        commands = self._short_helps(ctx)
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            with formatter.section("Commands"):
                formatter.write_dl(
                    [(name, cmd.get_short_help_str(limit)) for name, cmd in commands]
                )

    def shell_complete(self, ctx: typer.Context, incomplete: str) -> list[Any]:
        items = [
            CompletionItem(name, help=cmd.get_short_help_str())
            for name, cmd in self._short_helps(ctx)
            if name.startswith(incomplete)
        ]
        return items + super(TyperGroup, self).shell_complete(ctx, incomplete)

    def resolve_command(self, ctx: typer.Context, args: list[str]) -> Any:
        try:
            name, cmd, rest = super().resolve_command(ctx, args)
        except UsageError as exc:  # suggest among every command, loaded or not
            from difflib import get_close_matches

            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches and exc.message.startswith("No such command"):
                shown = ", ".join(repr(m) for m in matches)
                exc.message = f"No such command {args[0]!r}. Did you mean {shown}?"
            raise
        path, parent = [name], ctx
        while parent.parent is not None:
            path.insert(0, parent.info_name)
            parent = parent.parent
        ctx.meta[_COMMAND_PATH] = " ".join(path)
        return name, cmd, rest

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GogookuError as exc:
            command = ctx.meta.get(_COMMAND_PATH) or ctx.info_name
            typer.echo(f"{command} failed: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None


class _RootGroup(GogookuGroup):
    lazy = COMMANDS


def _load(name: str, spec: LazyCommand) -> Any:
    """The click command of ``spec``: a function as a command, a Typer app as a GogookuGroup;
    both with plain help texts."""
    module, attribute = spec.target.split(":")
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer(rich_markup_mode=None)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name, cls=GogookuGroup)
    else:
        holder.command(name)(target)
    return typer.main.get_group(holder).commands[name]


app = typer.Typer(
    name="gogooku",
    help="Leak-free machine learning on Japanese equities (J-Quants V2 or the synthetic market).",
    cls=_RootGroup,
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    from gogooku.logs import setup_logging

    setup_logging(verbose)


@app.command()
def version() -> None:
    """Print the gogooku version."""
    typer.echo(__version__)
