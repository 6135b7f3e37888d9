"""Building blocks of the temporal fusion encoder (Lim et al. 2021, TFT).

- ``GatedLinearUnit``: GLU(a) = (W₁a + b₁) ⊙ σ(W₂a + b₂).
- ``GateAddNorm``: LayerNorm(skip + GLU(a)) — the gated residual connection TFT puts around every
  sub-layer, so a sub-layer the data does not support can be gated to ~0.
- ``GatedResidualNetwork``: GRN(a, c) = LayerNorm(skip(a) + GLU(W₂ ELU(W₁a + W_c c + b₁) + b₂)),
  with ``skip`` a linear map when input and output sizes differ and the context c optional.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class GatedLinearUnit(nn.Module):
    """(W₁a + b₁) ⊙ σ(W₂a + b₂), one Linear producing both halves."""

    def __init__(self, d_in: int, d_out: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(d_in, 2 * d_out)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return F.glu(self.proj(self.dropout(a)), dim=-1)


class GateAddNorm(nn.Module):
    """LayerNorm(skip + GLU(a))."""

    def __init__(self, d_in: int, d_out: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.glu = GatedLinearUnit(d_in, d_out, dropout)
        self.norm = nn.LayerNorm(d_out)

    def forward(self, a: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.norm(skip + self.glu(a))


class GatedResidualNetwork(nn.Module):
    """LayerNorm(skip(a) + GLU(W₂ ELU(W₁a + W_c c) )); ``c`` is an optional context vector."""

    def __init__(
        self,
        d_in: int,
        d_hidden: int,
        d_out: int,
        dropout: float = 0.0,
        d_context: int | None = None,
    ) -> None:
        super().__init__()
        self.skip = nn.Linear(d_in, d_out) if d_in != d_out else nn.Identity()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.context = nn.Linear(d_context, d_hidden, bias=False) if d_context else None
        self.fc2 = nn.Linear(d_hidden, d_hidden)
        self.gate = GateAddNorm(d_hidden, d_out, dropout)

    def forward(self, a: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc1(a)
        if self.context is not None and context is not None:
            h = h + self.context(context)
        h = self.fc2(F.elu(h))
        return self.gate(h, self.skip(a))
