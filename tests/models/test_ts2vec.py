"""The TS2Vec encoder and its hierarchical contrastive loss (``gogooku.models.ts2vec``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gogooku.models.ts2vec import (
    TS2VecEncoder,
    hierarchical_contrastive_loss,
    instance_contrastive_loss,
    overlapping_crops,
    receptive_field,
    temporal_contrastive_loss,
)

# z = [1, 0, 1, 0] with positives at distance 2: rows of value 1 score e¹ against e⁰ + e⁰,
# rows of value 0 score e⁰ against three e⁰.
M = (math.log(1 + 2 / math.e) + math.log(3)) / 2


def test_instance_loss_by_hand():
    z = torch.tensor([[[1.0]], [[0.0]]])  # B=2 series, T=1, D=1; identical views
    assert instance_contrastive_loss(z, z.clone()).item() == pytest.approx(M)
    # T = 1: one scale, no temporal term
    assert hierarchical_contrastive_loss(z, z.clone(), alpha=0.5).item() == pytest.approx(M / 2)


def test_temporal_loss_by_hand():
    z = torch.tensor([[[1.0], [0.0]]])  # B=1, T=2
    assert temporal_contrastive_loss(z, z.clone()).item() == pytest.approx(M)
    # scales T=2 and T=1; a single series has no instance negatives
    assert hierarchical_contrastive_loss(z, z.clone(), alpha=0.5).item() == pytest.approx(M / 4)


def test_mismatched_views_cost_more():
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(8, 16, 4, generator=g)
    close = z1 + 0.05 * torch.randn(8, 16, 4, generator=g)
    same = hierarchical_contrastive_loss(z1, close).item()
    assert hierarchical_contrastive_loss(z1, close[torch.randperm(8, generator=g)]).item() > same
    assert (
        hierarchical_contrastive_loss(z1, close[:, torch.randperm(16, generator=g)]).item() > same
    )


def test_encoder_is_causal_with_its_receptive_field():
    torch.manual_seed(0)
    enc = TS2VecEncoder(n_features=3, hidden=8, dim=5, blocks=2).eval()
    r = receptive_field(2)
    assert r == 13
    x = torch.randn(1, 30, 3)
    base = enc(x)
    assert base.shape == (1, 30, 5)
    t = 20
    later = x.clone()
    later[:, t + 1 :] += 10
    assert torch.equal(enc(later)[:, : t + 1], base[:, : t + 1])
    before = x.clone()
    before[:, : t - r + 1] += 10  # outside the window t-R+1..t
    assert torch.allclose(enc(before)[:, t], base[:, t])
    inside = x.clone()
    inside[:, t - r + 1] += 10
    assert not torch.allclose(enc(inside)[:, t], base[:, t])


def test_crops_overlap_on_the_compared_steps():
    rng = np.random.default_rng(0)
    for _ in range(200):
        view1, view2, crop = overlapping_crops(10, rng)
        assert 2 <= crop <= 10
        assert 0 <= view1.start <= view2.start and view1.stop <= view2.stop <= 10
        assert view1.stop - view2.start == crop  # view 1 ends with, view 2 starts with the overlap
