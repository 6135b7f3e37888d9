"""``gogooku demo``: the plan and table helpers, and the ``--quick`` run end to end."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.config import CONFIGS_DIR, ConfigError, SplitConfig, load_config
from gogooku.demo import pipeline
from gogooku.demo.pipeline import comparison, print_comparison
from gogooku.demo.plan import (
    DATA_CONFIG,
    MODELS,
    DemoModel,
    demo_plan,
    run_config,
    splits_override,
)
from gogooku.demo.serving import choose_run
from gogooku.errors import GogookuError
from gogooku.models.registry import get_kind
from gogooku.research.validation import write_validation
from gogooku.research.walkforward import run_walkforward
from gogooku.train.config import load_run_config

CONFIGS = CONFIGS_DIR
RUN_IDS = [f"demo-{m.name}" for m in MODELS] + ["demo-lgbm-tuned"]


def _metrics(run_id: str, rank_ic: float, oracle_share: float | None) -> dict:
    horizon = {
        "signal": {"rank_ic_mean": rank_ic, "rank_icir": 2 * rank_ic},
        "portfolio": {"long_short": {"net": {"sharpe": 1.5, "max_drawdown": -0.1}}},
        "vs_oracle": {"rank_ic_vs_oracle": oracle_share},
    }
    return {"run": {"run_id": run_id}, "splits": {"test": {"horizons": {"5d": horizon}}}}


def test_comparison_reads_each_runs_test_metrics_and_marks_missing_horizons():
    rows = comparison([_metrics("demo-a", 0.05, 0.5), _metrics("demo-b", -0.02, None)], "5d")
    assert [r["run"] for r in rows] == ["demo-a", "demo-b"]
    assert rows[0]["RankIC 5d"] == 0.05 and rows[1]["RankIC 5d"] == -0.02
    assert rows[0]["RankIC 1d"] is None  # horizon absent from the run's metrics
    assert rows[0]["RankIC IR 5d"] == 0.1
    assert rows[0]["LS Sharpe 5d"] == 1.5 and rows[0]["LS maxDD 5d"] == -0.1
    assert rows[0]["vs oracle 5d"] == 0.5 and rows[1]["vs oracle 5d"] is None
    console = Console(record=True, width=120)
    print_comparison(console, rows, "t")
    text = console.export_text()
    assert "+0.050" in text and "-0.020" in text and "n/a" in text and "demo-a" not in text


def test_plans_and_run_configs(tmp_path):
    quick, default = demo_plan(True, 3, None), demo_plan(False, 3, 250)
    assert quick.stocks < default.stocks == 250 and quick.neural_epochs == 1
    assert quick.seed == default.seed == 3
    assert quick.market_version == default.market_version == 2
    assert demo_plan(True, 3, None, market_version=1).market_version == 1
    demo_splits = load_config(CONFIGS / DATA_CONFIG, SplitConfig, section="splits")
    for model in MODELS:
        cfg = run_config(model, quick, CONFIGS)
        # the demo's short splits, never the shipped run configs' ten-year ones
        assert cfg.data.splits == demo_splits and demo_splits.train_days == 100
        assert cfg.data.loader == load_run_config(CONFIGS / model.config).data.loader
        if get_kind(model.kind).neural:
            assert (cfg.train.epochs, cfg.train.seed, cfg.train.progress) == (1, 3, False)
    assert {m.kind for m in MODELS} >= {"factor", "linear", "lgbm", "atft", "apex"}
    lgbm = run_config(next(m for m in MODELS if m.kind == "lgbm"), quick, CONFIGS)
    assert lgbm.model.seed == 3
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        run_config(DemoModel(name="x", kind="lgbm", config="nope.toml"), quick, CONFIGS)
    with pytest.raises(ConfigError, match="expects 'atft'"):
        run_config(DemoModel(name="x", kind="atft", config="lgbm.toml"), quick, CONFIGS)
    # the --set the demo prints for ablate / hpo on its dataset gives the same splits
    given = splits_override(CONFIGS).removeprefix("--set ").strip("'")
    assert load_run_config(CONFIGS / "atft.toml", [given]).data.splits == demo_splits
    (tmp_path / "lgbm.toml").write_text((CONFIGS / "lgbm.toml").read_text())
    with pytest.raises(ConfigError, match=r"demo_data\.toml: demo data config missing"):
        run_config(next(m for m in MODELS if m.kind == "lgbm"), quick, tmp_path)


@pytest.mark.slow
def test_quick_demo_writes_reports_and_a_finite_reproducible_table(tmp_path):
    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["demo", "--quick", "--home", str(home)])
    assert result.exit_code == 0, result.output
    summary = json.loads((home / "demo" / "summary.json").read_text())
    assert list(summary["stage_seconds"]) == [
        "fetch",
        "build",
        "folds",
        "train",
        "search",
        "compare",
        "serve",
    ]
    assert list(summary["model_seconds"]) == [m.name for m in MODELS]
    assert (home / "demo" / "compare.html").is_file()
    for run_id in RUN_IDS:
        assert (home / "runs" / run_id / "report.html").is_file()
    rows = {r["run"]: r for r in summary["table"]}
    assert list(rows) == RUN_IDS
    for run_id, row in rows.items():
        predicted = json.loads((home / "runs" / run_id / "run.json").read_text())["horizons"]
        for key, v in row.items():
            horizon = key.rsplit(" ", 1)[-1]
            if key == "run" or (key.startswith("RankIC ") and int(horizon[:-1]) not in predicted):
                continue
            assert v is not None and math.isfinite(v), (run_id, key)
    assert rows["demo-lgbm"]["RankIC 1d"] is None  # lgbm fits the main horizon only
    assert rows["demo-oracle"]["vs oracle 5d"] == pytest.approx(1.0)
    # a stitched walk-forward of at least 120 test days, every run on the same days, paired
    assert summary["folds"]["compared"] == list(range(1, 7))
    for run_id in RUN_IDS:
        info = json.loads((home / "runs" / run_id / "run.json").read_text())
        assert [f["fold"] for f in info["folds"]] == summary["folds"]["compared"]
        preds = pl.read_parquet(home / "runs" / run_id / "predictions.parquet")
        assert preds["Date"].n_unique() >= 120
    paired = summary["paired"]
    main = next(h for h in paired["horizons"] if h["horizon"] == summary["main_horizon"])
    assert paired["reference"] == "demo-ridge" and main["n_days"] >= 120
    assert len(main["pairs"]) == len(RUN_IDS) - 1
    assert summary["search"]["best"] is not None
    assert (home / "demo" / "hpo" / "report.html").is_file()
    served = summary["served"]
    assert served["run"] in RUN_IDS and served["model"] != "factor"
    assert [e["rank"] for e in served["top"]] == list(range(1, 11))
    assert (home / "bundles" / "demo").is_dir()
    assert "demo finished" in result.output and "compare.html" in result.output

    # Same data, same config, same seed: LightGBM (threads, bagging seeds) gives the same row.
    plan = demo_plan(True, 7, None)
    again = []
    for model in MODELS:
        if model.kind == "lgbm":
            cfg = run_config(model, plan, CONFIGS)
            run_dir = run_walkforward(
                model.kind,
                "demo",
                cfg,
                folds=f"last:{plan.walkforward_folds}",
                refit_every=plan.refit_every,
                run_id=f"again-{model.name}",
            )
            again.append(json.loads((run_dir / "metrics.json").read_text()))
    for row in comparison(again, summary["main_horizon"]):
        original = rows[row.pop("run").replace("again-", "demo-")]
        assert row == {k: v for k, v in original.items() if k != "run"}


def test_the_served_run_is_chosen_on_validation_never_on_test_and_never_a_factor(tmp_path):
    def run(name: str, valid: float, test: float) -> Path:
        d = tmp_path / name
        d.mkdir()
        splits = {"test": {"horizons": {"5d": {"signal": {"rank_ic_mean": test}}}}}
        (d / "metrics.json").write_text(json.dumps({"splits": splits}))
        write_validation(d, {"horizon": 5, "rank_ic_mean": valid, "fits": []})
        return d

    runs = [run("oracle", 0.9, 0.9), run("lgbm", 0.02, 0.30), run("atft", 0.05, 0.01)]
    kinds = {"oracle": "factor", "lgbm": "lgbm", "atft": "atft"}
    assert choose_run(runs, kinds).name == "atft"
    with pytest.raises(ValueError, match="no bundleable run"):
        choose_run(runs[:1], kinds)


class _Stop(GogookuError):
    """Raised by a stand-in for the demo's first expensive stage."""


def _no_fetch(*args, **kwargs):
    raise _Stop("reached the fetch stage")


def test_demo_from_outside_the_checkout_checks_every_config_before_the_fetch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pipeline, "_fetch", _no_fetch)
    shipped = CliRunner().invoke(app, ["demo", "--quick", "--home", "home"])
    assert shipped.exit_code == 1
    assert shipped.output.strip().endswith("demo failed: reached the fetch stage")

    configs = tmp_path / "configs"
    shutil.copytree(CONFIGS, configs)
    (configs / "hpo_lgbm.toml").unlink()
    args = ["demo", "--quick", "--home", "other", "--configs", str(configs)]
    missing = CliRunner().invoke(app, args)
    assert missing.exit_code == 1
    lines = [line for line in missing.output.splitlines() if "failed" in line]
    assert lines == [
        f"demo failed: {configs / 'hpo_lgbm.toml'}: search config missing (pass --configs DIR)"
    ]
    assert not (tmp_path / "other" / "raw").exists()
    (configs / "lgbm.toml").write_text("[model]\nkind = 'lgbm'\nnum_leaves = 'many'\n")
    invalid = CliRunner().invoke(app, args)
    assert invalid.exit_code == 1 and "lgbm.toml" in invalid.output
    assert "reached the fetch stage" not in invalid.output
