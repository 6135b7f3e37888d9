"""The model on real day batches: a synthetic dataset built by the CLI, the dense cache and
``DayBatchLoader`` (with the weekly correlation graph), then a short fit."""

from __future__ import annotations

import numpy as np
import torch

from gogooku.config import LoaderConfig
from gogooku.dataset.cache import open_cache
from gogooku.dataset.loader import DayBatchLoader
from gogooku.models.atft_gat_fan import AtftConfig, build_atft

WINDOW = 10


def model_for(loader: DayBatchLoader, **overrides):
    cache = loader.cache
    cards = [int(v) + 1 for v in cache.static.max(axis=(0, 1))]
    cfg = AtftConfig(hidden_size=32, attention_heads=4, window=WINDOW, **overrides)
    torch.manual_seed(0)
    return build_atft(cfg, len(loader.output_features), (1, 5, 10, 20), cards)


def test_forward_on_loader_batches(dataset):
    loader = DayBatchLoader(
        open_cache(dataset), LoaderConfig(window=WINDOW, days_per_batch=3, shuffle=False)
    )
    model = model_for(loader).eval()
    with_edges = 0
    for i, batch in enumerate(loader):
        out = model(batch)
        b, n = batch.mask.shape
        assert out.point.shape == (b, n, 4) and out.quantiles.shape == (b, n, 4, 3)
        listed = batch.mask
        assert torch.isfinite(out.point[listed]).all()
        assert (out.quantiles[listed].diff(dim=-1) > 0).all()
        with_edges += sum(int(ei.shape[1] > 0) for ei, _ in batch.edges)
        if i == 10:
            break
    assert with_edges > 0
    assert out.branches["gat"][listed].abs().mean() > 1e-4


def test_short_fit_learns_cross_sectional_differences(dataset):
    """A few dozen Adam steps on 8 training days cut the masked MSE of the 5-day target, and the
    predictions are not constant across stocks (the earlier system's collapse)."""
    cache = open_cache(dataset)
    days = cache.date_list[WINDOW + 20 : WINDOW + 28]
    loader = DayBatchLoader(cache, LoaderConfig(window=WINDOW, days_per_batch=4, seed=1), days=days)
    model = model_for(loader, dropout=0.0)
    h5 = 1  # position of the 5-day horizon
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss_of(batch) -> torch.Tensor:
        y, keep = batch.y[..., h5], batch.y_mask[..., h5]
        target = (y - y[keep].mean()) / y[keep].std()
        return ((model(batch).point[..., h5] - target)[keep] ** 2).mean()

    def epoch_loss() -> float:
        model.eval()
        with torch.no_grad():
            losses = [float(loss_of(b)) for b in loader]
        model.train()
        return float(np.mean(losses))

    before = epoch_loss()
    for _ in range(10):
        for batch in loader:
            opt.zero_grad()
            loss_of(batch).backward()
            opt.step()
    after = epoch_loss()
    assert after < 0.5 * before
    model.eval()
    batch = next(iter(loader))
    with torch.no_grad():
        pred = model(batch).point[..., h5][batch.mask]
    assert pred.std() > 0.3
