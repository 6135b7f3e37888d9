"""APEX: a cross-sectional ranking network over each day's stocks, guided by the market.

``forward(batch)`` takes a :class:`~gogooku.dataset.loader.DayBatch` (x (B, L, N, F)) and uses
its last W = ``window`` days (W ≤ the loader's L):

1. **Inputs.** With ``normalization`` given (the loader runs with ``normalize = "off"``), x holds
   raw values and the stock inputs are ``normalize_cross_section(x, x_mask, normalization)`` —
   the same per-date transform the loader would apply; without it x is already normalised.
   Non-finite values → 0, window days on which a stock is not listed → 0.
2. **History summary** per stock and feature over its n listed window days: the last day's value
   x_W, the deviation x_W − mean and the std sqrt(mean((x − mean)²)) → u (B, N, 3F).
3. **Market context** per day: the market columns (features of the ``market_blocks`` found in
   the dataset) averaged over the day's listed stocks with a finite value, m_t = mean_i x_{t,i},
   on the raw values when ``normalization`` is given (so index levels, flows and option
   prices keep their level); signed log s(v) = sign(v)·log(1 + |v|) of the last day's and the
   window mean's m → c = MLP([s(m_W); s(mean_t m_t)]) (B, H).
4. **Market gate** (``market_gate``, MASTER-style): α = F · softmax(W_α c) over the F features
   scales each feature's three summary columns, u ← u ⊙ α; then e = MLP(u) + E(static ids) per
   stock (``encoder_layers`` Linear–GELU–dropout blocks, width H).
5. **Attention across the day's stocks** (``attention_layers`` pre-norm blocks): with FiLM from
   the market context, a = LayerNorm(e) ⊙ (1 + γ_l(c)) + β_l(c) (γ = β = 0 without the gate),
   e ← e + MHA(a, a, a) where stocks not listed on the day are masked as keys, then
   e ← e + FFN(LayerNorm(e)). No positional encoding: the network is permutation-equivariant
   over stocks, and a masked stock never changes a listed stock's score (tested).
6. **Heads**: r = Linear(LayerNorm(e)) gives per horizon the point forecast and Q raw values;
   quantiles q₁ = r₁, q_i = q_{i−1} + softplus(r_i) (as the ATFT). Ranking uses the main horizon.

Branch outputs (``ModelOutput.branches``, (B, N, H)): ``"attention"`` — the summed attention
updates of step 5. Build it with :func:`apex_builder` (resolves the market columns from the
loader's feature names); the registry's :func:`build_apex` takes them from ``market_index``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.nn import functional as F

from gogooku.config import NormalizationConfig, StrictModel
from gogooku.dataset.normalize import normalize_cross_section
from gogooku.models.output import ModelOutput

if TYPE_CHECKING:
    from gogooku.dataset.cache import DenseCache
    from gogooku.dataset.loader import DayBatch
    from gogooku.train.config import RunConfig

MARKET_BLOCKS = ("market", "flows", "options", "futures", "breakdown")


class ApexError(ValueError):
    """APEX cannot be built for this dataset or config (names the block or key)."""


class PruneConfig(StrictModel):
    """The pruned variant: train the enhanced model, keep the top ``keep`` fraction of features
    by permutation importance on the fold's validation days, retrain (``gogooku.models.pruning``)."""

    keep: float = Field(0.3, gt=0, le=1, description="fraction of candidate features kept")
    repeats: int = Field(1, ge=1, description="shuffles per feature, importance averaged")
    seed: int = 0


class ApexConfig(StrictModel):
    """The ``[model]`` section for ``kind = "apex"``; every field changes the built model or run."""

    kind: Literal["apex"] = "apex"
    window: int = Field(10, ge=1, description="W: last days used, at most [data] loader.window")
    hidden_size: int = Field(64, ge=4, description="H: width of every layer")
    encoder_layers: int = Field(2, ge=1)
    attention_layers: int = Field(2, ge=0, description="blocks of attention across stocks")
    attention_heads: int = Field(4, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    market_blocks: list[str] = Field(
        list(MARKET_BLOCKS), description="feature blocks averaged into the market context"
    )
    market_gate: bool = Field(True, description="feature gate and FiLM from the market context")
    static_embedding_dim: int = Field(4, ge=1, description="per categorical id column")
    quantiles: tuple[float, ...] = Field((0.1, 0.5, 0.9), description="empty: no quantile head")
    prune: PruneConfig | None = Field(None, description="set: the pruned variant")

    @model_validator(mode="after")
    def _consistent(self) -> ApexConfig:
        if self.hidden_size % self.attention_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not divisible by "
                f"attention_heads={self.attention_heads}"
            )
        q = self.quantiles
        if any(not 0.0 < v < 1.0 for v in q) or any(a >= b for a, b in itertools.pairwise(q)):
            raise ValueError(f"quantiles={list(q)} must be strictly increasing inside (0, 1)")
        if self.market_gate and not self.market_blocks:
            raise ValueError("market_gate = true needs at least one of market_blocks")
        return self


def _signed_log(v: torch.Tensor) -> torch.Tensor:
    return torch.sign(v) * torch.log1p(v.abs())


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
    """The APEX network (module doc); build it with :func:`apex_builder` or :func:`build_apex`."""

    def __init__(
        self,
        cfg: ApexConfig,
        n_features: int,
        horizons: Sequence[int],
        static_cardinalities: Sequence[int],
        market_index: Sequence[int],
        normalization: NormalizationConfig | None,
    ) -> None:
        super().__init__()
        if n_features < 1 or not horizons:
            raise ApexError(
                f"APEX needs at least one feature and one horizon (n_features={n_features}, "
                f"horizons={list(horizons)})"
            )
        if any(not 0 <= i < n_features for i in market_index):
            raise ApexError(f"market_index {list(market_index)} outside 0..{n_features - 1}")
        if cfg.market_gate and not market_index:
            raise ApexError(
                "model.market_gate = true but no market column was given: build APEX with "
                "gogooku.models.apex.apex_builder (train_run does), which finds the columns of "
                "model.market_blocks"
            )
        h, p = cfg.hidden_size, cfg.dropout
        self.cfg = cfg
        self.n_features = n_features
        self.horizons = tuple(int(v) for v in horizons)
        self.quantile_levels = tuple(cfg.quantiles)
        self.normalization = normalization
        self.n_static = len(static_cardinalities)
        self.register_buffer(
            "market_index", torch.tensor(list(market_index), dtype=torch.long), persistent=False
        )
        f_in = n_features * (
            2 if normalization is not None and normalization.missing_indicator else 1
        )
        self.f_in = f_in

        if cfg.market_gate:
            m = len(market_index)
            self.market = nn.Sequential(nn.Linear(2 * m, h), nn.GELU(), nn.Linear(h, h))
            self.gate = nn.Linear(h, f_in)
        if self.n_static:
            cards = torch.tensor(list(static_cardinalities))
            self.register_buffer("static_cardinalities", cards, persistent=False)
            self.register_buffer("static_offsets", cards.cumsum(0) - cards, persistent=False)
            self.static_embedding = nn.Embedding(
                int(sum(static_cardinalities)), cfg.static_embedding_dim
            )
        layers: list[nn.Module] = []
        width = 3 * f_in + self.n_static * cfg.static_embedding_dim
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

    def _market_context(self, raw: torch.Tensor, listed: torch.Tensor) -> torch.Tensor:
        """c (B, H) from the market columns of ``raw`` (B, W, N, F) over listed stocks."""
        v = raw.index_select(-1, self.market_index)
        ok = listed.unsqueeze(-1) & torch.isfinite(v)
        m = torch.where(ok, v, 0.0).sum(2) / ok.sum(2).clamp(min=1)
        summary = torch.cat([m[:, -1], m.mean(1)], dim=-1)
        return self.market(_signed_log(summary))

    def forward(self, batch: DayBatch) -> ModelOutput:
        b, length, n, f = batch.x.shape
        w = self.cfg.window
        if length < w or f != self.n_features:
            raise ApexError(
                f"APEX built for window={w}, n_features={self.n_features} got x of shape "
                f"{tuple(batch.x.shape)} (B, L, N, F): [data] loader.window must be ≥ "
                f"[model] window and the model built with the loader's feature count"
            )
        raw, listed = batch.x[:, -w:].float(), batch.x_mask[:, -w:]
        x = (
            raw
            if self.normalization is None
            else normalize_cross_section(raw, listed, self.normalization)
        )
        keep = listed.unsqueeze(-1).to(x.dtype)
        x = torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0) * keep
        count = keep.sum(1).clamp(min=1)
        mean = x.sum(1) / count
        std = (((x - mean.unsqueeze(1)) * keep).pow(2).sum(1) / count).sqrt()
        last = x[:, -1]

        c = None
        if self.cfg.market_gate:
            c = self._market_context(raw, listed)
            alpha = self.f_in * torch.softmax(self.gate(c), dim=-1).unsqueeze(1)
            last, mean, std = last * alpha, mean * alpha, std * alpha
        parts = [last, last - mean, std]
        if self.n_static:
            static = batch.static
            static = torch.where((static >= 0) & (static < self.static_cardinalities), static, 0)
            parts.append(self.static_embedding(static + self.static_offsets).reshape(b, n, -1))
        e = self.encoder(torch.cat(parts, dim=-1))

        padding = ~batch.mask
        padding = padding & padding.logical_not().any(-1, keepdim=True)  # an empty day attends all
        attention = torch.zeros_like(e)
        for block in self.blocks:
            e, update = block(e, padding, c)
            attention = attention + update
        branches = {"attention": attention} if self.blocks else {}

        raw_out = self.out(self.out_norm(e)).float().reshape(b, n, len(self.horizons), self.n_out)
        quantiles = None
        if self.quantile_levels:
            steps = torch.cat([raw_out[..., 1:2], F.softplus(raw_out[..., 2:])], dim=-1)
            quantiles = steps.cumsum(dim=-1)
        return ModelOutput(raw_out[..., 0], quantiles, branches, self.quantile_levels)


def build_apex(
    cfg: ApexConfig,
    n_features: int,
    horizons: Sequence[int],
    static_cardinalities: Sequence[int],
    market_index: Sequence[int] = (),
    normalization: NormalizationConfig | None = None,
) -> ApexRanker:
    """APEX for F = ``n_features`` inputs (already normalised unless ``normalization`` is given),
    one output per horizon and the market context from columns ``market_index``."""
    return ApexRanker(cfg, n_features, horizons, static_cardinalities, market_index, normalization)


def market_columns(
    feature_names: Sequence[str], feature_blocks: dict[str, str], blocks: Sequence[str]
) -> list[int]:
    """Positions in ``feature_names`` of the features whose block is one of ``blocks``."""
    chosen = set(blocks)
    return [i for i, name in enumerate(feature_names) if feature_blocks.get(name) in chosen]


def apex_builder(
    run_cfg: RunConfig, cache: DenseCache, feature_names: Sequence[str] | None = None
) -> Callable[[int, list[int], list[int]], ApexRanker]:
    """The Trainer's ``builder`` for the APEX of ``run_cfg`` on ``cache``: resolves the market
    columns among the loader's features (``feature_names``, default the loader's selection)
    and passes the normalisation when the loader runs with ``normalize = "off"``."""
    cfg = run_cfg.model
    if not isinstance(cfg, ApexConfig):
        raise ApexError(f"apex_builder needs an apex [model], got kind {cfg.kind!r}")
    loader = run_cfg.data.loader
    if feature_names is None:
        idx = cache.feature_index(loader.features, loader.feature_blocks)
        feature_names = [cache.feature_names[i] for i in idx]
    blocks = dict(zip(cache.feature_names, cache.feature_blocks, strict=True))
    index = market_columns(feature_names, blocks, cfg.market_blocks)
    if cfg.market_gate and not index:
        raise ApexError(
            f"{cache.path}: none of model.market_blocks {cfg.market_blocks} is among the "
            f"selected features' blocks {sorted({blocks[n] for n in feature_names})}"
        )
    normalization = run_cfg.data.normalization if loader.normalize == "off" else None

    def build(n_features: int, horizons: list[int], cards: list[int]) -> ApexRanker:
        return build_apex(cfg, n_features, horizons, cards, index, normalization)

    return build
