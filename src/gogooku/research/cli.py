"""``gogooku evaluate``: the evaluate area's command (``gogooku.evaluate.cli``), plus ``--final``
(score the sealed hold-out, which needs training, hence this layer above ``train``)."""

from __future__ import annotations

import typer

from gogooku.evaluate import cli as evaluate_cli


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
    """Evaluate a run: write runs/RUN/metrics.json and runs/RUN/report.html.

    Predictions dated in the dataset's sealed hold-out are refused; --final scores the hold-out (see docs/evaluation.md, "Hold-out").
    """
    if not final:
        if again:
            raise typer.BadParameter("--again goes with --final", param_hint="--again")
        evaluate_cli.evaluate_command(
            run=run, top_k=top_k, cost_bps=cost_bps, replicates=replicates, as_json=as_json
        )
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
    from gogooku.evaluate.report import _fmt
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
            f"hold-out {h:>3s}: RankIC {_fmt(f['rank_ic_mean'])} [{_fmt(ric[0])}, {_fmt(ric[1])}]"
            f"  ICIR {_fmt(f['rank_icir'])}  long-short Sharpe {_fmt(f['long_short_sharpe'])} "
            f"[{_fmt(sh[0])}, {_fmt(sh[1])}]"
        )
    typer.echo(
        f"wrote {result.final_dir / 'metrics.json'}; ledger line appended to {result.ledger}"
    )
