"""FAN and instance norm on hand-built series."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.models.fan import FrequencyAdaptiveNorm, InstanceNorm, SliceAdaptiveNorm

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


def test_san_slices_by_hand_and_round_trips():
    """Window 4 in two slices of 2: [1, 3 | 10, 10] → slice means 2, 10, stds 1, 0."""
    x = torch.tensor([1.0, 3.0, 10.0, 10.0]).reshape(1, 4, 1)
    san = SliceAdaptiveNorm(window=4, slice_len=2)
    signal, context = san(x)
    eps = san.eps
    assert torch.allclose(signal[0, :, 0], torch.tensor([-1 / (1 + eps), 1 / (1 + eps), 0, 0]))
    mean, std = context[0, :, 0], context[0, :, 1]
    assert torch.equal(mean, torch.tensor([2.0, 2.0, 10.0, 10.0]))
    assert torch.equal(std, torch.tensor([1.0, 1.0, 0.0, 0.0]))
    # zero-initialised predictor: the next slice's statistics are the last slice's
    assert torch.equal(context[0, :, 2], torch.full((4,), 10.0))
    assert torch.allclose(context[0, :, 3], torch.zeros(4))
    # the encoder's input and the first 2F context columns give x back
    assert torch.allclose(signal * (std.reshape(1, 4, 1) + eps) + mean.reshape(1, 4, 1), x)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([(6, 2), (6, 3), (8, 4)]))
def test_san_round_trip_on_random_windows(seed, shape):
    length, t = shape
    x = torch.randn(3, length, 4, generator=torch.Generator().manual_seed(seed)) * 5 + 2
    san = SliceAdaptiveNorm(window=length, slice_len=t)
    with torch.no_grad():
        san.mean_weights.normal_()
        san.std_weights.normal_()
    signal, context = san(x)
    mean, std = context[..., :4], context[..., 4:8]
    assert torch.allclose(signal * (std + san.eps) + mean, x, atol=1e-4)
    # per slice the signal has mean 0
    assert signal.reshape(3, length // t, t, 4).mean(2).abs().max() < 1e-4


def test_san_predictor_extrapolates_the_slice_means():
    """mean weights a = (1, 0) on slices (μ₁, μ₂) = (0, 4): μ̂ = μ₂ + (μ₁ − μ₂) = 0; std weights
    b = (−1, 0) with σ₁ = 1, σ₂ = 2: σ̂ = σ₂ · exp(−(log(1 + ε) − log(2 + ε)))."""
    x = torch.tensor([-1.0, 1.0, 2.0, 6.0]).reshape(1, 4, 1)
    san = SliceAdaptiveNorm(window=4, slice_len=2)
    with torch.no_grad():
        san.mean_weights.copy_(torch.tensor([1.0, 0.0]))
        san.std_weights.copy_(torch.tensor([-1.0, 0.0]))
    _, context = san(x)
    eps = san.eps
    expected = 2.0 * math.exp(-(math.log(1 + eps) - math.log(2 + eps)))
    assert torch.allclose(context[0, :, 2], torch.zeros(4))
    assert torch.allclose(context[0, :, 3], torch.full((4,), expected))
