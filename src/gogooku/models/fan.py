"""Normalisation of each stock's window along time, before the temporal encoder.

Both modules take x (M, L, F) — M = B·N stock windows of L days and F features — and return
``(signal, context)``: ``signal`` (M, L, F) goes to the encoder, ``context`` (M, L, C) carries
what the normalisation removed, so the model can still use it (projected and added to the
encoder input).

- :class:`FrequencyAdaptiveNorm` (FAN, Ye et al., NeurIPS 2024, arXiv 2409.20371): per stock and
  feature, X = rFFT(x) over the L days; the k frequencies with the largest amplitude |X_j|
  (the DC term included) form the non-stationary part x_dom = irFFT(X ⊙ 1[j ∈ top-k]), and the
  encoder sees the residual x − x_dom. ``context`` = x_dom (C = F).
- :class:`InstanceNorm` (the plain alternative, RevIN without affine): per stock and feature,
  (x − μ) / (σ + ε) with μ, σ the mean and population standard deviation over the L days;
  ``context`` = [μ, σ] repeated over the L days (C = 2F).
"""

from __future__ import annotations

import torch
from torch import nn


class FrequencyAdaptiveNorm(nn.Module):
    """Remove the top-k amplitude frequencies of each (stock, feature) series (module doc)."""

    def __init__(self, top_k: int) -> None:
        super().__init__()
        self.top_k = top_k

    def context_dim(self, n_features: int) -> int:
        return n_features

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        length = x.shape[1]
        # the FFT needs float32 (no bf16 kernels); autocast must not downcast inside
        with torch.autocast(device_type=x.device.type, enabled=False):
            x32 = x.float()
            spectrum = torch.fft.rfft(x32, dim=1)
            k = min(self.top_k, spectrum.shape[1])
            top = spectrum.abs().topk(k, dim=1).indices
            keep = torch.zeros_like(spectrum.real).scatter(1, top, 1.0)
            dominant = torch.fft.irfft(spectrum * keep, n=length, dim=1)
        return (x32 - dominant).to(x.dtype), dominant.to(x.dtype)


class InstanceNorm(nn.Module):
    """(x − μ) / (σ + ε) over the window, per stock and feature (module doc)."""

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def context_dim(self, n_features: int) -> int:
        return 2 * n_features

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = x.mean(dim=1, keepdim=True)
        std = x.std(dim=1, keepdim=True, correction=0)
        stats = torch.cat([mean, std], dim=-1).expand(-1, x.shape[1], -1)
        return (x - mean) / (std + self.eps), stats
