"""FAN and instance norm on hand-built series."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.models.fan import FrequencyAdaptiveNorm, InstanceNorm

L = 32


def sine(freq: int, amp: float, phase: float = 0.0) -> torch.Tensor:
    t = torch.arange(L, dtype=torch.float64)
    return amp * torch.sin(2 * math.pi * freq * t / L + phase)


def test_fan_removes_the_planted_dominant_sine():
    big, small = sine(4, 3.0, 0.3), sine(9, 0.5, 1.1)
    x = (big + small).reshape(1, L, 1).float()
    residual, dominant = FrequencyAdaptiveNorm(top_k=1)(x)
    assert torch.allclose(dominant[0, :, 0], big.float(), atol=1e-5)
    assert torch.allclose(residual[0, :, 0], small.float(), atol=1e-5)
    # with k = 2 both sines are dominant and nothing is left
    residual2, dominant2 = FrequencyAdaptiveNorm(top_k=2)(x)
    assert residual2.abs().max() < 1e-5
    assert torch.allclose(dominant2, x, atol=1e-5)


def test_fan_selects_per_stock_and_feature():
    """Each (stock, feature) series keeps its own dominant frequency."""
    a = sine(3, 2.0) + sine(7, 0.4)
    b = sine(7, 2.0) + sine(3, 0.4)
    x = torch.stack([torch.stack([a, b], -1), torch.stack([b, a], -1)]).float()  # (2, L, 2)
    residual, _ = FrequencyAdaptiveNorm(top_k=1)(x)
    assert torch.allclose(residual[0, :, 0], sine(7, 0.4).float(), atol=1e-5)
    assert torch.allclose(residual[0, :, 1], sine(3, 0.4).float(), atol=1e-5)
    assert torch.allclose(residual[1, :, 0], sine(3, 0.4).float(), atol=1e-5)


def test_fan_treats_the_level_as_a_frequency():
    """A constant offset is the DC term: with k = 1 on a large level it is what FAN removes."""
    x = (10.0 + sine(5, 0.2)).reshape(1, L, 1).float()
    residual, dominant = FrequencyAdaptiveNorm(top_k=1)(x)
    assert torch.allclose(dominant, torch.full_like(x, 10.0), atol=1e-4)
    assert torch.allclose(residual[0, :, 0], sine(5, 0.2).float(), atol=1e-4)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, L // 2 + 1))
def test_fan_residual_plus_dominant_is_the_input(seed, k):
    x = torch.randn(3, L, 4, generator=torch.Generator().manual_seed(seed))
    residual, dominant = FrequencyAdaptiveNorm(top_k=k)(x)
    assert torch.allclose(residual + dominant, x, atol=1e-5)
    # the residual's spectrum has at least k zeroed bins per series
    zeroed = (torch.fft.rfft(residual, dim=1).abs() < 1e-4).sum(dim=1)
    assert (zeroed >= k).all()


def test_instance_norm_by_hand():
    x = torch.tensor([[1.0, 2.0, 3.0, 6.0]]).reshape(1, 4, 1)
    out, context = InstanceNorm(eps=0.0)(x)
    mean, std = 3.0, math.sqrt((4 + 1 + 0 + 9) / 4)
    assert torch.allclose(out[0, :, 0], (torch.tensor([1.0, 2.0, 3.0, 6.0]) - mean) / std)
    assert context.shape == (1, 4, 2)
    assert torch.allclose(context[0, :, 0], torch.full((4,), mean))
    assert torch.allclose(context[0, :, 1], torch.full((4,), std))
