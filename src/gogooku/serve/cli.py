"""``gogooku serve`` and ``gogooku apikey add|revoke|list``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gogooku.serve.auth import add_key, read_keys, revoke_key
from gogooku.serve.config import load_serve_config

apikey_app = typer.Typer(help="API keys of the ranking service (stored as SHA-256 hashes).")

_KEYS_HELP = (
    "Key file (default: the service config's api_keys_file, else $GOGOOKU_HOME/api_keys.json)."
)


def _keys_path(file: Path | None) -> Path:
    return file or load_serve_config().keys_path


@apikey_app.command("add")
def add_command(
    name: str = typer.Argument(..., help="Who the key is for."),
    file: Annotated[Path | None, typer.Option("--file", help=_KEYS_HELP)] = None,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    typer.echo(add_key(_keys_path(file), name))


@apikey_app.command("revoke")
def revoke_command(
    name: str = typer.Argument(..., help="Key name."),
    file: Annotated[Path | None, typer.Option("--file", help=_KEYS_HELP)] = None,
) -> None:
    """Revoke a key: requests with it get 403 from the next request on (no restart)."""
    revoke_key(_keys_path(file), name)
    typer.echo(f"revoked {name}")


@apikey_app.command("list")
def list_command(
    file: Annotated[Path | None, typer.Option("--file", help=_KEYS_HELP)] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (name, created_at, revoked per key).")
    ] = False,
) -> None:
    """Key names, creation times and whether they are revoked (no hashes)."""
    path = _keys_path(file)
    keys = read_keys(path)
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
) -> None:
    """Run the ranking service (FastAPI under uvicorn; OpenAPI at /docs)."""
    import os

    import uvicorn

    from gogooku.serve.protocol import protocol_path

    cfg = load_serve_config(config)
    cfg.bundle_key()  # a missing or unsafe key file fails here, not inside uvicorn
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
