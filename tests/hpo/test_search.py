"""End-to-end searches on the tiny dataset: trial folders and reports, resume, a failing trial,
pruning. Through the CLI (in process) and the study API (to enqueue chosen trials)."""

from __future__ import annotations

import json

import optuna
import plotly
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.hpo.objective import SearchJob
from gogooku.hpo.space import load_hpo_config
from gogooku.hpo.study import default_storage, make_pruner, open_study, run_search
from gogooku.train.config import load_run_config

from .conftest import ATFT, LGBM, LGBM_SEARCH

State = optuna.trial.TrialState
ATFT_SEARCH = """
[search]
"train.lr" = {type = "float", low = 1e-3, high = 1e-2, log = true}
"model.dropout" = {type = "float", low = 0.0, high = 0.2, step = 0.1}
"""


def _hpo(config, out, *extra):
    args = ["hpo", "--dataset", "tiny", "--config", str(config), "--output-dir", str(out)]
    result = CliRunner().invoke(app, [*args, *extra])
    assert result.exit_code == 0, result.output
    return result.output


def _trials(out, name):
    storage = default_storage(out)
    return optuna.load_study(study_name=name, storage=storage).get_trials()


@pytest.mark.slow
def test_atft_search_writes_trials_reports_and_resumes(home, write_config, tmp_path):
    config = write_config(ATFT.replace("epochs = 2", "epochs = 5") + ATFT_SEARCH)
    out = tmp_path / "search"
    common = ["--model", "atft", "--study-name", "s1", "--max-epochs", "2", "--folds", "-1"]
    output = _hpo(config, out, *common, "--n-trials", "4", "--pruner", "none", "--seed", "1")
    trials = _trials(out, "s1")
    assert [t.state for t in trials] == [State.COMPLETE] * 4
    assert "study s1 (rank_ic, maximize)" in output
    for t in trials:
        folder = out / f"trial_{t.number:03d}"
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["state"] == "complete" and metrics["value"] == pytest.approx(t.value)
        assert [f["fold"] for f in metrics["folds"]] == [2]
        assert set(metrics["folds"][0]) == {"fold", "run_id", "run_dir", "rank_ic"}
        rows = [json.loads(s) for s in (folder / "history.jsonl").read_text().splitlines()]
        assert [(r["fold"], r["epoch"], r["step"]) for r in rows] == [(2, 0, 0), (2, 1, 1)]
        cfg = load_run_config(folder / "config.toml")
        assert cfg.train.epochs == 2 and cfg.train.lr == pytest.approx(t.params["train.lr"])
        assert list(t.intermediate_values) == [0, 1]
        # trials never evaluate: no test metrics anywhere in the trial's run
        run_dir = metrics["folds"][0]["run_dir"]
        assert not (home / "runs" / metrics["folds"][0]["run_id"] / "metrics.json").exists()
        assert run_dir.startswith(str(home / "runs"))
    summary = json.loads((out / "summary.json").read_text())
    best = max(trials, key=lambda t: t.value)
    assert summary["best"]["number"] == best.number
    assert summary["counts"]["complete"] == 4 and len(summary["trials"]) == 4
    report = (out / "report.html").read_text()
    for title in ("Optimisation history", "Parallel coordinates", "Parameter importances"):
        assert title in report
    # plotly.js referenced once, copied next to a page written outside the home (offline)
    assert "plotly.js v" not in report and report.count("window.PlotlyConfig") == 1
    asset = f"plotly-{plotly.__version__}.min.js"
    assert f'src="{asset}"' in report and (out / asset).is_file()
    best_cfg = load_run_config(out / "best_config.toml")
    assert best_cfg.train.lr == pytest.approx(best.params["train.lr"])
    assert best_cfg.model.dropout == pytest.approx(best.params["model.dropout"])

    _hpo(config, out, *common, "--n-trials", "1", "--pruner", "none")
    again = _trials(out, "s1")
    assert [t.number for t in again] == [0, 1, 2, 3, 4]
    assert again[4].state == State.COMPLETE and (out / "trial_004" / "metrics.json").is_file()


def _job(write_config, out, search, folds=(1, 2)):
    base, space = load_hpo_config(write_config(LGBM + search))
    return SearchJob("lgbm", "tiny", base, space, folds, out, "s")


@pytest.mark.slow
def test_failing_trial_is_fail_with_its_error_and_the_study_goes_on(home, write_config, tmp_path):
    # 10000 training days validate as a config, but the dataset has no fold that long
    search = '[search]\n"data.splits.train_days" = {type = "categorical", choices = [10000, 60]}\n'
    job = _job(write_config, tmp_path / "out", search)
    study = open_study(job, default_storage(job.output_dir), make_pruner("none", 2))
    study.enqueue_trial({"data.splits.train_days": 10000})
    study.enqueue_trial({"data.splits.train_days": 60})
    run_search(study, job, n_trials=2)
    failed, done = study.get_trials()
    assert failed.state == State.FAIL and done.state == State.COMPLETE
    assert "no fold fits: train_days 10000" in failed.user_attrs["error"]
    metrics = json.loads((job.output_dir / "trial_000" / "metrics.json").read_text())
    assert metrics["state"] == "fail" and metrics["value"] is None
    assert metrics["error"] == failed.user_attrs["error"]
    assert done.value is not None and done.value == pytest.approx(
        sum(
            f["rank_ic"]
            for f in json.loads((job.output_dir / "trial_001" / "metrics.json").read_text())[
                "folds"
            ]
        )
        / 2
    )


@pytest.mark.slow
def test_median_pruner_prunes_a_bad_trial(home, write_config, tmp_path):
    # on this dataset (market version 2) fold 2 (searched first) tells the two apart: validation
    # RankIC ~0.074 with one feature in five per tree, ~-0.10 with every feature (fold 1 alone
    # would rank them the other way round: 0.027 against 0.014)
    search = '[search]\n"model.feature_fraction" = {type = "float", low = 0.1, high = 1.0}\n'
    job = _job(write_config, tmp_path / "out", search, folds=(2, 1))
    study = open_study(job, default_storage(job.output_dir), make_pruner("median", 2, 1))
    study.enqueue_trial({"model.feature_fraction": 0.2})
    study.enqueue_trial({"model.feature_fraction": 1.0})
    run_search(study, job, n_trials=2)
    good, bad = study.get_trials()
    assert good.state == State.COMPLETE
    assert bad.state == State.PRUNED
    assert list(bad.intermediate_values) == [0]
    assert bad.intermediate_values[0] < good.intermediate_values[0]
    metrics = json.loads((job.output_dir / "trial_001" / "metrics.json").read_text())
    assert metrics["state"] == "pruned" and len(metrics["folds"]) == 1


@pytest.mark.slow
def test_resume_refuses_a_different_search_under_the_same_name(home, write_config, tmp_path):
    job = _job(write_config, tmp_path / "out", LGBM_SEARCH)
    storage = default_storage(job.output_dir)
    open_study(job, storage, make_pruner("none", 2))
    other = SearchJob("lgbm", "tiny", job.base, job.space, (2,), job.output_dir, "s")
    with pytest.raises(ValueError, match=r"study 's'.*'folds': \[1, 2\].*'folds': \[2\]"):
        open_study(other, storage, make_pruner("none", 1))


def test_cli_reports_config_errors(home, write_config, tmp_path):
    config = write_config(LGBM + '[search]\n"model.hidden_size" = {type="int", low=8, high=16}\n')
    args = ["hpo", "--model", "lgbm", "--dataset", "tiny", "--config", str(config)]
    args += ["--n-trials", "1", "--study-name", "x", "--output-dir", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "search.'model.hidden_size'" in result.output
    config.write_text(LGBM + LGBM_SEARCH)
    result = CliRunner().invoke(app, [*args[:2], "atft", *args[3:]])
    assert result.exit_code == 1 and "--model 'atft' but" in result.output
    assert "[model] kind 'lgbm'" in result.output
    result = CliRunner().invoke(app, [*args[:-3], "a/b", *args[-2:]])
    assert result.exit_code == 1 and "--study-name 'a/b'" in result.output
