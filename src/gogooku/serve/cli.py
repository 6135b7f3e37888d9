"""``gogooku serve`` and ``gogooku apikey add|revoke|list``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gogooku.bundle.db import store_selected
from gogooku.bundle.storeurl import STORE_HELP, is_postgres, store_target
from gogooku.serve.auth import FileKeys, KeySource
from gogooku.serve.config import load_serve_config

apikey_app = typer.Typer(
    help="API keys of the ranking service (stored as SHA-256 hashes: in the key file, or in a "
    "PostgreSQL prediction store)."
)

_KEYS_HELP = (
    "Key file (default: the service config's api_keys_file, else $GOGOOKU_HOME/api_keys.json; "
    "not with a PostgreSQL store, which holds the keys)."
)
FileOption = Annotated[Path | None, typer.Option("--file", help=_KEYS_HELP)]
StoreOption = Annotated[str | None, typer.Option("--store", help=STORE_HELP)]


def _keys(file: Path | None) -> KeySource:
    if file is None:
        return load_serve_config().key_source()
    if is_postgres(store_target()):
        raise typer.BadParameter("a PostgreSQL store holds the keys", param_hint="--file")
    return FileKeys(file)


@apikey_app.command("add")
def add_command(
    name: str = typer.Argument(..., help="Who the key is for."),
    file: FileOption = None,
    store: StoreOption = None,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    with store_selected(store):
        typer.echo(_keys(file).add(name))


@apikey_app.command("revoke")
def revoke_command(
    name: str = typer.Argument(..., help="Key name."),
    file: FileOption = None,
    store: StoreOption = None,
) -> None:
    """Revoke a key: requests with it get 403 from the next request on (no restart)."""
    with store_selected(store):
        _keys(file).revoke(name)
    typer.echo(f"revoked {name}")


@apikey_app.command("list")
def list_command(
    file: FileOption = None,
    store: StoreOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (name, created_at, revoked per key).")
    ] = False,
) -> None:
    """Key names, creation times and whether they are revoked (no hashes)."""
    with store_selected(store):
        keys = _keys(file).entries()
    if as_json:
        rows = [{k: key[k] for k in ("name", "created_at", "revoked")} for key in keys]
        typer.echo(json.dumps(rows, indent=2))
        return
    for k in keys:
        typer.echo(f"{k['name']}\t{k['created_at']}\t{'revoked' if k['revoked'] else 'active'}")


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Bind address."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    bundle: Annotated[
        list[str] | None,
        typer.Option(
            "--bundle", help="Bundle name to serve (repeatable; default: every promoted bundle)."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Service config TOML (ServeConfig).")
    ] = None,
    workers: int = typer.Option(1, "--workers", min=1, help="uvicorn worker processes."),
    store: StoreOption = None,
) -> None:
    """Run the ranking service (FastAPI under uvicorn; OpenAPI at /docs).

    Replicas on one PostgreSQL store (--store) share predictions, live figures and API keys
    (docs/scale-out.md)."""
    with store_selected(store):
        _serve(host, port, bundle, config, workers)


def _serve(
    host: str, port: int, bundle: list[str] | None, config: Path | None, workers: int
) -> None:
    import os

    import uvicorn

    from gogooku.bundle.predstore import PredictionStore
    from gogooku.serve.protocol import protocol_path

    cfg = load_serve_config(config)
    cfg.bundle_key()  # a missing or unsafe key file fails here, not inside uvicorn
    cfg.key_source()  # so does a key file configured beside a PostgreSQL store
    PredictionStore().db.check()  # and an unreachable store
    if config is not None:
        os.environ["GOGOOKU_SERVE_CONFIG"] = str(config)
    if bundle:
        os.environ["GOGOOKU_SERVE_MODELS"] = ",".join(bundle)
    typer.echo(
        f"serving {', '.join(bundle or cfg.models) or 'every promoted bundle'} on {host}:{port}"
    )
    uvicorn.run(
        "gogooku.serve.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=protocol_path(),
        log_level="info",
    )
