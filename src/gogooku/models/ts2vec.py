"""TS2Vec (Yue et al. 2022, "TS2Vec: Towards Universal Representation of Time Series", AAAI):
a dilated 1-D convolution encoder and its hierarchical contrastive loss.

Encoder: x (B, T, F) → input projection F → C (``hidden``) → optional timestamp masking (each
(b, t) latent zeroed with probability p, training only) → ``blocks`` residual blocks, block i =
GELU → conv(k=3, dilation 2^i) → GELU → conv(k=3, dilation 2^i), plus its input (through a
1×1 conv where the width changes, and on the last block, as in the paper) → z (B, T, D).
Unlike the paper's convolutions ours are causal (left padding only): z[:, t] depends on
x[:, t−R+1 .. t] only, R = 1 + 4 (2^blocks − 1) days (:func:`receptive_field`), so encoding a
whole series once gives every day's point-in-time representation.

Loss (:func:`hierarchical_contrastive_loss`) of two views z¹, z² (B, T, D) of the same B series
on the same T timestamps: with s = scale 0, 1, …, S (z halved along time by max-pooling with
kernel 2 between scales until T = 1),

    L = (1 / (S + 1)) Σ_s [α ℓ_inst(z¹_s, z²_s) + (1 − α) ℓ_temp(z¹_s, z²_s)]

(ℓ_temp only while T > 1). Both terms are cross-entropies over raw dot products: for the
instance term at timestamp t, the positive of z¹[i, t] is z²[i, t] among the 2B − 1 other
vectors {z¹[j, t], z²[j, t]} of that timestamp (other series in the batch are negatives); for
the temporal term of series i, the positive of z¹[i, t] is z²[i, t] among the 2T − 1 other
vectors of that series (other timestamps are negatives); each term averages both directions.

Views (:func:`overlapping_crops`): from a segment of T days, the paper's random cropping draws
the overlap [a, b) (length ≥ 2) and the views [a₁, b) and [a, b₂) with a₁ ≤ a, b₂ ≥ b; the
loss compares the representations of the overlap. The offsets are shared by the batch (the
paper draws them per series): the B series are B stocks on the same days, so the instance term
contrasts stocks on one day.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def receptive_field(blocks: int, kernel: int = 3) -> int:
    """R: days of input each output step sees (two convolutions per block, dilation 2^i)."""
    return 1 + 2 * (kernel - 1) * (2**blocks - 1)


class CausalConv(nn.Conv1d):
    """A 1-D convolution over (B, C, T) padded on the left only: output t sees inputs ≤ t."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = (self.kernel_size[0] - 1) * self.dilation[0]
        return super().forward(F.pad(x, (pad, 0)))


class ConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, dilation: int, final: bool) -> None:
        super().__init__()
        self.conv1 = CausalConv(c_in, c_out, 3, dilation=dilation)
        self.conv2 = CausalConv(c_out, c_out, 3, dilation=dilation)
        self.proj = nn.Conv1d(c_in, c_out, 1) if c_in != c_out or final else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.proj is None else self.proj(x)
        return self.conv2(F.gelu(self.conv1(F.gelu(x)))) + residual


class TS2VecEncoder(nn.Module):
    """(B, T, F) features → (B, T, D) representations (module doc)."""

    def __init__(self, n_features: int, hidden: int, dim: int, blocks: int) -> None:
        super().__init__()
        self.input_fc = nn.Linear(n_features, hidden)
        widths = [hidden] * (blocks - 1) + [dim]
        self.blocks = nn.Sequential(
            *(ConvBlock(hidden, w, 2**i, final=i == blocks - 1) for i, w in enumerate(widths))
        )

    def forward(
        self, x: torch.Tensor, mask_p: float = 0.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        h = self.input_fc(torch.nan_to_num(x))
        if mask_p > 0:
            keep = torch.rand(h.shape[:2], generator=generator) >= mask_p
            h = h * keep.unsqueeze(-1).to(h.dtype)
        return self.blocks(h.transpose(1, 2)).transpose(1, 2)


def _contrast(z: torch.Tensor, n: int) -> torch.Tensor:
    """Mean cross-entropy of z (G, 2n, D): row k's positive is row (k + n) mod 2n among the
    2n − 1 others of its group (the diagonal is left out)."""
    sim = z @ z.transpose(1, 2)
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logp = F.log_softmax(sim.masked_fill(eye, float("-inf")), dim=-1)
    k = torch.arange(2 * n, device=z.device)
    return -logp[:, k, (k + n) % (2 * n)].mean()


def instance_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """ℓ_inst: per timestamp, series i's two views against the batch's other series."""
    if z1.shape[0] == 1:
        return z1.new_zeros(())
    return _contrast(torch.cat([z1, z2], dim=0).transpose(0, 1), z1.shape[0])


def temporal_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """ℓ_temp: per series, timestamp t's two views against the series' other timestamps."""
    if z1.shape[1] == 1:
        return z1.new_zeros(())
    return _contrast(torch.cat([z1, z2], dim=1), z1.shape[1])


def hierarchical_contrastive_loss(
    z1: torch.Tensor, z2: torch.Tensor, alpha: float = 0.5
) -> torch.Tensor:
    """L of the module doc for two views (B, T, D) of the same timestamps."""
    loss, scales = z1.new_zeros(()), 0
    while True:
        loss = loss + alpha * instance_contrastive_loss(z1, z2)
        if z1.shape[1] > 1:
            loss = loss + (1 - alpha) * temporal_contrastive_loss(z1, z2)
        scales += 1
        if z1.shape[1] == 1:
            return loss / scales
        z1 = F.max_pool1d(z1.transpose(1, 2), 2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), 2).transpose(1, 2)


def overlapping_crops(length: int, rng: np.random.Generator) -> tuple[slice, slice, int]:
    """(view 1, view 2, overlap length l) on a segment of ``length`` ≥ 2 days: view 1 ends
    with the overlap, view 2 starts with it (module doc)."""
    crop = int(rng.integers(2, length + 1))
    left = int(rng.integers(0, length - crop + 1))
    right = left + crop
    left1 = int(rng.integers(0, left + 1))
    right2 = int(rng.integers(right, length + 1))
    return slice(left1, right), slice(left, right2), crop


def ts2vec_loss(
    encoder: TS2VecEncoder,
    x: torch.Tensor,
    rng: np.random.Generator,
    generator: torch.Generator,
    alpha: float,
    mask_p: float,
) -> torch.Tensor:
    """The training loss of one segment batch x (B, T, F): two masked, overlapping crops,
    encoded, compared on their overlap."""
    view1, view2, crop = overlapping_crops(x.shape[1], rng)
    z1 = encoder(x[:, view1], mask_p, generator)[:, -crop:]
    z2 = encoder(x[:, view2], mask_p, generator)[:, :crop]
    return hierarchical_contrastive_loss(z1, z2, alpha)
