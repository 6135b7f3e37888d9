"""Ablation of a network's switches: does each component left on in a config earn its place?

**Variants.** ``variants(model)`` is ``full`` (the config as given) and one ``no_<component>``
per switch of :data:`SWITCHES` that is on in the config's ``[model]`` (a switch already off has
nothing to ablate): ATFT ``gat``, ``norm`` (FAN or SAN → a plain instance norm; the variant is
``no_fan`` / ``no_san``), ``attention``, ``linear_skip``; APEX ``market_gate``, ``attention``
(``attention_layers = 0``), ``linear_skip``; MASTER ``market_gate``, ``inter_stock``,
``temporal_aggregation``, ``linear_skip``. Turning the linear skip off also sets
``linear_skip_init = "random"`` (a ridge start needs the skip).

**Decision (validation only).** Each variant is trained on one fold or walked forward over
several (``gogooku.research.walkforward``); its validation record is every fit's validation
days (a fit's ``predictions.parquet``, split ``valid``) scored against the run's labels at the
main horizon h: the daily RankIC r_t (:func:`gogooku.evaluate.metrics.daily_ic`). For the pair
(full, variant) the days are the (fit, day) pairs both have, in fit then date order, and
d_t = r_t(full) − r_t(variant); the record holds mean(d) with its paired circular
block-bootstrap 95 % interval (block max(h, ⌈n^{1/3}⌉),
:func:`gogooku.evaluate.paired.mean_difference_ci`). **Rule:** the component is kept on only
if mean(d) > 0 (the full model beats the variant without it on validation), else it is off;
``clear`` says whether the interval excludes 0.

**Trials** (``--trials FILE``, :mod:`gogooku.research.trials`): ideas that are off in the
config (another loss, an embedding, phases), each switched on by a partial run config and run
beside ``full``; a trial is adopted only if it beats ``full`` on validation (the same paired
difference, trial − full). Without switches (``switches=False``) only ``full`` and the trials
run, for any model kind.

**Test record (reported, never decided on).** ``gogooku compare``'s paired rows of variant
(A) and full (B) on their common test days (:func:`gogooku.evaluate.compare.compare_runs`,
split ``test``): Δ RankIC(h) = full − variant with its interval and Δ long-short net Sharpe.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from gogooku.config import ConfigError
from gogooku.dataset.build import dataset_dir
from gogooku.dataset.splits import dataset_folds
from gogooku.evaluate import bootstrap, paired
from gogooku.evaluate.compare import compare_runs, load_runs
from gogooku.evaluate.evaluator import load_targets
from gogooku.evaluate.metrics import daily_ic
from gogooku.models.registry import get_kind
from gogooku.research.plan import FITS_DIR
from gogooku.research.trials import RULE as TRIAL_RULE
from gogooku.research.trials import trial_config
from gogooku.research.walkforward import run_walkforward
from gogooku.runs import load_run, read_predictions
from gogooku.settings import get_settings
from gogooku.target import pred_column
from gogooku.train.config import RunConfig
from gogooku.train.run import resolve_fold, train_run

RIDGE_OFF: dict[str, object] = {"linear_skip": False, "linear_skip_init": "random"}
# kind → component → the [model] values that turn it off
SWITCHES: dict[str, dict[str, dict[str, object]]] = {
    "atft": {
        "gat": {"gat": False},
        "norm": {"norm": "instance"},
        "attention": {"attention": False},
        "linear_skip": RIDGE_OFF,
    },
    "apex": {
        "market_gate": {"market_gate": False},
        "attention": {"attention_layers": 0},
        "linear_skip": RIDGE_OFF,
    },
    "master": {
        "market_gate": {"market_gate": False},
        "inter_stock": {"inter_stock": False},
        "temporal_aggregation": {"temporal_aggregation": False},
        "linear_skip": RIDGE_OFF,
    },
}
FULL = "full"


def check_kind(kind: str) -> None:
    """A ConfigError naming the kinds ablate takes when ``kind`` has no switches."""
    if kind not in SWITCHES:
        raise ConfigError(
            f"ablate: model kind {kind!r} has no switches to ablate; expected one of "
            f"{', '.join(SWITCHES)}"
        )


def variant_name(model: Any, component: str) -> str:
    """``no_<component>`` of a [model] config; the norm is named by what it is (``no_fan``, ``no_san``)."""
    return f"no_{model.norm}" if component == "norm" else f"no_{component}"


def variants(model: Any) -> dict[str, tuple[str | None, dict[str, object]]]:
    """name → (component, [model] updates): ``full`` (None, {}) and one variant per switch of
    the model's kind that is on in ``model`` (its first update's key differs from the value)."""
    kind = model.kind
    check_kind(kind)
    out: dict[str, tuple[str | None, dict[str, object]]] = {FULL: (None, {})}
    for component, off in SWITCHES[kind].items():
        key, value = next(iter(off.items()))  # the switch itself; the rest follows it
        if getattr(model, key) != value:
            out[variant_name(model, component)] = (component, off)
    return out


def variant_config(cfg: RunConfig, updates: Mapping[str, object]) -> RunConfig:
    """``cfg`` with its ``[model]`` updated and validated again."""
    model = type(cfg.model).model_validate({**cfg.model.model_dump(), **updates})
    return cfg.model_copy(update={"model": model})


def fit_dirs(run_dir: Path) -> dict[str, Path]:
    """The fits of a run by the key its variants share: a walk-forward run's ``fits/g*-s*`` by
    name, in order, or ``{"run": run_dir}`` for a one-fold run."""
    fits = sorted((Path(run_dir) / FITS_DIR).glob("g*-s*"))
    return {f.name: f for f in fits} if fits else {"run": Path(run_dir)}


def validation_days(fits: Mapping[str, Path], labels: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """``fit, Date, rank_ic``: the daily RankIC(horizon) of every fit's validation predictions
    against ``labels`` (``Date, Code, target_{h}d``), days without a finite RankIC left out."""
    column, label = pred_column(horizon), f"target_{horizon}d"
    parts = []
    for key, fit in fits.items():
        valid = (
            read_predictions(fit).filter(pl.col("split") == "valid").select("Date", "Code", column)
        )
        joined = valid.join(labels.select("Date", "Code", label), on=["Date", "Code"], how="left")
        parts.append(
            daily_ic(joined, column, label).select("Date", "rank_ic").with_columns(fit=pl.lit(key))
        )
    days = pl.concat(parts).filter(pl.col("rank_ic").is_finite())
    return days.select("fit", "Date", "rank_ic")


def validation_decision(
    full: pl.DataFrame,
    variant: pl.DataFrame,
    horizon: int,
    replicates: int,
    names: tuple[str, str] = ("full", "variant"),
) -> dict[str, object]:
    """The paired validation difference full − variant on their common (fit, day) pairs and the
    decision (module doc): keep = mean(full − variant) > 0. ``names`` name the two mean RankICs
    in the record (a trial is decided as ``("trial", "full")``: keep = adopt the trial)."""
    both = full.join(variant, on=["fit", "Date"], suffix="_variant").sort("fit", "Date")
    if both.height < 2:
        raise ConfigError(
            f"ablate: {names[0]} and {names[1]} share {both.height} validation day(s) with a "
            f"finite {horizon}d RankIC; need at least 2"
        )
    a = both["rank_ic_variant"].to_numpy().astype(np.float64)
    b = both["rank_ic"].to_numpy().astype(np.float64)
    diff = paired.mean_difference_ci(a, b, horizon, replicates)
    low, high = diff["low"], diff["high"]
    keep = float(b.mean() - a.mean()) > 0
    return {
        "n_days": both.height,
        "first_date": both["Date"].min().isoformat(),
        "last_date": both["Date"].max().isoformat(),
        f"{names[0]}_rank_ic": float(b.mean()),
        f"{names[1]}_rank_ic": float(a.mean()),
        "rank_ic_diff": diff,
        "keep": keep,
        "clear": low is not None and high is not None and (low > 0 or high < 0),
    }


def test_record(
    full_run: Path,
    variant_run: Path,
    horizon: int,
    replicates: int,
    names: tuple[str, str] = ("full", "variant"),
) -> dict:
    """``compare_runs``' paired test rows of (variant, full) at ``horizon``: B − A = full −
    variant (reported only); ``names`` as in :func:`validation_decision`."""
    comparison = compare_runs(load_runs([variant_run, full_run]), "test", replicates=replicates)
    hc = next(h for h in comparison.horizons if h.horizon == horizon)
    pair = hc.pairs[0]
    return {
        "n_days": hc.n_days,
        "first_date": hc.first.isoformat(),
        "last_date": hc.last.isoformat(),
        f"{names[0]}_rank_ic": hc.per_run[full_run.name]["rank_ic_mean"],
        f"{names[1]}_rank_ic": hc.per_run[variant_run.name]["rank_ic_mean"],
        "rank_ic_diff": pair["rank_ic_diff"],
        "ls_sharpe_diff": pair["ls_sharpe_diff"],
    }


def ablation_record(
    runs: Mapping[str, Path],
    components: Mapping[str, str | None],
    labels: pl.DataFrame,
    horizon: int,
    replicates: int = bootstrap.DEFAULT_REPLICATES,
    trials: Collection[str] = (),
) -> dict[str, object]:
    """The decision per variant from the validation days of ``runs`` (name → run folder, ``full``
    among them) and the test record beside it; the runs named in ``trials`` are decided as trials
    (``gogooku.research.trials``: trial − full, keep = adopt); ``labels`` as
    :func:`validation_days`."""
    full_dir = runs[FULL]
    full = validation_days(fit_dirs(full_dir), labels, horizon)
    switched, tried = {}, {}
    for name, run_dir in runs.items():
        if name == FULL:
            continue
        days = validation_days(fit_dirs(run_dir), labels, horizon)
        if name in trials:
            order = ("trial", "full")
            tried[name] = {
                "run": run_dir.name,
                "valid": validation_decision(days, full, horizon, replicates, order),
                "test": test_record(run_dir, full_dir, horizon, replicates, order),
            }
        else:
            switched[name] = {
                "component": components[name],
                "run": run_dir.name,
                "valid": validation_decision(full, days, horizon, replicates),
                "test": test_record(full_dir, run_dir, horizon, replicates),
            }
    record: dict[str, object] = {
        "horizon": horizon,
        "full_run": full_dir.name,
        "rule": "keep a component on only if mean daily validation RankIC(full) − "
        "RankIC(without it) > 0; test days are reported, never decided on",
        "variants": switched,
    }
    if trials:
        record |= {"trial_rule": TRIAL_RULE, "trials": tried}
    return record


def run_ablation(
    dataset: str,
    cfg: RunConfig,
    stamp: str,
    fold: int | None = None,
    folds: str | None = None,
    threads: int | None = None,
    on_variant: Callable[[str, dict[str, object]], None] | None = None,
    trials: Mapping[str, dict] | None = None,
    switches: bool = True,
    trials_source: str | Path = "trials",
) -> tuple[dict[str, object], dict[str, Path]]:
    """Train every variant of ``cfg`` (without ``switches``: ``full`` only) and every trial of
    ``trials`` (name → partial run config, read from ``trials_source``) as run
    ``ablate-STAMP-NAME`` — on fold ``fold`` (default the last), or walked forward over ``folds``
    when given — and return the ablation record (:func:`ablation_record` with ``[evaluate]
    bootstrap`` replicates, plus what was run) and name → run folder."""
    kind = cfg.model.kind
    plan = variants(cfg.model) if switches else {FULL: (None, {})}
    configs = {name: variant_config(cfg, updates) for name, (_, updates) in plan.items()}
    trials = dict(trials or {})
    for name, update in trials.items():
        if name in configs:
            raise ConfigError(f"{trials_source}: trial {name!r} has the name of a variant")
        configs[name] = trial_config(cfg, name, update, trials_source)
    if folds is None:
        n = len(dataset_folds(dataset_dir(dataset), cfg.data.splits))
        fold = resolve_fold(fold, n, dataset)  # one index for every variant's run.json
    runs: dict[str, Path] = {}
    for name, vcfg in configs.items():
        if on_variant is not None:
            on_variant(name, trials[name] if name in trials else plan[name][1])
        run_id = f"ablate-{stamp}-{name}"
        if folds is None:
            runs[name] = train_run(kind, dataset, vcfg, run_id, fold)
        else:
            runs[name] = run_walkforward(
                kind, dataset, vcfg, folds=folds, run_id=run_id, threads=threads
            )
    horizons = get_kind(kind).predicted_horizons(cfg.model, cfg.target)
    horizon = cfg.target.main_horizon if cfg.target.main_horizon in horizons else horizons[0]
    labels, _ = load_targets(get_settings(), dataset, cfg.target.label)
    components = {name: component for name, (component, _) in plan.items()}
    record = ablation_record(
        runs, components, labels, horizon, cfg.evaluate.bootstrap, trials=tuple(trials)
    )
    walked = load_run(runs[FULL]).params.get("walkforward")
    record = {
        "kind": kind,
        "dataset": dataset,
        "folds": walked["folds"] if isinstance(walked, dict) else [fold],
        "walk_forward": folds is not None,
        "switched_off": {name: updates for name, (_, updates) in plan.items() if updates},
        **({"tried": trials} if trials else {}),
        **record,
    }
    return record, runs
