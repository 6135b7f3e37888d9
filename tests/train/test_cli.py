"""``gogooku train`` through the real CLI on the tiny dataset."""

from __future__ import annotations

import json
import tomllib

import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.models import registry
from gogooku.models.atft_gat_fan import build_atft
from gogooku.models.output import ModelOutput
from gogooku.runs import load_run
from gogooku.train.config import load_run_config
from gogooku.train.loop import HISTORY_FILE
from gogooku.train.run import fold_ranges, select_fold

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def with_epochs(config_file, tmp_path, epochs, name):
    path = tmp_path / name
    path.write_text(config_file.read_text().replace("epochs = 2", f"epochs = {epochs}"))
    return path


@pytest.mark.slow
def test_train_atft_writes_a_complete_run_and_resumes(home, config_file, tmp_path):
    result = invoke("train", "--model", "atft", "--dataset", "tiny", "--config", config_file,
                    "--run", "r1")  # fmt: skip
    assert result.exit_code == 0, result.output
    run_dir = home / "runs" / "r1"
    cfg = load_run_config(config_file)
    assert load_run_config(run_dir / "config.toml") == cfg
    info = load_run(run_dir)
    # no --fold: the last fold (the tiny dataset has folds 0..2)
    assert (
        info.ranges
        == fold_ranges(select_fold("tiny", cfg))
        == fold_ranges(select_fold("tiny", cfg, 2))
    )
    assert info.horizons == [1, 5, 20] and info.params["fold"] == 2
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {"last.pt", "best.pt"}
    rows = [json.loads(s) for s in (run_dir / HISTORY_FILE).read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert set(rows[0]["grad_norm"]) >= {"gat", "lstm", "head", "total"}
    assert set(rows[0]["val_rank_ic"]) == {"1", "5", "20"}
    preds = pl.read_parquet(run_dir / "predictions.parquet")
    assert set(preds["split"]) == {"valid", "test"}
    for split in ("valid", "test"):
        start, end = info.ranges.of(split)
        part = preds.filter(pl.col("split") == split)
        assert part["Date"].min() == start and part["Date"].max() == end
    # predictions vary across stocks on every day (no collapse)
    assert preds.group_by("Date").agg(pl.col("pred_5d").std())["pred_5d"].min() > 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["splits"]) == {"valid", "test"}
    assert "RankIC" in result.output

    more = with_epochs(config_file, tmp_path, 3, "three.toml")
    result = invoke("train", "--model", "atft", "--dataset", "tiny", "--config", more,
                    "--run", "r1", "--resume")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(s) for s in (run_dir / HISTORY_FILE).read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert tomllib.loads((run_dir / "config.toml").read_text())["train"]["epochs"] == 3

    other = tmp_path / "other.toml"
    other.write_text(more.read_text().replace("hidden_size = 16", "hidden_size = 8"))
    result = invoke("train", "--model", "atft", "--dataset", "tiny", "--config", other,
                    "--run", "r1", "--resume")  # fmt: skip
    assert result.exit_code == 1
    assert "[model] of the given config differs" in result.output


@pytest.mark.slow
def test_collapse_guard_stops_a_model_forced_constant(home, config_file, monkeypatch):
    def constant_atft(kind, cfg, n_features, horizons, cardinalities, n_raw=0):
        model = build_atft(cfg, n_features, horizons, cardinalities)
        forward = model.forward

        def flat(batch):
            out = forward(batch)
            point = out.point.mean(dim=1, keepdim=True).expand_as(out.point)
            return ModelOutput(point, out.quantiles, out.branches, out.quantile_levels)

        model.forward = flat
        return model

    monkeypatch.setattr(type(registry.get_kind("atft")), "build", constant_atft)
    cfg = config_file.read_text().replace("epochs = 2", "epochs = 4\ncollapse_checks = 2")
    config_file.write_text(cfg)
    result = invoke("train", "--model", "atft", "--dataset", "tiny", "--config", config_file,
                    "--run", "flat")  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "prediction collapse" in result.output
    assert "same value for every stock" in result.output
    rows = (home / "runs" / "flat" / HISTORY_FILE).read_text().splitlines()
    assert len(rows) == 2


def test_train_linear_baseline(home, config_file, tmp_path):
    cfg = config_file.read_text().split("[model]")[0] + '[model]\nkind = "linear"\n'
    cfg += "\n[target]\nhorizons = [1, 5, 20]\n"
    path = tmp_path / "linear.toml"
    path.write_text(cfg)
    result = invoke("train", "--model", "linear", "--dataset", "tiny", "--config", path,
                    "--run", "lin")  # fmt: skip
    assert result.exit_code == 0, result.output
    run_dir = home / "runs" / "lin"
    preds = pl.read_parquet(run_dir / "predictions.parquet")
    assert {"valid", "test"} <= set(preds["split"])
    assert (run_dir / "metrics.json").is_file()
    assert load_run_config(run_dir / "config.toml").model.kind == "linear"


def test_config_errors_name_the_key(home, config_file, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(config_file.read_text().replace("lr = 0.003", "lr = 0.003\nlearning_rate = 1"))
    result = invoke("train", "--model", "atft", "--dataset", "tiny", "--config", bad)
    assert result.exit_code == 1
    assert "train.learning_rate: unknown key" in result.output
    result = invoke("train", "--model", "lgbm", "--dataset", "tiny", "--config", config_file)
    assert result.exit_code == 1
    assert "--model 'lgbm' but the config's [model] kind is 'atft'" in result.output
    long = tmp_path / "long.toml"
    long.write_text(config_file.read_text().replace("label_horizon = 20", "label_horizon = 10"))
    result = invoke("train", "--model", "atft", "--dataset", "tiny", "--config", long)
    assert result.exit_code == 1
    assert "target.horizons contains 20 but data.splits.label_horizon is 10" in result.output
    unlabelled = tmp_path / "unlabelled.toml"
    unlabelled.write_text(
        config_file.read_text().replace("horizons = [1, 5, 20]", "horizons = [5, 40]")
    )
    result = invoke("train", "--model", "atft", "--dataset", "tiny", "--config", unlabelled)
    assert result.exit_code == 1
    assert "horizons [40] have no label in the panel" in result.output
    result = invoke("train", "--model", "atft", "--dataset", "tiny", "--config", config_file,
                    "--fold", 7)  # fmt: skip
    assert result.exit_code == 1
    assert "--fold 7: dataset 'tiny' has folds 0..2 (or -3..-1 from the end)" in result.output
    result = invoke("train", "--model", "atft", "--dataset", "tiny", "--config", config_file,
                    "--set", "model.nonsense=1")  # fmt: skip
    assert result.exit_code == 1
    assert "model.nonsense: unknown key (from --set model.nonsense=1)" in result.output
    result = invoke("train", "--model", "atft", "--dataset", "tiny", "--config", config_file,
                    "--set", "train.epochs.x=1")  # fmt: skip
    assert result.exit_code == 1
    assert "--set train.epochs.x=1: train.epochs is not a table" in result.output


def test_train_set_overrides_are_saved_and_fold_counts_from_the_end(home, config_file, tmp_path):
    lin = tmp_path / "linear.toml"
    lin.write_text(config_file.read_text().split("[model]")[0] + '[model]\nkind = "linear"\n')
    result = invoke("train", "--model", "linear", "--dataset", "tiny", "--config", lin,
                    "--run", "set", "--fold", -2, "--set", "train.epochs=1",
                    "--set", "model.alpha=5.5", "--set", "target.horizons=[1, 5]",
                    "--set", "target.main_horizon=5")  # fmt: skip
    assert result.exit_code == 0, result.output
    run_dir = home / "runs" / "set"
    saved = tomllib.loads((run_dir / "config.toml").read_text())
    assert saved["train"]["epochs"] == 1 and saved["model"]["alpha"] == 5.5
    assert saved["target"]["horizons"] == [1, 5]
    cfg = load_run_config(lin, ["train.epochs=1", "model.alpha=5.5", "target.horizons=[1, 5]"])
    assert load_run_config(run_dir / "config.toml") == cfg
    info = load_run(run_dir)
    assert info.params["fold"] == 1  # -2 of folds 0..2
    assert info.ranges == fold_ranges(select_fold("tiny", cfg, 1))


def test_train_with_every_new_switch_on(home, config_file):
    """DMN on contiguous days, MSE, Sortino, SAN and two phases in one short CLI run."""
    switches = [
        "loss.dmn=1.0", "loss.dmn_turnover=0.1", "loss.mse=0.2", "loss.sortino=0.2",
        "data.loader.contiguous_days=true", "data.loader.days_per_batch=4",
        "model.norm=san", "model.san_slice=5", "train.epochs=2",
        'train.phases=[{epochs=1, off=["norm", "gat"]}, {epochs=1, lr_scale=0.5}]',
        "data.splits.train_days=24", "data.splits.val_days=10",
    ]  # fmt: skip
    sets = [a for s in switches for a in ("--set", s)]
    result = invoke("train", "--model", "atft", "--dataset", "tiny", "--config", config_file,
                    "--run", "sw", "--fold", "0", *sets)  # fmt: skip
    assert result.exit_code == 0, result.output
    run_dir = home / "runs" / "sw"
    rows = [json.loads(s) for s in (run_dir / HISTORY_FILE).read_text().splitlines()]
    assert [r["phase"] for r in rows] == [0, 1]
    assert set(rows[0]["loss_terms"]) >= {"dmn", "mse", "sortino"}
    assert set(rows[0]["loss_terms"]["dmn"]) == {"5"}
    assert all(isinstance(r["val_sharpe"], float) for r in rows)
    saved = load_run_config(run_dir / "config.toml")
    assert saved.model.norm == "san" and len(saved.train.phases) == 2
    assert (run_dir / "predictions.parquet").is_file() and (run_dir / "metrics.json").is_file()
