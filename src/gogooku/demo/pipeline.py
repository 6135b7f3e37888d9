"""The demo's stages, each timed: fetch → build → folds → train → search → compare → serve.

* **fetch**: the synthetic market (``gogooku.synth``) served by its V2 app and fetched by the
  real ``JQuantsClient`` into ``$GOGOOKU_HOME/raw`` (``fetch_synthetic_market``); skipped when
  the store already holds that market up to the plan's end (``synthetic_up_to_date``). Every
  dataset but the ticks (``DEMO_SKIPS``: no feature block reads them, and their bulk files would
  be the largest part of the fetch).
* **build**: ``build_dataset("demo", build_start, end)`` with every default block (the opt-in ``gemb`` is left out).
* **folds**: the dataset's walk-forward folds under the demo's splits; the last
  ``plan.walkforward_folds`` are compared (their test days are the latest the labels allow).
* **train**: each of ``plan.MODELS`` as a walk-forward run over those folds, re-fitted every
  ``plan.refit_every`` folds (``gogooku.research.walkforward.run_walkforward``; run folders
  ``runs/demo-NAME/``, replaced when they exist), stitched and evaluated.
* **search**: a short LightGBM study on the first compared fold's validation days and the tuned
  walk-forward run ``demo-lgbm-tuned`` (``gogooku.demo.search``).
* **compare**: the runs paired on their common test days (``gogooku.evaluate.compare``: mean
  daily RankIC difference to the ridge with block-bootstrap intervals, Diebold–Mariano t,
  long-short Sharpe difference), the per-run table (:func:`comparison`) and ``demo/compare.html``.
* **serve**: bundle + promote the latest fit of the run best on validation, score the latest
  day, start the ranking service, print ``/v1/rankings``' top 10, stop it
  (``gogooku.demo.serving``).

``demo/summary.json`` holds the plan, each stage's and model's wall seconds, the folds, the
tables, the search's best trial and what was served.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from gogooku.dataset.build import build_dataset, dataset_dir
from gogooku.dataset.coverage import block_coverage, coverage_table
from gogooku.dataset.splits import dataset_folds
from gogooku.demo.plan import DATASET, MODELS, RUN_PREFIX, DemoPlan, run_config, splits_override
from gogooku.demo.search import search_and_train, search_config
from gogooku.demo.serving import choose_run, deploy
from gogooku.evaluate.compare import (
    EvaluatedRun,
    compare_runs,
    comparison_tables,
    load_runs,
    write_compare,
)
from gogooku.io import atomic_write_text
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.research.walkforward import run_walkforward
from gogooku.settings import Plan, Settings
from gogooku.store.raw import RawStore
from gogooku.store.synthetic import (
    fetch_synthetic_market,
    synthetic_label,
    synthetic_up_to_date,
)

SPLIT = "test"
HORIZONS = ("1d", "5d", "10d", "20d")
# (column, path in metrics.json's splits.test.horizons.<main>) of the printed table; RankIC
# is shown for every horizon, the rest at the main horizon. LS = the long-short top-K/bottom-K
# book after costs (net); "vs oracle" = RankIC / the oracle's RankIC.
MAIN_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("RankIC IR", ("signal", "rank_icir")),
    ("LS Sharpe", ("portfolio", "long_short", "net", "sharpe")),
    ("LS maxDD", ("portfolio", "long_short", "net", "max_drawdown")),
    ("vs oracle", ("vs_oracle", "rank_ic_vs_oracle")),
)


@dataclass
class StageClock:
    """Prints a numbered header per stage and records its wall seconds (and the models') and
    its CPU seconds (``time.process_time``: every thread of this process, the steadier figure
    on a shared machine)."""

    console: Console
    total: int
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    model_seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, what: str) -> Iterator[None]:
        self.console.rule(f"[bold]{len(self.seconds) + 1}/{self.total} {name}[/]: {what}")
        t0, c0 = time.perf_counter(), time.process_time()
        yield
        self.seconds[name] = round(time.perf_counter() - t0, 2)
        self.cpu_seconds[name] = round(time.process_time() - c0, 2)
        self.console.print(
            f"[green]{name} done in {self.seconds[name]:.1f} s "
            f"({self.cpu_seconds[name]:.1f} CPU s)[/]"
        )


def _get(tree: Any, path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return float(tree) if isinstance(tree, int | float) else None


def comparison(metrics: list[dict], main_horizon: str) -> list[dict[str, Any]]:
    """One row per run on the test split: ``run``, ``RankIC <h>`` for every horizon and the
    ``MAIN_COLUMNS`` at ``main_horizon`` (None where the metric is undefined)."""
    rows = []
    for m in metrics:
        horizons = m["splits"][SPLIT]["horizons"]
        row: dict[str, Any] = {"run": m["run"]["run_id"]}
        for h in HORIZONS:
            row[f"RankIC {h}"] = _get(horizons, (h, "signal", "rank_ic_mean"))
        for label, path in MAIN_COLUMNS:
            row[f"{label} {main_horizon}"] = _get(horizons, (main_horizon, *path))
        rows.append(row)
    return rows


def print_comparison(console: Console, rows: list[dict[str, Any]], title: str) -> None:
    """The table transposed: one line per metric, one column per run (``demo-`` dropped, a
    hyphenated name on two header lines); borderless so that eight runs fit 80 columns."""
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0))
    table.add_column("metric", no_wrap=True)
    for row in rows:
        header = row["run"].removeprefix(RUN_PREFIX).replace("-", "\n")
        table.add_column(header, justify="right", no_wrap=True, min_width=6)
    for metric in list(rows[0])[1:]:
        values = [row[metric] for row in rows]
        table.add_row(
            metric, *("n/a" if v is None or not math.isfinite(v) else f"{v:+.3f}" for v in values)
        )
    console.print(table)


# Fetched by `gogooku fetch`, not by the demo: no feature block reads the ticks.
DEMO_SKIPS = frozenset({"equities_trades"})


def _fetch(plan: DemoPlan, settings: Settings, console: Console) -> str:
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market

    store = RawStore(settings.raw_dir)
    label = synthetic_label(plan.seed, plan.stocks, plan.start, plan.market_version)
    if synthetic_up_to_date(store, plan.start, plan.end, None, Plan.PREMIUM, label):
        console.print(f"{settings.raw_dir} already holds {label} up to {plan.end}: no requests")
        return label
    console.print(f"generating {label} up to {plan.end}")
    market = generate_market(
        SynthConfig(
            seed=plan.seed,
            stocks=plan.stocks,
            start=plan.start,
            end=plan.end,
            market_version=plan.market_version,
        )
    )
    datasets = [d for d in ENDPOINTS if d not in DEMO_SKIPS]
    report, oracle = fetch_synthetic_market(store, market, datasets, console=console, bulk=True)
    files = sum(r.bulk_files for r in report.results.values())
    console.print(
        f"{len(report.results)} datasets through the J-Quants V2 client, "
        f"{report.requests} requests, {files} bulk files; oracle {len(oracle)} month(s)"
    )
    return label


def _train(
    plan: DemoPlan,
    configs_dir: Path,
    settings: Settings,
    console: Console,
    clock: StageClock,
) -> list[Path]:
    run_dirs = []
    for model in MODELS:
        cfg = run_config(model, plan, configs_dir)
        run_id = f"{RUN_PREFIX}{model.name}"
        old = settings.runs_dir / run_id
        if old.exists():
            shutil.rmtree(old)
        t0 = time.perf_counter()
        run_dirs.append(
            run_walkforward(
                model.kind,
                DATASET,
                cfg,
                folds=f"last:{plan.walkforward_folds}",
                refit_every=plan.refit_every,
                run_id=run_id,
            )
        )
        seconds = round(time.perf_counter() - t0, 2)
        clock.model_seconds[model.name] = seconds
        console.print(
            f"  {run_id}: {model.kind} ({model.config}) trained and evaluated in {seconds:.1f} s"
        )
    return run_dirs


def _reference_first(run_dirs: list[Path]) -> list[EvaluatedRun]:
    """The runs for the paired comparison, the ridge first: every other run is compared to it."""
    ridge = [d for d in run_dirs if d.name == f"{RUN_PREFIX}ridge"]
    return load_runs([*ridge, *(d for d in run_dirs if d not in ridge)])


def check_inputs(plan: DemoPlan, configs_dir: Path) -> None:
    """Read and check every config the stages will use (each model's run config, the demo's data
    sections, the search config), so a missing or invalid one stops the demo at once rather than
    after the minutes of fetch and build."""
    for model in MODELS:
        run_config(model, plan, configs_dir)
    search_config(plan, configs_dir)
    splits_override(configs_dir)


def run_demo(
    plan: DemoPlan,
    configs_dir: Path,
    settings: Settings,
    console: Console,
) -> dict:
    """Run every stage for ``plan``; returns (and writes) ``demo/summary.json``'s content.
    Every input is checked first (``check_inputs``)."""
    check_inputs(plan, configs_dir)
    clock = StageClock(console, total=7)
    demo_dir = settings.home / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    with clock.stage(
        "fetch", f"synthetic J-Quants V2 market, {plan.stocks} stocks, {plan.start}..{plan.end}"
    ):
        label = _fetch(plan, settings, console)
    with clock.stage("build", f"point-in-time panel {plan.build_start}..{plan.end}, every block"):
        built = build_dataset(DATASET, plan.build_start, plan.end, show_progress=False)
        console.print(
            f"{built.path}: {built.rows} rows, {built.stocks} stocks, {built.dates} days, "
            f"{len(built.blocks)} blocks"
        )
        console.print(coverage_table(block_coverage(built.path)))
    with clock.stage("folds", "walk-forward folds; the last ones' test days are compared"):
        first_cfg = run_config(MODELS[0], plan, configs_dir)
        folds = dataset_folds(dataset_dir(DATASET), first_cfg.data.splits)
        compared = folds[-plan.walkforward_folds :]
        first, last = compared[0], compared[-1]
        test = (first.test.start, last.test.end)
        console.print(
            f"{len(folds)} folds; folds {first.index}..{last.index} compared: test "
            f"{test[0]}..{test[1]} ({sum(f.test.days for f in compared)} days), one fit per "
            f"{plan.refit_every} folds; the first fit trains {first.train.start}..{first.train.end}"
        )
    with clock.stage(
        "train",
        ", ".join(m.name for m in MODELS)
        + f": walk-forward over folds {first.index}..{last.index}",
    ):
        run_dirs = _train(plan, configs_dir, settings, console, clock)
    with clock.stage(
        "search", f"{plan.hpo_trials} LightGBM trials on fold {first.index}'s validation days"
    ):
        tuned, study = search_and_train(plan, configs_dir, settings.home, first.index, console)
        run_dirs.append(tuned)
    with clock.stage("compare", f"{SPLIT} days {test[0]}..{test[1]}, paired, after costs"):
        metrics = [json.loads((d / "metrics.json").read_text(encoding="utf-8")) for d in run_dirs]
        main = f"{first_cfg.target.main_horizon}d"
        rows = comparison(metrics, main)
        print_comparison(
            console,
            rows,
            f"{SPLIT} days {test[0]}..{test[1]}, stitched walk-forward (LS: long-short book "
            "after costs; vs oracle: RankIC / oracle RankIC)",
        )
        paired = compare_runs(_reference_first(run_dirs), SPLIT)
        for table in comparison_tables(paired):
            console.print(table)
        compare_html = demo_dir / "compare.html"
        write_compare(metrics, SPLIT, compare_html, paired)
    with clock.stage("serve", "bundle and promote the best run on validation, serve, query"):
        kinds = {d.name: m["run"]["model"] for d, m in zip(run_dirs, metrics, strict=True)}
        served = deploy(choose_run(run_dirs, kinds), settings.home, console)
    summary = {
        "plan": plan.model_dump(mode="json"),
        "market": label,
        "dataset": str(dataset_dir(DATASET)),
        "folds": {
            "compared": [f.index for f in compared],
            "refit_every": plan.refit_every,
            "test": [test[0].isoformat(), test[1].isoformat()],
        },
        "runs": {d.name: str(d) for d in run_dirs},
        "compare_html": str(compare_html),
        "main_horizon": main,
        "table": rows,
        "paired": paired.to_json(),
        "search": {
            "best": study["best"],
            "report": str(settings.home / "demo" / "hpo" / "report.html"),
        },
        "served": served,
        "stage_seconds": clock.seconds,
        "stage_cpu_seconds": clock.cpu_seconds,
        "model_seconds": clock.model_seconds,
        "total_seconds": round(sum(clock.seconds.values()), 2),
        "total_cpu_seconds": round(sum(clock.cpu_seconds.values()), 2),
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
    }
    atomic_write_text(demo_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
