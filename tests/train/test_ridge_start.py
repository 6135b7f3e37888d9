"""The closed-form ridge start of the ATFT's linear skip (``linear_skip_init = "ridge"``): the
fit against scikit-learn on rows gathered independently (per-day rank-gauss targets by scipy,
average ranks for ties), and the trainer starting from the ridge forecast with the skip frozen."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm, rankdata
from sklearn.linear_model import Ridge

from gogooku.dataset.cache import STATIC_IDS
from gogooku.dataset.loader import DayBatchLoader
from gogooku.train.loop import Trainer
from gogooku.train.ridge_start import fit_ridge_start


def ridge_cfg(tiny_cfg, **model):
    update = {"linear_skip_init": "ridge", **model}
    return tiny_cfg.model_copy(update={"model": tiny_cfg.model.model_copy(update=update)})


def training_rows(cache, cfg, days, horizon_index):
    """(X, z) of the training days from a window-1 loader, z by scipy per day."""
    lcfg = cfg.data.loader.model_copy(
        update={
            "window": 1,
            "shuffle": False,
            "stocks_per_day": None,
            "targets": ["target_1d", "target_5d", "target_20d"],
        }
    )
    xs, zs = [], []
    for batch in DayBatchLoader(cache, lcfg, cfg.data.normalization, days):
        for d in range(batch.x.shape[0]):
            m = batch.y_mask[d, :, horizon_index].numpy()
            if not m.any():
                continue
            x = np.nan_to_num(batch.x[d, 0].numpy()[m].astype(np.float64), nan=0.0)
            y = batch.y[d, :, horizon_index].numpy()[m]
            xs.append(x)
            zs.append(norm.ppf((rankdata(y, method="average") - 0.5) / len(y)).clip(-5, 5))
    return np.concatenate(xs), np.concatenate(zs)


def test_fit_equals_scikit_learn_ridge_without_the_categorical_ids(tiny_cfg, cache_and_fold):
    cache, fold = cache_and_fold
    cfg = ridge_cfg(tiny_cfg)
    days = fold.dates(cache.date_list, "train")
    lcfg = cfg.data.loader.model_copy(update={"targets": ["target_1d", "target_5d", "target_20d"]})
    coef, intercept = fit_ridge_start(cache, lcfg, cfg.data.normalization, days, alpha=3.0)
    assert coef.shape == (len(cache.feature_names), 3)
    ids = [i for i, n in enumerate(cache.feature_names) if n in STATIC_IDS]
    assert ids, "the tiny dataset has categorical id columns"
    numeric = [i for i in range(len(cache.feature_names)) if i not in ids]
    assert (coef[ids] == 0).all()
    for j in range(3):
        x, z = training_rows(cache, cfg, days, j)
        ref = Ridge(alpha=3.0).fit(x[:, numeric], z)
        np.testing.assert_allclose(coef[numeric, j].numpy(), ref.coef_, rtol=1e-4, atol=1e-6)
        assert intercept[j].item() == pytest.approx(ref.intercept_, abs=1e-5)
    other, _ = fit_ridge_start(cache, lcfg, cfg.data.normalization, days, alpha=300.0)
    assert other.abs().sum() < coef.abs().sum()


def test_trainer_starts_at_the_ridge_forecast_and_keeps_the_skip(
    tiny_cfg, cache_and_fold, tmp_path
):
    cache, fold = cache_and_fold
    cfg = ridge_cfg(tiny_cfg, linear_skip_alpha=3.0)
    t = Trainer(cfg, cache, fold, tmp_path / "run")
    coef, intercept = fit_ridge_start(
        cache,
        t.train_loader.config,
        cfg.data.normalization,
        [cache.date_list[i] for i in t.train_loader.days],
        alpha=3.0,
    )
    assert torch.allclose(t.model.skip.weight, coef.T) and torch.allclose(
        t.model.skip.bias, intercept
    )
    assert not any(p.requires_grad for p in t.model.skip.parameters())
    t.model.eval()
    batch = next(iter(t.eval_loaders["valid"]))
    with torch.no_grad():
        point = t.model(batch).point
    x = torch.nan_to_num(batch.x[:, -1]) * batch.x_mask[:, -1].unsqueeze(-1)
    torch.testing.assert_close(point, x @ coef + intercept, rtol=1e-4, atol=1e-5)

    before = t.model.skip.weight.detach().clone()
    t.fit(max_epochs=1)
    assert torch.equal(t.model.skip.weight, before)
    assert t.model.out.weight.abs().sum() > 0


def test_ridge_start_needs_the_skip(tiny_cfg):
    from pydantic import ValidationError

    from gogooku.models.atft_gat_fan import AtftConfig

    with pytest.raises(ValidationError, match="linear_skip = true"):
        AtftConfig(linear_skip=False, linear_skip_init="ridge")


def test_resume_with_a_ridge_start_equals_training_straight_through(
    tiny_cfg, cache_and_fold, tmp_path
):
    cache, fold = cache_and_fold
    cfg = ridge_cfg(tiny_cfg, linear_skip_alpha=3.0)
    straight = Trainer(cfg, cache, fold, tmp_path / "a")
    straight.fit()
    first = Trainer(cfg, cache, fold, tmp_path / "b")
    first.fit(max_epochs=1)
    resumed = Trainer(cfg, cache, fold, tmp_path / "b")
    resumed.fit(resume=True)
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    assert torch.equal(resumed.model.skip.weight, first.model.skip.weight)
