"""Normalisation of each stock's window along time, before the temporal encoder.

Each module takes x (M, L, F) — M = B·N stock windows of L days and F features — and returns
``(signal, context)``: ``signal`` (M, L, F) goes to the encoder, ``context`` (M, L, C) carries
what the normalisation removed, so the model can still use it (projected and added to the
encoder input).

- :class:`FrequencyAdaptiveNorm` (FAN, Ye et al., NeurIPS 2024, arXiv 2409.20371): per stock and
  feature, X = rFFT(x) over the L days; the k frequencies with the largest amplitude |X_j|
  (the DC term included) form the non-stationary part x_dom = irFFT(X ⊙ 1[j ∈ top-k]), and the
  encoder sees the residual x − x_dom. ``context`` = x_dom (C = F).
- :class:`SliceAdaptiveNorm` (SAN, Liu et al., NeurIPS 2023, "Adaptive Normalization for
  Non-stationary Time Series Forecasting: A Temporal Slice Perspective"): the L days are cut into
  K = L / T slices of T days; per stock, feature and slice k, μ_k and σ_k (population std) over
  the slice, and the encoder sees (x − μ_k) / (σ_k + ε) on the slice's days. SAN's statistics
  prediction, adapted: the paper predicts the next slices' statistics to de-normalise a
  forecast of the series; here the forecast is a cross-sectional return, so the predicted
  statistics of the next slice, μ̂ = μ_K + Σ_k a_k (μ_k − μ_K) and
  σ̂ = σ_K · exp(Σ_k b_k (log(σ_k + ε) − log(σ_K + ε))) (a, b ∈ R^K shared by all features,
  zero at start: persistence), are fed back to the encoder with the slice statistics:
  ``context`` = [μ_k, σ_k, μ̂, σ̂] on every day (C = 4F); x = signal · (σ_k + ε) + μ_k is
  recovered from the first 2F columns. The predictor learns through the forecast loss only
  (the paper's own statistics loss needs the future window, which a forecast of day t may not
  see). ε = 0.01: the features are normalised per date to unit cross-sectional scale, and a
  slice that moves less than 1 % of that is noise, not signal to amplify.
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


class SliceAdaptiveNorm(nn.Module):
    """Per-slice (x − μ_k) / (σ_k + ε) with the next slice's predicted statistics (module doc)."""

    def __init__(self, window: int, slice_len: int, eps: float = 1e-2) -> None:
        super().__init__()
        if window % slice_len or window // slice_len < 2:
            raise ValueError(
                f"SAN needs a window of at least two whole slices: window={window}, "
                f"san_slice={slice_len}"
            )
        self.slice_len, self.slices, self.eps = slice_len, window // slice_len, eps
        self.mean_weights = nn.Parameter(torch.zeros(self.slices))
        self.std_weights = nn.Parameter(torch.zeros(self.slices))

    def context_dim(self, n_features: int) -> int:
        return 4 * n_features

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, length, f = x.shape
        slices = x.reshape(m, self.slices, self.slice_len, f)
        mean = slices.mean(dim=2)
        std = slices.std(dim=2, correction=0)
        signal = (slices - mean.unsqueeze(2)) / (std.unsqueeze(2) + self.eps)
        log_std = torch.log(std + self.eps)
        mean_next = mean[:, -1] + torch.einsum("k,mkf->mf", self.mean_weights, mean - mean[:, -1:])
        std_next = std[:, -1] * torch.exp(
            torch.einsum("k,mkf->mf", self.std_weights, log_std - log_std[:, -1:])
        )
        per_day = torch.cat([mean, std], dim=-1).repeat_interleave(self.slice_len, dim=1)
        predicted = torch.cat([mean_next, std_next], dim=-1).unsqueeze(1).expand(-1, length, -1)
        return signal.reshape(m, length, f), torch.cat([per_day, predicted], dim=-1)


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
