"""APEX on a tiny dataset: the CLI run (predictions, variant), the pruned run, and the pruning's
point-in-time guarantee (corrupting the test period leaves the selection unchanged)."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.dataset.cache import open_cache
from gogooku.models.apex import ApexError
from gogooku.models.market_inputs import MarketColumns
from gogooku.runs import read_predictions
from gogooku.train.apex import SELECTION_FILE, apex_trainer, select_features
from gogooku.train.config import load_run_config
from gogooku.train.run import select_fold, train_run


def _run(args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def test_apex_trains_and_writes_valid_predictions(apex_home, apex_config_file):
    result = _run(
        ["train", "--model", "apex", "--dataset", "tiny", "--config", str(apex_config_file)]
    )
    run_dir = next((apex_home / "runs").iterdir())
    assert "test   5d: RankIC" in result.output
    info = json.loads((run_dir / "run.json").read_text())
    assert info["model"] == "apex" and info["params"]["variant"] == "enhanced"
    preds = read_predictions(run_dir)
    assert {"Date", "Code", "pred_1d", "pred_5d", "pred_20d", "split"} <= set(preds.columns)
    assert set(preds["split"].unique()) == {"valid", "test"}
    assert preds.select(pl.col("pred_5d").is_finite().all()).item()
    per_day = preds.group_by("Date").agg(pl.col("pred_5d").std())
    assert (per_day["pred_5d"] > 0).all(), "scores vary across each day's stocks"
    assert (run_dir / "metrics.json").is_file()
    history = (run_dir / "history.jsonl").read_text().splitlines()
    assert "top_rank" in json.loads(history[0])["loss_terms"]


def test_ridge_start_fits_the_skip_and_keeps_it_through_training(
    apex_home, apex_config_file, tmp_path
):
    import torch

    from gogooku.train.ridge_start import fit_ridge_start

    cfg = load_run_config(apex_config_file)
    model = cfg.model.model_copy(
        update={"linear_skip": True, "linear_skip_init": "ridge", "linear_skip_alpha": 3.0}
    )
    cfg = cfg.model_copy(update={"model": model})
    cache = open_cache(apex_home / "datasets" / "tiny")
    trainer = apex_trainer(cfg, cache, select_fold("tiny", cfg, 0), tmp_path / "run")
    lcfg = cfg.data.loader.model_copy(update={"targets": [f"target_{h}d" for h in (1, 5, 20)]})
    days = [cache.date_list[i] for i in trainer.train_loader.loader.days]
    coef, intercept = fit_ridge_start(cache, lcfg, cfg.data.normalization, days, alpha=3.0)
    torch.testing.assert_close(trainer.model.skip.weight, coef.T.float())
    torch.testing.assert_close(trainer.model.skip.bias, intercept.float())
    trainer.fit(max_epochs=1)
    torch.testing.assert_close(trainer.model.skip.weight, coef.T.float())
    assert coef.abs().sum() > 0


def test_market_blocks_missing_from_the_dataset_fail_cleanly(apex_home, apex_config_file):
    text = apex_config_file.read_text().replace(
        'market_blocks = ["market"]', 'market_blocks = ["x"]'
    )
    apex_config_file.write_text(text)
    result = CliRunner().invoke(
        app, ["train", "--model", "apex", "--dataset", "tiny", "--config", str(apex_config_file)]
    )
    assert result.exit_code == 1
    assert "none of model.market_blocks ['x']" in result.output


def test_loader_without_normalisation_is_refused(apex_home, apex_config_file):
    cfg = load_run_config(apex_config_file)
    loader = cfg.data.loader.model_copy(update={"normalize": "off"})
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"loader": loader})})
    with pytest.raises(ApexError, match="normalize = 'off'"):
        train_run("apex", "tiny", cfg)


def test_market_columns_are_the_raw_cache_values(apex_home, apex_config_file, tmp_path):
    cfg = load_run_config(apex_config_file)
    cache = open_cache(apex_home / "datasets" / "tiny")
    trainer = apex_trainer(cfg, cache, select_fold("tiny", cfg, 0), tmp_path / "run")
    assert isinstance(trainer.train_loader, MarketColumns)
    trainer.train_loader.epoch = 3  # what Trainer.resume does
    assert trainer.train_loader.loader.epoch == 3
    assert len(trainer.train_loader) == len(trainer.train_loader.loader)
    batch = next(iter(trainer.eval_loaders["valid"]))
    columns = trainer.train_loader.market
    assert [cache.feature_blocks[i] for i in columns] == ["market"] * len(columns)
    f = trainer.n_features
    assert batch.x.shape[-1] == f + len(columns)
    t = cache.date_index(batch.dates[0])
    raw = np.asarray(cache.features[t, :, columns]).T  # (N, M)
    np.testing.assert_array_equal(batch.x[0, -1, :, f:].numpy(), raw, strict=False)


def _selection(cfg, dataset_dir, tmp_path, name):
    cache = open_cache(dataset_dir)
    fold = select_fold("tiny", cfg, 0)
    enhanced = cfg.model_copy(update={"model": cfg.model.model_copy(update={"prune": None})})
    trainer = apex_trainer(enhanced, cache, fold, tmp_path / name)
    trainer.fit()
    trainer.load_best()
    names = trainer.train_loader.loader.feature_names
    return select_features(trainer, cfg, cache, names), fold


def _corrupted_copy(apex_home, tmp_path, segment):
    """A copy of dataset tiny (without its normalised array) whose features on the days of
    ``segment`` (a fold Segment) are large noise."""
    dst = tmp_path / f"noise_{segment.lo}"
    ignore = shutil.ignore_patterns("normalized")
    shutil.copytree(apex_home / "datasets" / "tiny", dst, ignore=ignore)
    features = np.load(dst / "cache" / "features.npy", mmap_mode="r+")
    block = features[segment.lo : segment.hi + 1]
    noise = np.random.default_rng(0).normal(size=block.shape) * 100
    features[segment.lo : segment.hi + 1] = noise.astype(block.dtype)
    features.flush()
    return dst


@pytest.mark.slow
def test_pruning_uses_no_test_period_data(apex_home, apex_config_file, tmp_path):
    text = apex_config_file.read_text().replace("[model]", "[model]\nprune = {keep = 0.3}")
    apex_config_file.write_text(text)
    cfg = load_run_config(apex_config_file)
    clean, fold = _selection(cfg, apex_home / "datasets" / "tiny", tmp_path, "clean")
    assert clean["kept"].sum() == math.ceil(0.3 * clean.height)
    test_noise = _corrupted_copy(apex_home, tmp_path, fold.test)
    got, _ = _selection(cfg, test_noise, tmp_path, "test_run")
    assert got["feature"].to_list() == clean["feature"].to_list()
    assert got["kept"].to_list() == clean["kept"].to_list()
    assert got["importance"].to_list() == clean["importance"].to_list()
    # the control: the same corruption on the validation days does change the importances
    val_noise = _corrupted_copy(apex_home, tmp_path, fold.val)
    control, _ = _selection(cfg, val_noise, tmp_path, "val_run")
    assert control["importance"].to_list() != clean["importance"].to_list()


@pytest.mark.slow
def test_pruned_run_writes_its_selection_and_variant(apex_home, apex_config_file):
    text = apex_config_file.read_text().replace("[model]", "[model]\nprune = {keep = 0.3}")
    apex_config_file.write_text(text)
    _run(["train", "--model", "apex", "--dataset", "tiny", "--config", str(apex_config_file)])
    run_dir = next((apex_home / "runs").iterdir())
    info = json.loads((run_dir / "run.json").read_text())
    assert info["params"]["variant"] == "pruned"
    selection = pl.read_csv(run_dir / SELECTION_FILE)
    assert selection.columns == ["feature", "block", "importance", "kept"]
    kept = selection.filter(pl.col("kept"))["feature"].to_list()
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["features_kept"] == len(kept) == math.ceil(0.3 * selection.height)
    assert (run_dir / "enhanced" / "checkpoints" / "best.pt").is_file()
    assert read_predictions(run_dir).height > 0
