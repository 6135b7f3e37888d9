"""ATFT-GAT-FAN: temporal fusion encoder per stock, a graph attention layer across the day's
stocks, and per-horizon point and quantile heads.

``forward(batch)`` takes a :class:`~gogooku.dataset.loader.DayBatch` (x (B, L, N, F)) and runs:

1. **Clean**: non-finite features → 0, and days on which a stock is not listed (``x_mask``) → 0.
   The B·N stock windows are flattened into one batch axis M for everything up to the GAT.
2. **Static context** from the categorical ids (sector33, sector17, market): one embedding table
   with per-column offsets, c = GRN(concat of embeddings), then four linear maps of c: the
   variable-selection context c_s, the enrichment context c_e and the LSTM's initial (h₀, c₀).
3. **Normalisation along time** (``norm``): FAN (residual to the encoder, the dominant-frequency
   reconstruction as context), SAN (per-slice statistics and their prediction as context) or a
   plain instance norm (``gogooku.models.fan``).
4. **Variable selection**, one per window: w = softmax(GRN(x_L, c_s)) over the F features,
   from the last day's normalised features x_L; e_t = W_x (F · w ⊙ x_t) + W_ctx context_t + p_t
   (p a learned position embedding of the L days).
5. **Temporal fusion** (TFT): LSTM(e) with state (h₀, c₀); z = LayerNorm(e + GLU(LSTM));
   enrichment s = GRN(z, c_e); the last day's s_L attends over s_1..s_L (multi-head, days the stock
   was not listed are not attended to; ``attention``); a = LayerNorm(s_L + GLU(attn)) — or a = s_L
   without attention —; h = LayerNorm(z_L + GLU(GRN(a))).
6. **GAT** (``gat``): the B days form one disjoint graph over B·N nodes, edges from
   ``batch.edges`` (weight as edge feature) with every edge touching a masked stock dropped;
   g = GATv2Conv(h) over the neighbours only (no self loops, no bias: g = 0 for a stock without
   edges, and for every stock when there is no graph); h ← h + σ(W[h; g]) ⊙ g.
7. **Heads**: r = Linear(GRN(h)) gives per horizon the point forecast r₀ and Q raw values; the
   quantiles are q₁ = r₁ and q_i = q_{i−1} + softplus(r_i), so they increase along Q. With
   ``linear_skip`` the point forecast is r₀ + W_s x_L + b_s, a linear map of the last day's
   cleaned features (before the normalisation along time), so the network starts from a
   ridge-like cross-sectional signal and learns the rest on top of it. With
   ``linear_skip_init = "ridge"`` the trainer fits W_s, b_s in closed form on the training days
   (``gogooku.train.ridge_start``) and keeps them fixed, and the point rows of the output layer
   start at 0, so training starts from the ridge forecast and learns a residual. Outputs
   are float32 also under bf16 autocast (FAN's FFT runs in float32 as well).

Parts (:data:`PARTS`, switched off for a phase of ``[train] phases`` with :meth:`switch`):
``"norm"`` — step 3 (off: the encoder sees the cleaned x and no context), ``"attention"`` — the
attention of step 5 (off: a = s_L), ``"gat"`` — step 6 (off: h unchanged); :meth:`parameters_of`
names each part's parameters, ``"encoder"`` everything else that trains.

Branch outputs (``ModelOutput.branches``, each (B, N, H)): ``"fan"`` or ``"san"`` — the projected
normalisation context of the last day, ``"attention"`` — GLU(attn) of step 5, ``"gat"`` — σ(…) ⊙ g of step 6.
There is no Python loop over stocks or features; the only loop is over the B days' edge lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from pydantic import Field, model_validator
from torch import nn
from torch_geometric.nn import GATv2Conv

from gogooku.models.fan import FrequencyAdaptiveNorm, InstanceNorm, SliceAdaptiveNorm
from gogooku.models.layers import GateAddNorm, GatedLinearUnit, GatedResidualNetwork
from gogooku.models.output import ModelOutput, QuantileFields, head_output
from gogooku.models.skip import LinearSkipFields, attach_linear_skip

if TYPE_CHECKING:
    from gogooku.dataset.loader import DayBatch


class AtftConfig(LinearSkipFields, QuantileFields):
    """The ``[model]`` section for ``kind = "atft"``; every field changes the built model."""

    kind: Literal["atft"] = "atft"
    hidden_size: int = Field(128, ge=4, description="H: width of every layer")
    lstm_layers: int = Field(2, ge=1)
    attention_heads: int = Field(4, ge=1, description="heads of the temporal self-attention")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    window: int = Field(60, ge=2, description="L: must equal [data] loader.window")
    norm: Literal["fan", "san", "instance"] = Field(
        "fan", description="normalisation along time: FAN, SAN or a plain instance norm"
    )
    fan_top_k: int = Field(3, ge=1, description="dominant frequencies FAN removes")
    san_slice: int = Field(5, ge=1, description="T: days per SAN slice (window a multiple, ≥ 2T)")
    gat: bool = True
    gat_heads: int = Field(2, ge=1)
    attention: bool = True
    static_embedding_dim: int = Field(8, ge=1, description="per categorical id column")

    PARTS: ClassVar[tuple[str, ...]] = ("norm", "attention", "gat", "encoder")

    @model_validator(mode="before")
    @classmethod
    def _legacy_fan(cls, data: Any) -> Any:
        """``fan = true/false`` (configs and saved runs before ``norm``) → norm fan/instance."""
        if not isinstance(data, dict) or "fan" not in data:
            return data
        data = dict(data)
        fan = data.pop("fan")
        if not isinstance(fan, bool):
            raise ValueError(f"fan = {fan!r}: expected true or false (or use norm = ...)")
        norm = "fan" if fan else "instance"
        if data.setdefault("norm", norm) != norm:
            raise ValueError(
                f"fan = {str(fan).lower()} and norm = {data['norm']!r} disagree (fan is the old "
                'spelling of norm = "fan" / "instance"): keep only norm'
            )
        return data

    @model_validator(mode="after")
    def _consistent(self) -> AtftConfig:
        if self.hidden_size % self.attention_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not divisible by "
                f"attention_heads={self.attention_heads}"
            )
        if self.fan_top_k > self.window // 2 + 1:
            raise ValueError(
                f"fan_top_k={self.fan_top_k} exceeds the {self.window // 2 + 1} rFFT frequencies "
                f"of window={self.window}"
            )
        if self.norm == "san" and (
            self.window % self.san_slice or self.window < 2 * self.san_slice
        ):
            raise ValueError(
                f"norm = 'san' needs window={self.window} to be a multiple of "
                f"san_slice={self.san_slice} with at least two slices"
            )
        return self


class AtftGatFan(nn.Module):
    """The ATFT-GAT-FAN network (module doc); build it with :func:`build_atft`."""

    def __init__(
        self,
        cfg: AtftConfig,
        n_features: int,
        horizons: Sequence[int],
        static_cardinalities: Sequence[int],
    ) -> None:
        super().__init__()
        if n_features < 1 or not horizons:
            raise ValueError(
                f"ATFT needs at least one feature and one horizon (n_features={n_features}, "
                f"horizons={list(horizons)})"
            )
        if any(c < 1 for c in static_cardinalities):
            raise ValueError(f"static_cardinalities={list(static_cardinalities)} must be >= 1")
        h, p = cfg.hidden_size, cfg.dropout
        self.cfg = cfg
        self.n_features = n_features
        self.horizons = tuple(int(v) for v in horizons)
        self.quantile_levels = tuple(cfg.quantiles)
        self.n_static = len(static_cardinalities)

        if self.n_static:
            offsets = torch.tensor([0, *static_cardinalities[:-1]]).cumsum(0)
            self.register_buffer("static_offsets", offsets, persistent=False)
            cards = torch.tensor(list(static_cardinalities))
            self.register_buffer("static_cardinalities", cards, persistent=False)
            self.static_embedding = nn.Embedding(
                sum(static_cardinalities), cfg.static_embedding_dim
            )
            self.static_encoder = GatedResidualNetwork(
                self.n_static * cfg.static_embedding_dim, h, h, p
            )
        else:
            self.static_bias = nn.Parameter(torch.zeros(h))
        self.static_contexts = nn.Linear(h, 4 * h)

        self.off: set[str] = set()
        if cfg.norm == "fan":
            self.norm = FrequencyAdaptiveNorm(cfg.fan_top_k)
        elif cfg.norm == "san":
            self.norm = SliceAdaptiveNorm(cfg.window, cfg.san_slice)
        else:
            self.norm = InstanceNorm()
        self.context_proj = nn.Linear(self.norm.context_dim(n_features), h)
        self.selection = GatedResidualNetwork(n_features, h, n_features, p, d_context=h)
        self.feature_proj = nn.Linear(n_features, h)
        self.position = nn.Parameter(torch.randn(cfg.window, h) * 0.02)

        self.lstm = nn.LSTM(
            h, h, cfg.lstm_layers, batch_first=True, dropout=p if cfg.lstm_layers > 1 else 0.0
        )
        self.lstm_gate = GateAddNorm(h, h, p)
        self.enrichment = GatedResidualNetwork(h, h, h, p, d_context=h)
        if cfg.attention:
            self.attn = nn.MultiheadAttention(h, cfg.attention_heads, dropout=p, batch_first=True)
            self.attn_glu = GatedLinearUnit(h, h, p)
            self.attn_norm = nn.LayerNorm(h)
        self.positionwise = GatedResidualNetwork(h, h, h, p)
        self.output_gate = GateAddNorm(h, h, p)

        if cfg.gat:
            # no self loops and no bias: a stock without neighbours gets g = 0, so the branch
            # carries only neighbour information (its own state is the residual) and reads as
            # dead on a dataset without a graph
            self.gat = GATv2Conv(
                h,
                h,
                heads=cfg.gat_heads,
                concat=False,
                dropout=p,
                edge_dim=1,
                add_self_loops=False,
                bias=False,
            )
            self.gat_gate = nn.Linear(2 * h, h)

        self.head = GatedResidualNetwork(h, h, h, p)
        self.n_out = 1 + len(self.quantile_levels)
        self.out = nn.Linear(h, len(self.horizons) * self.n_out)
        attach_linear_skip(self, cfg, n_features, self.out, self.n_out)

    # -- parts (phase training) -----------------------------------------------------------------
    def _part_modules(self) -> dict[str, list[nn.Module]]:
        parts: dict[str, list[nn.Module]] = {"norm": [self.norm, self.context_proj]}
        parts["attention"] = (
            [self.attn, self.attn_glu, self.attn_norm] if self.cfg.attention else []
        )
        parts["gat"] = [self.gat, self.gat_gate] if self.cfg.gat else []
        return parts

    def parameters_of(self) -> dict[str, list[nn.Parameter]]:
        """Each part's trainable parameters (module doc); ``"encoder"``: the rest."""
        named = {
            part: [p for mod in mods for p in mod.parameters()]
            for part, mods in self._part_modules().items()
        }
        taken = {id(p) for params in named.values() for p in params}
        named["encoder"] = [p for p in self.parameters() if id(p) not in taken]
        return named

    def switch(self, part: str, on: bool) -> None:
        """Run ``part`` ("norm", "attention" or "gat") in ``forward`` or bypass it."""
        if part not in self._part_modules():
            raise ValueError(
                f"ATFT part {part!r} cannot be switched off: expected norm, attention or gat"
            )
        if on:
            self.off.discard(part)
        else:
            self.off.add(part)

    # -- pieces of forward ----------------------------------------------------------------------
    def _static_context(self, static: torch.Tensor, m: int) -> torch.Tensor:
        """c (M, H) from the (M, S) categorical ids; an id outside its column's range (a
        category unseen when the model was built) is read as 0, the cache's id for unknown."""
        if not self.n_static:
            return self.static_bias.expand(m, -1)
        static = torch.where((static >= 0) & (static < self.static_cardinalities), static, 0)
        emb = self.static_embedding(static + self.static_offsets)
        return self.static_encoder(emb.reshape(m, -1))

    def _graph(self, batch: DayBatch, n: int, node_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The B days' edges as one disjoint graph over B·N nodes, masked stocks' edges dropped."""
        device = node_mask.device
        if not batch.edges:
            return torch.zeros(2, 0, dtype=torch.long, device=device), torch.zeros(0, device=device)
        index = torch.cat([ei.long() + day * n for day, (ei, _) in enumerate(batch.edges)], dim=1)
        weight = torch.cat([w for _, w in batch.edges]).to(device=device, dtype=torch.float32)
        keep = node_mask[index[0]] & node_mask[index[1]]
        return index[:, keep], weight[keep]

    def forward(self, batch: DayBatch) -> ModelOutput:
        b, length, n, f = batch.x.shape
        if length != self.cfg.window or f != self.n_features:
            raise ValueError(
                f"ATFT built for window={self.cfg.window}, n_features={self.n_features} got "
                f"x of shape {tuple(batch.x.shape)} (B, L, N, F): set [model] window to "
                f"[data] loader.window and build with the loader's feature count"
            )
        if batch.static.shape[-1] != self.n_static:
            raise ValueError(
                f"ATFT built for {self.n_static} static id columns, batch has "
                f"{batch.static.shape[-1]}"
            )
        m, h = b * n, self.cfg.hidden_size
        listed = batch.x_mask.permute(0, 2, 1).reshape(m, length)
        x = torch.nan_to_num(batch.x, nan=0.0, posinf=0.0, neginf=0.0)
        x = x.permute(0, 2, 1, 3).reshape(m, length, f) * listed.unsqueeze(-1).to(x.dtype)

        c = self._static_context(batch.static.reshape(m, -1), m)
        c_select, c_enrich, h0, c0 = self.static_contexts(c).chunk(4, dim=-1)
        branches: dict[str, torch.Tensor] = {}

        if "norm" in self.off:
            signal, context_h = x, x.new_zeros(())
        else:
            signal, context = self.norm(x)
            context_h = self.context_proj(context)
            if self.cfg.norm != "instance":
                branches[self.cfg.norm] = context_h[:, -1].reshape(b, n, h)
        # one selection per window, from its last day: the GRN over F features is the costliest
        # layer, and running it on every day of the window made it L times as costly
        weights = torch.softmax(self.selection(signal[:, -1], c_select), dim=-1)
        e = self.feature_proj(signal * (weights * f).unsqueeze(1)) + context_h + self.position

        state = (
            h0.unsqueeze(0).repeat(self.cfg.lstm_layers, 1, 1).contiguous(),
            c0.unsqueeze(0).repeat(self.cfg.lstm_layers, 1, 1).contiguous(),
        )
        lstm_out, _ = self.lstm(e, state)
        z = self.lstm_gate(lstm_out, e)
        s = self.enrichment(z, c_enrich.unsqueeze(1))
        query = s[:, -1:]
        if self.cfg.attention and "attention" not in self.off:
            # the last day is always attendable, so a window with no listed day has no empty row
            padding = torch.cat([~listed[:, :-1], torch.zeros_like(listed[:, -1:])], dim=1)
            attended, _ = self.attn(query, s, s, key_padding_mask=padding, need_weights=False)
            contribution = self.attn_glu(attended)
            branches["attention"] = contribution.reshape(b, n, h)
            query = self.attn_norm(query + contribution)
        hidden = self.output_gate(self.positionwise(query), z[:, -1:]).squeeze(1)

        if self.cfg.gat and "gat" not in self.off:
            edge_index, edge_weight = self._graph(batch, n, batch.mask.reshape(m))
            g = self.gat(hidden, edge_index, edge_attr=edge_weight.unsqueeze(-1))
            contribution = torch.sigmoid(self.gat_gate(torch.cat([hidden, g], dim=-1))) * g
            branches["gat"] = contribution.reshape(b, n, h)
            hidden = hidden + contribution

        # forecasts in float32 under autocast, so losses and the quantile cumsum keep precision
        raw = self.out(self.head(hidden)).float().reshape(b, n, len(self.horizons), self.n_out)
        skip = None
        if self.cfg.linear_skip:
            skip = self.skip(x[:, -1]).float().reshape(b, n, len(self.horizons))
        return head_output(raw, skip, branches, self.quantile_levels)


def build_atft(
    cfg: AtftConfig,
    n_features: int,
    horizons: Sequence[int],
    static_cardinalities: Sequence[int],
) -> AtftGatFan:
    """The ATFT-GAT-FAN for F = ``n_features`` inputs, one output per horizon, and one embedding
    range per static id column (ids of column s in 0..``static_cardinalities[s]`` − 1; any other
    id is read as 0)."""
    return AtftGatFan(cfg, n_features, horizons, static_cardinalities)
