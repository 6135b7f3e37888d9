"""``gogooku bundle`` (create, verify, list), ``promote``, ``rollback``, ``predict``, ``update``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gogooku.bundle.db import store_selected
from gogooku.bundle.signing import KEY_ENV, SIGNATURE_FILE, configured_key, generate_key
from gogooku.bundle.store import (
    BundleError,
    bundles_dir,
    check_name,
    list_bundles,
    parse_ref,
    promote,
    resolve,
    rollback,
    sign_bundle,
    verify_bundle,
    versions,
)
from gogooku.bundle.storeurl import STORE_HELP

bundle_app = typer.Typer(
    help="Immutable model bundles: `gogooku bundle --run RUN` creates the next version; "
    "`verify` and `list` inspect them, `sign` and `keygen` sign manifests.",
    no_args_is_help=False,
    invoke_without_command=True,
)


def _day(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a YYYY-MM-DD date", param_hint=option) from None


@bundle_app.callback()
def bundle_command(
    ctx: typer.Context,
    run: str | None = typer.Option(None, "--run", help="Run id or run folder to bundle."),
    name: str | None = typer.Option(None, "--name", help="Bundle name (default: model kind)."),
) -> None:
    """Bundle a trained run as the next version of NAME (weights, config, feature list and hash,
    normalisation, date ranges, metrics, code version, SHA-256 manifest)."""
    if ctx.invoked_subcommand is not None:
        return
    if run is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(code=2)
    from gogooku.bundle.scoring import create_bundle

    path, info = create_bundle(run, name)
    typer.echo(f"created {info.name}@{info.version} ({info.model}, run {info.run_id}) at {path}")


def _chosen(ref: str) -> tuple[str, list[str]]:
    name, version = parse_ref(ref)
    chosen = [version] if version else versions(name)
    if not chosen:
        raise BundleError(f"no bundle {name!r} under {bundles_dir()}")
    return name, chosen


def _signature_state(name: str, version: str, key: bytes | None) -> str:
    if not (resolve(name, version) / SIGNATURE_FILE).is_file():
        return "none"
    return "checked" if key is not None else "not checked (no key)"


@bundle_app.command("verify")
def verify_command(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION (NAME alone: every version)."),
    require_signature: bool = typer.Option(
        False, "--require-signature", help=f"An unsigned version fails too (key: ${KEY_ENV})."
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print JSON (per version: its problems, none when ok, and its signature: "
        "checked, not checked (no key) or none).",
    ),
) -> None:
    """Recompute every SHA-256 of the manifest and, when $GOGOOKU_BUNDLE_KEY_FILE names a key,
    check the signature; exit 1 when a file is missing, changed or unlisted or the signature fails."""
    name, chosen = _chosen(ref)
    key = configured_key()
    results = [
        (v, verify_bundle(resolve(name, v), key, require_signature), _signature_state(name, v, key))
        for v in chosen
    ]
    if as_json:
        rows = [
            {"name": name, "version": v, "ok": not problems, "problems": problems, "signature": s}
            for v, problems, s in results
        ]
        typer.echo(json.dumps(rows, indent=2))
    else:
        for v, problems, s in results:
            verdict = f"ok (signature: {s})" if not problems else "; ".join(problems)
            typer.echo(f"{name}@{v}: {verdict}")
    if any(problems for _, problems, _ in results):
        raise typer.Exit(code=1)


@bundle_app.command("sign")
def sign_command(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION (NAME alone: every version)."),
) -> None:
    """Check every SHA-256, then sign the manifest with the key of $GOGOOKU_BUNDLE_KEY_FILE
    (manifest.sig). Bundles created while it is set are signed already."""
    name, chosen = _chosen(ref)
    for version in chosen:
        typer.echo(f"signed {name}@{version}: {sign_bundle(name, version)}")


@bundle_app.command("keygen")
def keygen_command(
    file: Annotated[
        Path, typer.Argument(help="Key file to create (outside $GOGOOKU_HOME/bundles).")
    ],
) -> None:
    """Write a new random signing key (mode 0600; an existing file is never overwritten)."""
    typer.echo(f"wrote key {generate_key(file)} to {file}; set {KEY_ENV}={file} to use it")


@bundle_app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Every bundle version, marking the promoted and the shadow one."""
    rows = list_bundles()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"bundles in {bundles_dir()}")
    cols = ("name", "version", "current", "shadow", "model", "dataset", "run_id", "created_at")
    flags = ("current", "shadow")
    for col in cols:
        table.add_column(col)
    for r in rows:
        table.add_row(*(("*" if r[c] else "") if c in flags else str(r[c]) for c in cols))
    Console().print(table)


def promote_command(
    name: str = typer.Argument(..., help="Bundle name."),
    version: str | None = typer.Argument(
        None, help="Version to promote (e.g. v0002); not with --if-better or --clear-shadow."
    ),
    shadow: bool = typer.Option(
        False,
        "--shadow",
        help="Make VERSION the shadow version instead: `gogooku update` predicts, stores and "
        "monitors it; the service does not serve it.",
    ),
    clear_shadow: bool = typer.Option(
        False, "--clear-shadow", help="Remove NAME's shadow pointer (audited)."
    ),
    if_better: bool = typer.Option(
        False,
        "--if-better",
        help="Promote the shadow version when its live RankIC beats the promoted one's over the "
        "last --days common matured days (one-sided paired t-test, p < --alpha); the decision "
        "goes to the audit log either way.",
    ),
    days: int = typer.Option(20, "--days", min=2, help="Matured days compared by --if-better."),
    alpha: float = typer.Option(
        0.05, "--alpha", min=0.0, max=1.0, help="Significance level of --if-better."
    ),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP + " Read by --if-better."),
) -> None:
    """Verify NAME@VERSION and point NAME's CURRENT at it (atomic; audited). A running service
    switches on its next request.

    With --shadow, VERSION becomes the shadow version (bundles/NAME/SHADOW); --clear-shadow
    removes it; --if-better promotes the shadow by rule (docs/operations.md, "Shadow and
    canary")."""
    from gogooku.bundle.store import set_shadow

    modes = sum((shadow, clear_shadow, if_better))
    if modes > 1:
        raise typer.BadParameter("use one of --shadow, --clear-shadow and --if-better")
    if (version is None) != (clear_shadow or if_better):
        raise typer.BadParameter(
            "give VERSION, except with --if-better and --clear-shadow", param_hint="VERSION"
        )
    check_name(name)
    if if_better:
        from gogooku.bundle.shadow import decide

        with store_selected(store):
            d = decide(name, days, alpha)
        verdict = f"promoted {d.shadow}" if d.promoted else f"kept {d.current}"
        typer.echo(f"{name}: {verdict} ({d.reason}; audited)")
    elif clear_shadow:
        typer.echo(f"{name}: shadow {set_shadow(name, None)} removed")
    elif shadow:
        before = set_shadow(name, version)
        typer.echo(f"{name}: shadow {before or '(none)'} -> {version}")
    else:
        before = promote(name, version)
        typer.echo(f"{name}: {before or '(none)'} -> {version}")


def monitor_command(
    name: str | None = typer.Argument(None, help="Bundle name (default: every model)."),
    days: int | None = typer.Option(
        None,
        "--days",
        min=1,
        help="Recompute the last N stored prediction days (default: only days not monitored yet).",
    ),
    top_k: int = typer.Option(50, "--top-k", min=1, help="K of the top-K spread."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Score stored predictions whose labels have matured (live RankIC, top-K spread, rolling
    20/60-day means) and measure feature and prediction drift (PSI); write the live tables of the
    prediction store and $GOGOOKU_HOME/monitor/NAME/report.html.

    The reference column says where the drift reference comes from: the bundle's
    reference.json, the dataset (bundles created before it existed; computed each run) or none
    (no PSI)."""
    from gogooku.bundle.monitor import monitor

    with store_selected(store):
        summaries = monitor(name, days, top_k)
    _print_monitor(summaries, as_json)


def _print_monitor(summaries: list, as_json: bool) -> None:
    rows = [
        {
            "model": s.model,
            "version": s.version,
            "role": s.role,
            "predicted_days": s.predicted,
            "matured_days": s.matured,
            "scored_now": s.scored_now,
            "drift_days_now": s.drift_now,
            "reference": s.reference,
            **{k: v for k, v in s.last.items() if k not in ("matured_days", "psi_top")},
        }
        for s in summaries
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title="live monitoring")
    cols = ("model", "version", "role", "predicted_days", "matured_days", "rankic_1d",
            "rankic_20d", "rankic_60d", "spread_20d", "psi_max", "prediction_psi",
            "reference")  # fmt: skip
    for col in cols:
        table.add_column(col)
    for r in rows:
        table.add_row(*("–" if r[c] is None else f"{r[c]:.4f}" if isinstance(r[c], float)
                        else str(r[c]) for c in cols))  # fmt: skip
    Console().print(table)
    from gogooku.bundle.monitor_report import report_path

    for model in sorted({r["model"] for r in rows}):
        typer.echo(f"monitor page: {report_path(model)}")


def rollback_command(name: str = typer.Argument(..., help="Bundle name.")) -> None:
    """Point NAME's CURRENT back at the version the current one replaced (atomic; audited)."""
    before, after = rollback(check_name(name))
    typer.echo(f"{name}: {before} -> {after}")


def predict_command(
    bundle: str = typer.Option(..., "--bundle", help="NAME or NAME@VERSION (default: promoted)."),
    date: str | None = typer.Option(
        None, "--date", help="Date to score (YYYY-MM-DD; default: the dataset's latest date)."
    ),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Score every stock listed on DATE with the bundle and store the scores (prediction store:
    --store, default $GOGOOKU_HOME/predictions.sqlite). Refuses a dataset whose feature hash
    differs."""
    from gogooku.bundle.job import predict

    with store_selected(store):
        run = predict(bundle, _day(date, "--date"))
    typer.echo(
        f"stored {run.rows} scores of {run.model}@{run.version} for {run.date} "
        f"(dispersion {run.dispersion})"
    )


def update_command(
    bundle: str = typer.Option(..., "--bundle", help="NAME or NAME@VERSION (default: promoted)."),
    fetch_start: str = typer.Option(
        ...,
        "--fetch-start",
        help="First day to fetch (for --source synthetic: the market's start).",
    ),
    end: str | None = typer.Option(None, "--end", help="Last day (default: today, UTC)."),
    source: str = typer.Option("jquants", "--source", help="jquants or synthetic."),
    seed: int = typer.Option(7, "--seed", help="Synthetic market seed."),
    stocks: int = typer.Option(300, "--stocks", help="Synthetic market size."),
    market_version: int = typer.Option(
        2, "--market-version", min=1, max=2, help="Synthetic market version (1: linear)."
    ),
    datasets: str | None = typer.Option(
        None, "--datasets", help="Datasets to fetch (default all)."
    ),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Daily job: fetch up to END, extend the bundle's dataset incrementally, predict its newest
    date. Idempotent (safe from cron).

    Without @VERSION the shadow version (gogooku promote NAME VERSION --shadow) is predicted
    too; then the stored predictions of NAME are monitored (gogooku monitor NAME)."""
    from gogooku.bundle.job import update

    with store_selected(store):
        runs = update(
            bundle,
            source,
            _day(fetch_start, "--fetch-start"),
            _day(end, "--end") or dt.datetime.now(dt.UTC).date(),
            seed,
            stocks,
            datasets,
            market_version=market_version,
        )
    for run in runs:
        typer.echo(f"stored {run.rows} scores of {run.model}@{run.version} for {run.date}")
    typer.echo(f"monitored {parse_ref(bundle)[0]}: see `gogooku monitor` for the live figures")
