"""``gogooku walkforward`` (the work is ``gogooku.research.walkforward.run_walkforward``),
``gogooku ensemble`` (``gogooku.research.ensemble.run_ensemble``), ``gogooku ablate``
(``gogooku.research.ablation.run_ablation``) and
``gogooku evaluate``: the evaluate area's command (``gogooku.evaluate.cli``) plus ``--final`` (score
the sealed hold-out, which needs training, hence this layer above ``train``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gogooku.evaluate.cli import evaluate_and_print
from gogooku.models.registry import kind_names
from gogooku.train.cli import FOLD_HELP, SetOption

# the registry names kinds without importing them, so --help imports no model
KINDS_HELP = f"Model kind: one of {', '.join(kind_names())}."


def _print_summary(run_dir: Path) -> None:
    """Per-fold RankIC rows of the test split and the whole, as a Rich table."""
    from rich.console import Console
    from rich.table import Table

    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics["splits"]["test"]
    horizons = list(test["horizons"])

    def shown(value: object) -> str:
        return "n/a" if value is None else f"{value:+.4f}"

    table = Table(title=f"walk-forward {run_dir.name}: test RankIC per fold")
    for name in ("fold", "first", "last", "days", *(f"RankIC {h}" for h in horizons)):
        table.add_column(name, justify="left" if name == "fold" else "right")
    for f in test.get("folds", []):
        table.add_row(
            str(f["fold"]),
            f["first_date"],
            f["last_date"],
            str(f["n_dates"]),
            *(shown(f["horizons"][h]["rank_ic_mean"]) for h in horizons),
        )
    table.add_row(
        "all",
        test["first_date"],
        test["last_date"],
        str(test["n_dates"]),
        *(shown(test["horizons"][h]["signal"]["rank_ic_mean"]) for h in horizons),
        style="bold",
    )
    Console(width=120).print(table)


def walkforward_command(
    model: str = typer.Option(..., "--model", help=KINDS_HELP),
    dataset: str = typer.Option(
        ..., "--dataset", help="Dataset name: $GOGOOKU_HOME/datasets/NAME/."
    ),
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Run config TOML (default: built-in defaults; on --resume: the saved one). "
            "[data.splits] scheme chooses an expanding or rolling training window.",
        ),
    ] = None,
    folds: str = typer.Option(
        "all", "--folds", help="Folds: all, last:N (the last N) or A..B (inclusive)."
    ),
    seeds: int = typer.Option(
        1, "--seeds", min=1, help="Seeds per fit (seed s adds s to [train] and [model] seed)."
    ),
    refit_every: int = typer.Option(
        1, "--refit-every", min=1, help="Consecutive folds predicted by one fit."
    ),
    executor: str = typer.Option("local", "--executor", help="Where fits run: local or ray."),
    address: str | None = typer.Option(
        None, "--address", help="Ray cluster address (--executor ray)."
    ),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="Threads per fit (default: all cores); a Ray task asks for as many CPUs. The "
        "predictions depend on it (float sums), not on the executor.",
    ),
    run: str | None = typer.Option(None, "--run", help="Run id (default: generated)."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue --run: train only the fits not finished."
    ),
    overrides: SetOption = None,
) -> None:
    """Train a model on every selected walk-forward fold and seed, stitch the test predictions
    into one run and evaluate it.

    Fits are written to runs/RUN/fits/gFFF-sS/ (a group of --refit-every folds starting at fold
    FFF, seed S); each test day takes its predictions from the fit whose folds' test window holds
    it, averaged over seeds, in runs/RUN/predictions.parquet (with fold and n_seeds columns;
    per seed in predictions_by_seed.parquet). metrics.json adds per-fold rows of the test split.
    """
    from gogooku.research.walkforward import run_walkforward
    from gogooku.train.config import load_run_config

    cfg = None  # the kind's defaults (or, with --resume, the run's saved config)
    if config is not None or overrides:
        cfg = load_run_config(config, overrides or (), kind=model)
    run_dir = run_walkforward(
        model,
        dataset,
        cfg,
        folds=folds,
        seeds=seeds,
        refit_every=refit_every,
        executor=executor,
        address=address,
        run_id=run,
        resume=resume,
        threads=threads,
    )
    _print_summary(run_dir)
    typer.echo(f"wrote walk-forward run {run_dir.name} at {run_dir}")


def ensemble_command(
    members: Annotated[
        list[str],
        typer.Option(
            "--member",
            help="A member walk-forward run (id or folder); repeat for each member. All members "
            "must share the dataset, folds and [target] main_horizon/label.",
        ),
    ],
    step: float = typer.Option(
        0.1, "--step", min=0.01, max=1.0, help="Weight grid step (1/step an integer)."
    ),
    run: str | None = typer.Option(None, "--run", help="Run id (default: generated)."),
) -> None:
    """Combine walk-forward runs with weights chosen on each fold's validation days only, and
    write and evaluate the ensemble as a walk-forward run.

    Per fit group, each member's predictions are rank-normalised per day and the weights on the
    simplex grid of --step maximise the mean daily validation RankIC at the members' main
    horizon (ties: nearest to equal weights); test days never enter the choice. The weights are
    in run.json's params.ensemble (docs/models.md, "Ensemble").
    """
    from gogooku.research.ensemble import run_ensemble

    run_dir = run_ensemble(members, step=step, run_id=run)
    params = json.loads((run_dir / "run.json").read_text())["params"]["ensemble"]
    for group, entry in params["groups"].items():
        shown = ", ".join(f"{m} {w:.2f}" for m, w in entry["weights"].items())
        typer.echo(f"{group}: {shown} (validation RankIC {entry['valid_rank_ic']})")
    _print_summary(run_dir)
    typer.echo(f"wrote ensemble run {run_dir.name} at {run_dir}")


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
    final: bool = typer.Option(
        False,
        "--final",
        help="Score the dataset's sealed hold-out for RUN's model kind and config: fit on the "
        "final fold (test = the hold-out) into a new run RUN-final[-N], evaluate it, append a "
        "line to $GOGOOKU_HOME/holdout/ledger.jsonl. Once per (dataset, config); uses the run's "
        "[evaluate] (no --top-k/--cost-bps/--bootstrap).",
    ),
    again: bool = typer.Option(
        False,
        "--again",
        help="With --final: score a (dataset, config) that the ledger already holds (recorded).",
    ),
) -> None:
    """Evaluate a run: write runs/RUN/metrics.json, daily.parquet and report.html.

    Predictions dated in the dataset's sealed hold-out are refused; --final scores the hold-out (see docs/evaluation.md, "Hold-out").
    """
    if not final:
        if again:
            raise typer.BadParameter("--again goes with --final", param_hint="--again")
        evaluate_and_print(run, top_k, cost_bps, replicates, as_json)
        return
    given = [
        name
        for name, value in (
            ("--top-k", top_k),
            ("--cost-bps", cost_bps),
            ("--bootstrap", replicates),
        )
        if value is not None
    ]
    if given:
        raise typer.BadParameter(
            f"{', '.join(given)}: --final scores with the run's own [evaluate] (part of the "
            "config hash)",
            param_hint="--final",
        )
    from gogooku.evaluate.pages import fmt
    from gogooku.research.final import score_holdout

    result = score_holdout(run, again=again)
    if as_json:
        typer.echo((result.final_dir / "metrics.json").read_text(encoding="utf-8"))
        return
    entry = result.entry
    hold = entry["holdout"]
    typer.echo(
        f"hold-out {hold['start']}..{hold['end']} of {entry['dataset']}: {entry['model']} "
        f"config {entry['config_hash'][:12]} fitted as {entry['final_run']}"
        + (" (again)" if entry["again"] else "")
    )
    for h, f in entry["figures"].items():
        ric, sh = f["rank_ic_ci"], f["long_short_sharpe_ci"]
        typer.echo(
            f"hold-out {h:>3s}: RankIC {fmt(f['rank_ic_mean'])} [{fmt(ric[0])}, {fmt(ric[1])}]"
            f"  ICIR {fmt(f['rank_icir'])}  long-short Sharpe {fmt(f['long_short_sharpe'])} "
            f"[{fmt(sh[0])}, {fmt(sh[1])}]"
        )
    typer.echo(
        f"wrote {result.final_dir / 'metrics.json'}; ledger line appended to {result.ledger}"
    )


def _ci(entry: dict) -> str:
    """``+0.0012 [-0.0030, +0.0051]`` of a paired interval (n/a bounds when undefined)."""

    def shown(value: object) -> str:
        return "n/a" if value is None else f"{value:+.4f}"

    return f"{shown(entry['estimate'])} [{shown(entry['low'])}, {shown(entry['high'])}]"


def _decision_table(title: str, label: str, entries: dict, decide) -> None:
    """One row per entry: the validation decision beside the (reported) test differences."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    columns = (label, "valid days", "Δ valid RankIC [95 %]", "decision", "test days")
    for name in (*columns, "Δ test RankIC [95 %]", "Δ test LS Sharpe [95 %]"):
        table.add_column(name, justify="left" if name in (label, "decision") else "right")
    for name, entry in entries.items():
        valid, test = entry["valid"], entry["test"]
        table.add_row(
            name,
            str(valid["n_days"]),
            _ci(valid["rank_ic_diff"]),
            decide(entry) + (" (clear)" if valid["clear"] else ""),
            str(test["n_days"]),
            _ci(test["rank_ic_diff"]),
            _ci(test["ls_sharpe_diff"]),
        )
    Console(width=140).print(table)


def _print_ablation(record: dict) -> None:
    """The variants' decisions (full − variant) and the trials' (trial − full)."""
    kind, h = record["kind"], record["horizon"]
    if record["variants"]:
        _decision_table(
            f"ablation of {kind} (full − variant, RankIC {h}d)",
            "variant",
            record["variants"],
            lambda v: f"{v['component']}: " + ("keep" if v["valid"]["keep"] else "off"),
        )
    if record.get("trials"):
        _decision_table(
            f"trials of {kind} (trial − full, RankIC {h}d)",
            "trial",
            record["trials"],
            lambda t: "adopt" if t["valid"]["keep"] else "leave off",
        )


def ablate_command(
    dataset: str = typer.Option(
        ..., "--dataset", help="Dataset name: $GOGOOKU_HOME/datasets/NAME/."
    ),
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Run config TOML of an atft, apex or master [model] (any with --no-switches).",
        ),
    ] = None,
    model: str | None = typer.Option(
        None,
        "--model",
        help="Model kind: atft, apex or master (any kind with --no-switches; default: the "
        "config's [model] kind; without --config: atft with its defaults). Must match the "
        "config's kind.",
        show_default=False,
    ),
    fold: int | None = typer.Option(
        None, "--fold", help=f"One-fold mode: {FOLD_HELP}", show_default=False
    ),
    folds: str | None = typer.Option(
        None,
        "--folds",
        help="Walk-forward mode: every variant walked forward over these folds (all, last:N or "
        "A..B), decided on every fit's validation days.",
        show_default=False,
    ),
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="Threads per walk-forward fit (default: all cores)."
    ),
    split: str = typer.Option(
        "test", "--split", help="Split of the metrics table and the HTML (one-fold mode)."
    ),
    trials: Annotated[
        Path | None,
        typer.Option(
            "--trials",
            help="TOML file of trials: each top-level table (e.g. [mse.loss] mse = 0.5) is a "
            "partial run config merged into the config and run beside full; a trial is adopted "
            "only if it beats full on validation.",
            show_default=False,
        ),
    ] = None,
    switches: bool = typer.Option(
        True,
        "--switches/--no-switches",
        help="Run the variants without each switch (--no-switches: full and the trials only, "
        "any model kind).",
    ),
    overrides: SetOption = None,
) -> None:
    """Train a network as configured (full) and without each of its switches that is on, and
    decide on validation which components earn their place; with --trials, also with each
    trial's change, adopted only if it beats full on validation.

    Switches: atft gat, norm (FAN/SAN -> instance), attention, linear_skip; apex market_gate,
    attention (attention_layers 0), linear_skip; master market_gate, inter_stock,
    temporal_aggregation, linear_skip. Rule: a component is kept on only if the full model
    beats the variant without it on validation: the mean over the validation days of every
    fit of daily RankIC(full) - RankIC(variant) at the main horizon is > 0 (printed with its
    paired block-bootstrap 95 % interval). The test days' paired differences are reported,
    never decided on. Runs are ablate-STAMP-VARIANT; the decisions are written to
    runs/ablate-STAMP.json beside runs/ablate-STAMP.html (docs/models.md, "Ablation").
    """
    import datetime as dt

    from rich.console import Console

    from gogooku.config import ConfigError
    from gogooku.evaluate.compare import compare_table, load_evaluated, write_compare
    from gogooku.io import atomic_write_text
    from gogooku.research.ablation import check_kind, run_ablation, variants
    from gogooku.research.trials import read_trials
    from gogooku.train.config import load_run_config

    if fold is not None and folds is not None:
        raise ConfigError("ablate: give --fold (one fold) or --folds (walk-forward), not both")
    if folds is not None and split != "test":
        raise ConfigError(
            f"ablate --folds: --split {split!r}: walk-forward runs have test days only"
        )
    if not switches and trials is None:
        raise ConfigError("ablate --no-switches: nothing to run without --trials")
    if model is not None and switches:
        check_kind(model)
    cfg = load_run_config(config, overrides or (), kind=model or "atft")
    if model is not None and cfg.model.kind != model:
        raise ConfigError(f"--model {model!r} but {config}'s [model] kind is {cfg.model.kind!r}")
    if switches:
        check_kind(cfg.model.kind)
    taken = {"full", *(variants(cfg.model) if switches else ())}
    tried = read_trials(trials, taken) if trials is not None else None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")

    def announce(name: str, updates: dict[str, object]) -> None:
        typer.echo(f"ablation {name}: {updates or 'as configured'}")

    record, runs = run_ablation(
        dataset, cfg, stamp, fold, folds, threads, announce, tried, switches, trials or "trials"
    )
    loaded = load_evaluated(runs.values())
    Console().print(compare_table(loaded, split))
    _print_ablation(record)
    root = runs["full"].parent
    html = write_compare(loaded, split, root / f"ablate-{stamp}.html")
    out = atomic_write_text(root / f"ablate-{stamp}.json", json.dumps(record, indent=2) + "\n")
    typer.echo(f"wrote {html} and {out}")
