"""MASTER: market-guided stock transformer (Li et al., AAAI 2024), as in the paper.

``forward(batch)`` takes a :class:`~gogooku.dataset.loader.DayBatch` whose x (B, L, N, F + M)
holds the loader's F normalised stock features followed by M raw market columns (appended by
:class:`~gogooku.models.market_inputs.MarketColumns`; ``gogooku.kinds.master`` trains through
``gogooku.train.market.market_trainer``) and uses the last W = ``window`` days (W ≤ L):

1. **Clean**: non-finite values → 0, window days on which a stock is not listed → 0.
2. **Market-guided gating**: m_t = mean of the raw market columns over the day's listed stocks
   (``market_means``), the market vector v = [s(m_W); s(mean_t m_t); s(std_t m_t)] (B, 3M) — the
   paper's current market values with their mean and std over the window, s(v) = sign(v)·log(1 +
   |v|) — and the gate α = F · softmax((W_α v + b_α) / β) over the F features (temperature β =
   ``beta``; β → ∞ gives α = 1). Every stock's features on every window day are rescaled,
   x̃_{u,t} = α ⊙ x_{u,t}. Without ``market_gate``, α = 1 and no market column is read.
3. **Intra-stock aggregation**: y_{u,t} = W_y x̃_{u,t} + b_y + p_t (sinusoidal position p_t),
   then one pre-norm transformer encoder layer along each stock's window: h = y + MHA(LN(y)) over
   the W days (days the stock was not listed are masked as keys; the last day always attends),
   h ← h + FFN(LN(h)).
4. **Inter-stock aggregation** (``inter_stock``): for each day and window step t, the stocks
   attend to each other: z_t = h_t + MHA(LN(h_t)) over the day's stocks, stocks not listed at t
   masked as keys, then z ← z + FFN(LN(z)). No positional encoding over stocks: the network is
   permutation-equivariant over stocks, and a stock not listed in the window changes no listed
   stock's score (tested). Off: z = h.
5. **Temporal aggregation** (``temporal_aggregation``): λ_t = softmax_t(z_t^T W_λ z_W) over the
   stock's listed days (the last one always), e = Σ_t λ_t z_t. Off: e = z_W.
6. **Heads**: r = Linear(LayerNorm(e)) gives per horizon the point forecast and Q raw values;
   quantiles q₁ = r₁, q_i = q_{i−1} + softplus(r_i) (as the ATFT). With ``linear_skip`` the point
   forecast is r₀ + x_W β + b of the last day's cleaned features before the gate (as the ATFT).

Branch outputs (``ModelOutput.branches``, (B, N, D)): ``"inter"`` — the inter-stock attention
update at the last step. The paper's model reads no categorical id; neither does this one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from gogooku.errors import GogookuError
from gogooku.models.market_inputs import MarketGateFields, market_means, signed_log
from gogooku.models.output import ModelOutput, QuantileFields, head_output
from gogooku.models.skip import LinearSkipFields, attach_linear_skip

if TYPE_CHECKING:
    from gogooku.dataset.loader import DayBatch


class MasterError(GogookuError, ValueError):
    """MASTER cannot be built for this dataset or config (names the key)."""


class MasterConfig(LinearSkipFields, QuantileFields, MarketGateFields):
    """The ``[model]`` section for ``kind = "master"``; every field changes the built model."""

    kind: Literal["master"] = "master"
    linear_skip: bool = Field(
        False, description="add a linear map of the last day's features to the point forecasts"
    )
    window: int = Field(8, ge=1, description="W: last days used, at most [data] loader.window")
    hidden_size: int = Field(64, ge=4, description="D: width of every layer")
    intra_heads: int = Field(4, ge=1, description="heads of the attention along a stock's window")
    inter_heads: int = Field(2, ge=1, description="heads of the attention across the day's stocks")
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    beta: float = Field(5.0, gt=0.0, description="temperature of the market gate's softmax")
    inter_stock: bool = Field(True, description="attention across the day's stocks")
    temporal_aggregation: bool = Field(
        True, description="attention of the last day over the window"
    )

    @model_validator(mode="after")
    def _consistent(self) -> MasterConfig:
        for key in ("intra_heads", "inter_heads"):
            if self.hidden_size % getattr(self, key):
                raise ValueError(
                    f"hidden_size={self.hidden_size} is not divisible by {key}={getattr(self, key)}"
                )
        return self


def sinusoidal_positions(length: int, d: int) -> torch.Tensor:
    """p (length, d): p[t, 2i] = sin(t / 10000^(2i/d)), p[t, 2i+1] = cos(t / 10000^(2i/d))."""
    t = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    p = torch.zeros(length, d)
    p[:, 0::2] = torch.sin(t * freq)
    p[:, 1::2] = torch.cos(t * freq)[:, : d // 2]
    return p


class _EncoderLayer(nn.Module):
    """Pre-norm transformer encoder layer: s ← s + MHA(LN(s)); s ← s + FFN(LN(s))."""

    def __init__(self, d: int, heads: int, p: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, dropout=p, batch_first=True)
        self.ffn_norm = nn.LayerNorm(d)
        self.ffn = nn.Sequential(
            nn.Linear(d, d), nn.ReLU(), nn.Dropout(p), nn.Linear(d, d), nn.Dropout(p)
        )

    def forward(self, s: torch.Tensor, padding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.norm(s)
        update, _ = self.attn(a, a, a, key_padding_mask=padding, need_weights=False)
        s = s + update
        return s + self.ffn(self.ffn_norm(s)), update


class Master(nn.Module):
    """The MASTER network (module doc); build it with :func:`build_master`."""

    def __init__(
        self, cfg: MasterConfig, n_features: int, horizons: Sequence[int], n_market: int
    ) -> None:
        super().__init__()
        if n_features < 1 or not horizons:
            raise MasterError(
                f"MASTER needs at least one feature and one horizon (n_features={n_features}, "
                f"horizons={list(horizons)})"
            )
        if cfg.market_gate and n_market < 1:
            raise MasterError(
                "model.market_gate = true but no market column: train MASTER through its kind "
                "(gogooku.kinds.master), which appends the columns of model.market_blocks"
            )
        d, p = cfg.hidden_size, cfg.dropout
        self.cfg = cfg
        self.n_features = n_features
        self.n_market = n_market if cfg.market_gate else 0
        self.horizons = tuple(int(v) for v in horizons)
        self.quantile_levels = tuple(cfg.quantiles)
        if cfg.market_gate:
            self.gate = nn.Linear(3 * n_market, n_features)
        self.feature_proj = nn.Linear(n_features, d)
        self.register_buffer("positions", sinusoidal_positions(cfg.window, d), persistent=False)
        self.intra = _EncoderLayer(d, cfg.intra_heads, p)
        if cfg.inter_stock:
            self.inter = _EncoderLayer(d, cfg.inter_heads, p)
        if cfg.temporal_aggregation:
            self.temporal = nn.Linear(d, d, bias=False)
        self.out_norm = nn.LayerNorm(d)
        self.n_out = 1 + len(self.quantile_levels)
        self.out = nn.Linear(d, len(self.horizons) * self.n_out)
        attach_linear_skip(self, cfg, n_features, self.out, self.n_out)

    def market_gate(self, raw: torch.Tensor, listed: torch.Tensor) -> torch.Tensor:
        """α (B, F) from the raw market columns (B, W, N, M) of each day's listed stocks (B, W, N)
        (module doc, step 2)."""
        m = market_means(raw, listed)
        v = torch.cat([m[:, -1], m.mean(1), m.std(1, unbiased=False)], dim=-1)
        return self.n_features * torch.softmax(self.gate(signed_log(v)) / self.cfg.beta, dim=-1)

    def forward(self, batch: DayBatch) -> ModelOutput:
        b, length, n, f = batch.x.shape
        w, d = self.cfg.window, self.cfg.hidden_size
        if length < w or f != self.n_features + self.n_market:
            raise MasterError(
                f"MASTER built for window={w}, {self.n_features} features + {self.n_market} "
                f"market columns got x of shape {tuple(batch.x.shape)} (B, L, N, F + M): "
                "[data] loader.window must be ≥ [model] window and batches must come through "
                "MarketColumns"
            )
        x_all, listed = batch.x[:, -w:].float(), batch.x_mask[:, -w:]
        x = torch.nan_to_num(x_all[..., : self.n_features], nan=0.0, posinf=0.0, neginf=0.0)
        x = x * listed.unsqueeze(-1).to(x.dtype)
        skip = self.skip(x[:, -1]).float() if self.cfg.linear_skip else None
        if self.cfg.market_gate:
            alpha = self.market_gate(x_all[..., self.n_features :], listed)
            x = x * alpha[:, None, None, :]

        # intra-stock: (B·N, W, D), one sequence per stock
        by_stock = listed.permute(0, 2, 1).reshape(b * n, w)
        unlisted_days = torch.cat([~by_stock[:, :-1], torch.zeros_like(by_stock[:, -1:])], dim=1)
        y = self.feature_proj(x.permute(0, 2, 1, 3).reshape(b * n, w, self.n_features))
        h, _ = self.intra(y + self.positions, unlisted_days)

        branches: dict[str, torch.Tensor] = {}
        z = h
        if self.cfg.inter_stock:
            # inter-stock: (B·W, N, D), one set of stocks per day and step
            by_step = h.reshape(b, n, w, d).permute(0, 2, 1, 3).reshape(b * w, n, d)
            padding = ~listed.reshape(b * w, n)
            padding = padding & (~padding).any(-1, keepdim=True)  # no listed stock: mask none
            z, update = self.inter(by_step, padding)
            z = z.reshape(b, w, n, d).permute(0, 2, 1, 3).reshape(b * n, w, d)
            branches["inter"] = update.reshape(b, w, n, d)[:, -1]

        e = z[:, -1]
        if self.cfg.temporal_aggregation:
            scores = (
                (self.temporal(z) * e.unsqueeze(1)).sum(-1).masked_fill(unlisted_days, -math.inf)
            )
            e = (torch.softmax(scores, dim=-1).unsqueeze(-1) * z).sum(1)

        raw_out = self.out(self.out_norm(e)).float().reshape(b, n, len(self.horizons), self.n_out)
        return head_output(raw_out, skip, branches, self.quantile_levels)


def build_master(
    cfg: MasterConfig, n_features: int, horizons: Sequence[int], n_market: int = 0
) -> Master:
    """MASTER for F = ``n_features`` normalised inputs and M = ``n_market`` raw market columns
    appended to x, one output per horizon."""
    return Master(cfg, n_features, horizons, n_market)
