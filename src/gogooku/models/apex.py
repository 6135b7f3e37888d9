"""APEX: a cross-sectional ranking network over each day's stocks, guided by the market.

``forward(batch)`` takes a :class:`~gogooku.dataset.loader.DayBatch` whose x (B, L, N, F + M)
holds the loader's F normalised stock features followed by M raw market columns (appended by
:class:`~gogooku.models.market_inputs.MarketColumns`, which ``gogooku.train.apex.apex_trainer``
wraps around the Trainer's loaders), and uses the last W = ``window`` days (W ≤ the loader's L):

1. **Clean**: non-finite values → 0, window days on which a stock is not listed → 0.
2. **History summary** per stock and feature over its n listed window days: the last day's value
   x_W, the deviation x_W − mean and the std sqrt(mean((x − mean)²)) → u (B, N, 3F).
3. **Market context** per day from the M market columns — the cache's features whose block is in
   ``market_blocks`` (TOPIX, investor flows, options, futures, breakdown), read raw because the
   per-date normalisation maps a column that is equal for every stock to 0: m_t = mean over the
   day's listed stocks with a finite value (the value itself for index-level columns, the market
   average for per-stock ones such as beta); signed log s(v) = sign(v)·log(1 + |v|) of the last
   day's m and the window mean of m → c = MLP([s(m_W); s(mean_t m_t)]) (B, H).
4. **Market gate** (``market_gate``, MASTER-style): α = F · softmax(W_α c) over the F features
   scales each feature's three summary columns, u ← u ⊙ α; then e = MLP(u) + E(static ids) per
   stock (``encoder_layers`` Linear–GELU–dropout blocks, width H).
5. **Attention across the day's stocks** (``attention_layers`` pre-norm blocks): with FiLM from
   the market context, a = LayerNorm(e) ⊙ (1 + γ_l(c)) + β_l(c) (no FiLM without the gate),
   e ← e + MHA(a, a, a) where stocks not listed on the day are masked as keys, then
   e ← e + FFN(LayerNorm(e)). No positional encoding: the network is permutation-equivariant
   over stocks, and a masked stock never changes a listed stock's score (tested).
6. **Heads**: r = Linear(LayerNorm(e)) gives per horizon the point forecast and Q raw values;
   quantiles q₁ = r₁, q_i = q_{i−1} + softplus(r_i) (as the ATFT). Ranking uses the main horizon.
   With ``linear_skip`` the point forecast is r₀ + x_W β + b, a linear map of the last day's
   cleaned features before the gate; with ``linear_skip_init = "ridge"`` β, b are the ridge fit
   of the training days, frozen, and r₀ starts at 0 (``gogooku.models.skip``, as the ATFT).

Branch outputs (``ModelOutput.branches``, (B, N, H)): ``"attention"`` — the summed attention
updates of step 5. Without the gate M = 0 and no market column is appended.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from gogooku.config import StrictModel
from gogooku.errors import GogookuError
from gogooku.models.market_inputs import MarketGateFields, market_means, signed_log
from gogooku.models.output import ModelOutput, QuantileFields, head_output
from gogooku.models.skip import LinearSkipFields, attach_linear_skip

if TYPE_CHECKING:
    from gogooku.dataset.loader import DayBatch


class ApexError(GogookuError, ValueError):
    """APEX cannot be built for this dataset or config (names the block or key)."""


class PruneConfig(StrictModel):
    """The pruned variant: train the enhanced model, keep the top ``keep`` fraction of features
    by permutation importance on the fold's validation days, retrain (``gogooku.train.apex``)."""

    keep: float = Field(0.3, gt=0, le=1, description="fraction of the features kept")
    repeats: int = Field(1, ge=1, description="shuffles per feature, importance averaged")
    seed: int = 0


class ApexConfig(LinearSkipFields, QuantileFields, MarketGateFields):
    """The ``[model]`` section for ``kind = "apex"``; every field changes the built model or run."""

    kind: Literal["apex"] = "apex"
    linear_skip: bool = Field(
        False, description="add a linear map of the last day's features to the point forecasts"
    )
    window: int = Field(10, ge=1, description="W: last days used, at most [data] loader.window")
    hidden_size: int = Field(64, ge=4, description="H: width of every layer")
    encoder_layers: int = Field(2, ge=1)
    attention_layers: int = Field(2, ge=0, description="blocks of attention across stocks")
    attention_heads: int = Field(4, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    static_embedding_dim: int = Field(4, ge=1, description="per categorical id column")
    prune: PruneConfig | None = Field(None, description="set: the pruned variant")

    @model_validator(mode="after")
    def _consistent(self) -> ApexConfig:
        if self.hidden_size % self.attention_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not divisible by "
                f"attention_heads={self.attention_heads}"
            )
        return self


class _AttentionBlock(nn.Module):
    """Pre-norm attention across stocks with FiLM from the market context, then an FFN."""

    def __init__(self, h: int, heads: int, p: float, film: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(h)
        self.attn = nn.MultiheadAttention(h, heads, dropout=p, batch_first=True)
        self.film = nn.Linear(h, 2 * h) if film else None
        self.ffn_norm = nn.LayerNorm(h)
        self.ffn = nn.Sequential(nn.Linear(h, 2 * h), nn.GELU(), nn.Dropout(p), nn.Linear(2 * h, h))

    def forward(
        self, e: torch.Tensor, padding: torch.Tensor, c: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.norm(e)
        if self.film is not None and c is not None:
            gamma, beta = self.film(c).unsqueeze(1).chunk(2, dim=-1)
            a = a * (1 + gamma) + beta
        update, _ = self.attn(a, a, a, key_padding_mask=padding, need_weights=False)
        e = e + update
        return e + self.ffn(self.ffn_norm(e)), update


class ApexRanker(nn.Module):
    """The APEX network (module doc); train it through :func:`apex_trainer`."""

    def __init__(
        self,
        cfg: ApexConfig,
        n_features: int,
        horizons: Sequence[int],
        static_cardinalities: Sequence[int],
        n_market: int,
    ) -> None:
        super().__init__()
        if n_features < 1 or not horizons:
            raise ApexError(
                f"APEX needs at least one feature and one horizon (n_features={n_features}, "
                f"horizons={list(horizons)})"
            )
        if cfg.market_gate and n_market < 1:
            raise ApexError(
                "model.market_gate = true but no market column: build APEX with "
                "gogooku.train.apex.apex_trainer (train_run does), which appends the columns "
                "of model.market_blocks to every batch"
            )
        h, p = cfg.hidden_size, cfg.dropout
        self.cfg = cfg
        self.n_features = n_features
        self.n_market = n_market if cfg.market_gate else 0
        self.horizons = tuple(int(v) for v in horizons)
        self.quantile_levels = tuple(cfg.quantiles)
        self.n_static = len(static_cardinalities)

        if cfg.market_gate:
            self.market = nn.Sequential(nn.Linear(2 * n_market, h), nn.GELU(), nn.Linear(h, h))
            self.gate = nn.Linear(h, n_features)
        if self.n_static:
            cards = torch.tensor(list(static_cardinalities))
            self.register_buffer("static_cardinalities", cards, persistent=False)
            self.register_buffer("static_offsets", cards.cumsum(0) - cards, persistent=False)
            self.static_embedding = nn.Embedding(
                int(sum(static_cardinalities)), cfg.static_embedding_dim
            )
        layers: list[nn.Module] = []
        width = 3 * n_features + self.n_static * cfg.static_embedding_dim
        for _ in range(cfg.encoder_layers):
            layers += [nn.Linear(width, h), nn.GELU(), nn.Dropout(p)]
            width = h
        self.encoder = nn.Sequential(*layers)
        self.blocks = nn.ModuleList(
            _AttentionBlock(h, cfg.attention_heads, p, cfg.market_gate)
            for _ in range(cfg.attention_layers)
        )
        self.out_norm = nn.LayerNorm(h)
        self.n_out = 1 + len(self.quantile_levels)
        self.out = nn.Linear(h, len(self.horizons) * self.n_out)
        attach_linear_skip(self, cfg, n_features, self.out, self.n_out)

    def _market_context(self, raw: torch.Tensor, listed: torch.Tensor) -> torch.Tensor:
        """c (B, H) from the raw market columns (B, W, N, M) over each day's listed stocks."""
        m = market_means(raw, listed)
        summary = torch.cat([m[:, -1], m.mean(1)], dim=-1)
        return self.market(signed_log(summary))

    def forward(self, batch: DayBatch) -> ModelOutput:
        b, length, n, f = batch.x.shape
        w = self.cfg.window
        if length < w or f != self.n_features + self.n_market:
            raise ApexError(
                f"APEX built for window={w}, {self.n_features} features + {self.n_market} "
                f"market columns got x of shape {tuple(batch.x.shape)} (B, L, N, F + M): "
                "[data] loader.window must be ≥ [model] window and batches must come through "
                "MarketColumns"
            )
        x_all, listed = batch.x[:, -w:].float(), batch.x_mask[:, -w:]
        keep = listed.unsqueeze(-1).to(x_all.dtype)
        x = torch.nan_to_num(x_all[..., : self.n_features], nan=0.0, posinf=0.0, neginf=0.0)
        x = x * keep
        count = keep.sum(1).clamp(min=1)
        mean = x.sum(1) / count
        std = (((x - mean.unsqueeze(1)) * keep).pow(2).sum(1) / count).sqrt()
        last = x[:, -1]
        skip = self.skip(last).float() if self.cfg.linear_skip else None

        c = None
        if self.cfg.market_gate:
            c = self._market_context(x_all[..., self.n_features :], listed)
            alpha = self.n_features * torch.softmax(self.gate(c), dim=-1).unsqueeze(1)
            last, mean, std = last * alpha, mean * alpha, std * alpha
        parts = [last, last - mean, std]
        if self.n_static:
            static = batch.static
            static = torch.where((static >= 0) & (static < self.static_cardinalities), static, 0)
            parts.append(self.static_embedding(static + self.static_offsets).reshape(b, n, -1))
        e = self.encoder(torch.cat(parts, dim=-1))

        padding = ~batch.mask
        padding = padding & batch.mask.any(-1, keepdim=True)  # a day with no listed stock: none
        attention = torch.zeros_like(e)
        for block in self.blocks:
            e, update = block(e, padding, c)
            attention = attention + update
        branches = {"attention": attention} if len(self.blocks) else {}

        raw_out = self.out(self.out_norm(e)).float().reshape(b, n, len(self.horizons), self.n_out)
        return head_output(raw_out, skip, branches, self.quantile_levels)


def build_apex(
    cfg: ApexConfig,
    n_features: int,
    horizons: Sequence[int],
    static_cardinalities: Sequence[int],
    n_market: int = 0,
) -> ApexRanker:
    """APEX for F = ``n_features`` normalised inputs and M = ``n_market`` raw market columns
    appended to x, one output per horizon (the registry passes no market column)."""
    return ApexRanker(cfg, n_features, horizons, static_cardinalities, n_market)
