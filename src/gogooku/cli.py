"""The ``gogooku`` command line. Each area registers its commands from its own module."""

from __future__ import annotations

import typer

from gogooku import __version__
from gogooku.logs import setup_logging

app = typer.Typer(
    name="gogooku",
    help="Leak-free machine learning on Japanese equities (J-Quants V2 or the synthetic market).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    setup_logging(verbose)


@app.command()
def version() -> None:
    """Print the gogooku version."""
    typer.echo(__version__)


from gogooku.store.cli import fetch_command, store_app  # noqa: E402

app.command("fetch")(fetch_command)
app.add_typer(store_app, name="store")

from gogooku.dataset.cli import build_command  # noqa: E402

app.command("build")(build_command)

from gogooku.dataset.splits import splits_command  # noqa: E402

app.command("splits")(splits_command)

from gogooku.importers.cli import import_app  # noqa: E402

app.add_typer(import_app, name="import")

from gogooku.synth.cli import synth_app  # noqa: E402

app.add_typer(synth_app, name="synth")

from gogooku.evaluate.cli import compare_command, evaluate_command  # noqa: E402

app.command("evaluate")(evaluate_command)
app.command("compare")(compare_command)

from gogooku.train.cli import ablate_command, train_command  # noqa: E402

app.command("train")(train_command)
app.command("ablate")(ablate_command)

from gogooku.hpo.cli import hpo_command  # noqa: E402

app.command("hpo")(hpo_command)

from gogooku.demo.cli import demo_command  # noqa: E402

app.command("demo")(demo_command)

from gogooku.bundle.cli import (  # noqa: E402
    bundle_app,
    predict_command,
    promote_command,
    rollback_command,
    update_command,
)

app.add_typer(bundle_app, name="bundle")
app.command("promote")(promote_command)
app.command("rollback")(rollback_command)
app.command("predict")(predict_command)
app.command("update")(update_command)

from gogooku.serve.cli import apikey_app, serve_command  # noqa: E402

app.command("serve")(serve_command)
app.add_typer(apikey_app, name="apikey")
