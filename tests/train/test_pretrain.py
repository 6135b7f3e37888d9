"""TS2Vec pretraining (``gogooku.train.pretrain``): training days only, deterministic exported
features, and ``gogooku train --model linear`` with ``[data.embeddings.ts2vec]`` on."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import torch
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.config import EmbeddingsConfig, NormalizationConfig, Ts2VecConfig
from gogooku.dataset.build import dataset_dir
from gogooku.dataset.cache import open_cache
from gogooku.dataset.normalize import normalized_features
from gogooku.train import pretrain
from gogooku.train.pretrain import (
    ENCODER_FILE,
    embedding_frame,
    embedding_names,
    fold_embeddings,
    pretrain_encoder,
)
from gogooku.train.run import fold_ranges, select_fold

SMALL = Ts2VecConfig(dim=4, hidden=8, blocks=2, segment=12, batch_stocks=5, epochs=1, seed=3)


def _weights(x, listed, train):
    encoder, summary = pretrain_encoder(x, listed, train, SMALL)
    assert summary["steps"] > 0
    return encoder.state_dict()


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_pretraining_reads_only_the_training_days():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 8, 3)).astype(np.float32)
    listed = rng.random((50, 8)) > 0.02
    base = _weights(x, listed, (5, 29))
    poisoned, flipped = x.copy(), listed.copy()
    poisoned[30:] = np.nan
    poisoned[30::2] = 1e30
    poisoned[:5] = -1e30
    flipped[30:] = ~flipped[30:]
    flipped[:5] = False
    assert _same(_weights(poisoned, flipped, (5, 29)), base)
    touched = x.copy()
    touched[15:20] += 1.0  # control: the training days do matter
    assert not _same(_weights(touched, listed, (5, 29)), base)


def test_exported_features_are_named_shaped_and_seeded(home, tiny_cfg, tmp_path, monkeypatch):
    cache = open_cache(dataset_dir("tiny"))
    ranges = fold_ranges(select_fold("tiny", tiny_cfg, 0))
    features = [f for f in cache.feature_names if f.startswith("ret_")]
    norm = NormalizationConfig()
    emb, span, summary = fold_embeddings(cache, features, ranges, norm, SMALL, tmp_path)
    weights = torch.load(tmp_path / ENCODER_FILE)["state"]
    first, last = span
    dates = cache.date_list
    assert dates[first] == ranges.train[0] and dates[last] == ranges.test[1]
    assert emb.shape == (last - first + 1, cache.shape[1], 4) and np.isfinite(emb).all()
    assert summary["training_days"] == len(
        [d for d in dates if ranges.train[0] <= d <= ranges.train[1]]
    )
    frame = embedding_frame(cache, emb, span)
    assert frame.columns == ["Date", "Code", *embedding_names(4)]
    assert frame.height == int(np.asarray(cache.mask[first : last + 1]).sum())
    assert (frame["Date"].min(), frame["Date"].max()) == (ranges.train[0], ranges.test[1])
    again, _, _ = fold_embeddings(cache, features, ranges, norm, SMALL)
    assert np.array_equal(again, emb)
    other, _, _ = fold_embeddings(
        cache, features, ranges, norm, SMALL.model_copy(update={"seed": 4})
    )
    assert not np.array_equal(other, emb)
    # every day after the training days poisoned: the same encoder, the same rows up to then
    poisoned = np.array(normalized_features(cache, norm))
    after = dates.index(ranges.train[1]) + 1
    poisoned[after:] = 1e30
    monkeypatch.setattr(pretrain, "normalized_features", lambda *_: poisoned)
    (tmp_path / "blind").mkdir()
    blind, _, _ = fold_embeddings(cache, features, ranges, norm, SMALL, tmp_path / "blind")
    blind_weights = torch.load(tmp_path / "blind" / ENCODER_FILE)["state"]
    assert all(torch.equal(blind_weights[k], weights[k]) for k in weights)
    assert np.array_equal(blind[: after - first], emb[: after - first])
    assert not np.array_equal(blind[after - first :], emb[after - first :])


def test_train_linear_with_ts2vec_embeddings(home, config_file, tmp_path):
    cfg = config_file.read_text().split("[model]")[0] + '[model]\nkind = "linear"\n'
    path = tmp_path / "linear.toml"
    path.write_text(cfg + "\n[target]\nhorizons = [1, 5, 20]\n")
    sets = ["dim=3", "hidden=8", "blocks=2", "segment=10", "epochs=1", "batch_stocks=8"]
    args = [a for s in sets for a in ("--set", f"data.embeddings.ts2vec.{s}")]
    train = ["train", "--model", "linear", "--dataset", "tiny", "--config", str(path)]
    result = CliRunner().invoke(app, [*train, "--run", "emb", *args])
    assert result.exit_code == 0, result.output
    run_dir = home / "runs" / "emb"
    params = json.loads((run_dir / "linear.json").read_text())
    fitted = next(iter(params.values()))
    assert fitted["inputs"][-3:] == embedding_names(3)
    assert any(c != 0 for c in fitted["coef"][-3:])  # joined: a column of nulls would fit 0
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["ts2vec"]["steps"] > 0
    assert (run_dir / ENCODER_FILE).is_file()
    preds = pl.read_parquet(run_dir / "predictions.parquet")
    assert {"train", "valid", "test"} == set(preds["split"])
    result = CliRunner().invoke(app, ["bundle", "--run", "emb"])
    assert result.exit_code != 0
    assert "cannot compute the TS2Vec embeddings" in result.output


def test_networks_get_the_embeddings_as_extra_inputs(tiny_cfg, cache_and_fold, tmp_path):
    from gogooku.train.loop import Trainer

    cache, fold = cache_and_fold
    data = tiny_cfg.data.model_copy(update={"embeddings": EmbeddingsConfig(ts2vec=SMALL)})
    ridge = tiny_cfg.model.model_copy(update={"linear_skip_init": "ridge"})
    train = tiny_cfg.train.model_copy(update={"epochs": 1})
    cfg = tiny_cfg.model_copy(update={"data": data, "model": ridge, "train": train})
    trainer = Trainer(cfg, cache, fold, tmp_path / "emb")
    n_plain = len(trainer.train_loader.output_features)  # the wrapped loader's
    assert trainer.n_features == n_plain + SMALL.dim
    assert trainer.model.skip.weight.shape[1] == trainer.n_features
    skip = trainer.model.skip.weight  # the frozen ridge start reads no embedding
    assert torch.equal(skip[:, n_plain:], torch.zeros(3, 4)) and skip.abs().sum() > 0
    ranges = fold_ranges(fold)
    emb, (first, _), _ = fold_embeddings(
        cache, trainer.train_loader.feature_names, ranges, cfg.data.normalization, SMALL
    )
    batch = next(iter(trainer.eval_loaders["test"]))
    t = cache.date_index(batch.dates[0]) - first
    window = cfg.data.loader.window
    expected = emb[t - window + 1 : t + 1][:, batch.codes[0].numpy()]
    assert batch.x.shape[-1] == trainer.n_features
    assert np.array_equal(batch.x[0, ..., n_plain:].numpy(), expected)
    summary = trainer.fit()
    assert summary["ts2vec"]["steps"] > 0 and summary["epochs_run"] == 1
