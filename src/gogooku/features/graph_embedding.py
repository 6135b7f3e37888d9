"""Graph-embedding block (``gemb``): node2vec embeddings of the correlation graph, point in time.

Opt-in (``Block.opt_in``): built only when requested by name (``--blocks default,gemb``); its
cost (docs/benchmarks.md, "Graph embeddings") does not fit the default build's budget.

Refresh days: the first graph refresh day (first trading day of an ISO week, ``graph``) of each
calendar month. On a refresh day r the graph is exactly the ``graph`` block's graph of r (60-day
pairwise-complete return correlations, union of each node's top-10 |ρ| ≥ 0.3 partners; data ≤ r
only). Day t gets the embedding of the latest refresh r(t) ≤ t (forward-filled between refreshes).

Embedding of one refresh (node2vec, Grover & Leskovec 2016), ``dim`` (8) columns per node:

- walks: ``walks_cold`` (8) or ``walks_warm`` (2) walks of ``walk_length`` (20) nodes from every
  node with an edge, unweighted second-order steps: from ``cur`` (previous node ``prev``) a
  neighbour x is drawn uniformly and accepted with probability π(x) / max(1/p, 1, 1/q), π = 1/p if
  x = prev, 1 if x is a neighbour of prev, 1/q otherwise (rejection sampling; p = 1, q = 0.5:
  walks explore outward, so embeddings group communities);
- skip-gram with negative sampling: for node u and node v at most ``window`` (3) steps from it on
  a walk, and ``negatives`` (5) nodes n drawn ∝ degree^0.75, minimise
  −log σ(w_u·c_v) − Σ_n log σ(−w_u·c_n) by mini-batch SGD (about 2 pairs per node per batch,
  256 to ``batch`` pairs; learning rate falling linearly from ``lr`` to 0 over the epochs); w
  are the features, c the context vectors.

Comparability over time (a skip-gram solution is defined up to rotation): the first refresh of
the build starts cold (w ~ U(−0.5/dim, 0.5/dim), c = 0; ``walks_cold``, ``epochs_cold``, ``lr``);
every later one that shares at least ``dim`` nodes with the previous refresh starts warm from its
vectors (new nodes cold; ``walks_warm``, ``epochs_warm``, ``lr_warm``), then is rotated by the
orthogonal Procrustes solution R = U Vᵀ (U S Vᵀ = svd(W_newᵀ W_prev) on the nodes of both
refreshes) onto the previous one (w and c alike, so w·c is unchanged). The chain starts at the
base frame's first refresh, so the values depend on the build's start (never on data after the
refresh day): a dataset holding the block is rebuilt, not extended (``Block.history_dependent``).
Everything is drawn from generators seeded by (``seed``, refresh date): the same build gives the
same values.

Nulls: a stock that is not a node on r(t), or a node without an edge, has nulls in every
``gemb_*`` column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import torch

from gogooku.features import ops
from gogooku.features.base import Block, BlockContext, Feature
from gogooku.features.graph import GraphConfig, knn_edges, masked_correlation, refresh_days


@dataclass(frozen=True)
class EmbeddingConfig:
    """node2vec and training parameters (module doc)."""

    dim: int = 8
    walk_length: int = 20
    window: int = 3
    negatives: int = 5
    p: float = 1.0
    q: float = 0.5
    walks_cold: int = 8
    walks_warm: int = 2
    epochs_cold: int = 3
    epochs_warm: int = 1
    lr: float = 0.025
    lr_warm: float = 0.01
    batch: int = 8192  # largest batch; smaller graphs use 2 pairs per node
    seed: int = 0


DIM = EmbeddingConfig().dim
# Trading days of history before the first day with a value: the graph window (61 rows) plus up
# to a month (23 trading days) between that day and its month's refresh day.
LOOKBACK = 61 + 23
_NOISE_TABLE = 1 << 20  # entries of the negative-sampling table

FEATURES: tuple[Feature, ...] = tuple(
    Feature(
        f"gemb_{i}",
        f"Coordinate {i} of the node2vec embedding of the correlation graph (monthly refresh)",
        f"w_i[{i}], skip-gram on node2vec walks, Procrustes-aligned to the previous refresh",
        LOOKBACK,
    )
    for i in range(DIM)
)


def embedding_refresh_days(calendar_days: pl.Series) -> pl.Series:
    """The first graph refresh day of each calendar month among the sorted ``calendar_days``."""
    weekly = refresh_days(calendar_days)
    month = weekly.dt.year().cast(pl.Int64) * 100 + weekly.dt.month()
    return weekly.filter(month != month.shift(1))


def node2vec_walks(
    indptr: np.ndarray,
    indices: np.ndarray,
    starts: np.ndarray,
    length: int,
    p: float,
    q: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Second-order walks (module doc) on the CSR graph (``indices`` sorted within each row), one
    from each of ``starts`` (nodes with an edge); returns a ``len(starts)`` × ``length`` array."""
    n = indptr.size - 1
    deg = np.diff(indptr)
    src = np.repeat(np.arange(n), deg)
    keys = src * n + indices  # sorted: rows in order, columns sorted within a row
    walks = np.empty((starts.size, length), dtype=np.int64)
    walks[:, 0] = starts

    def neighbour(nodes: np.ndarray) -> np.ndarray:
        return indices[indptr[nodes] + (rng.random(nodes.size) * deg[nodes]).astype(np.int64)]

    if length > 1:
        walks[:, 1] = neighbour(starts)
    top = max(1.0 / p, 1.0, 1.0 / q)
    for step in range(2, length):
        prev, cur = walks[:, step - 2], walks[:, step - 1]
        pending = np.arange(starts.size)
        while pending.size:
            x = neighbour(cur[pending])
            back = prev[pending]
            key = back * n + x
            at = np.minimum(np.searchsorted(keys, key), keys.size - 1)
            weight = np.where(x == back, 1.0 / p, np.where(keys[at] == key, 1.0, 1.0 / q))
            accept = rng.random(pending.size) * top < weight
            walks[pending[accept], step] = x[accept]
            pending = pending[~accept]
    return walks


def _pairs(walks: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(centre, context) pairs at most ``window`` steps apart on a walk, both directions."""
    a = [walks[:, :-k].ravel() for k in range(1, min(window, walks.shape[1] - 1) + 1)]
    b = [walks[:, k:].ravel() for k in range(1, min(window, walks.shape[1] - 1) + 1)]
    return np.concatenate(a + b), np.concatenate(b + a)


def skipgram(
    w: torch.Tensor,
    c: torch.Tensor,
    walks: np.ndarray,
    noise: np.ndarray,
    epochs: int,
    lr: float,
    config: EmbeddingConfig,
    rng: np.random.Generator,
) -> None:
    """Skip-gram with negative sampling (module doc) on the walks, updating ``w`` and ``c`` in
    place; ``noise`` is the negative-sampling distribution over the nodes."""
    centre, context = _pairs(walks, config.window)
    # Negatives are drawn from a table holding each node ∝ its noise weight (word2vec's unigram
    # table): one integer draw per negative instead of a search in the cumulative weights.
    share = noise / noise.sum()
    table = np.repeat(np.arange(noise.size), np.ceil(share * _NOISE_TABLE).astype(np.int64))
    total = epochs * centre.size
    # A node's updates within a batch add up: about two pairs per node per batch keeps the step
    # of each vector near the per-pair step of sequential SGD.
    batch = max(256, min(config.batch, 2 * w.shape[0]))
    label = torch.zeros((batch, 1 + config.negatives))
    label[:, 0] = 1.0
    centre_t, context_t = torch.from_numpy(centre), torch.from_numpy(context)
    done = 0
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(centre.size))
        negatives = torch.from_numpy(
            table[rng.integers(0, table.size, (centre.size, config.negatives))]
        )
        for lo in range(0, centre.size, batch):
            pick = order[lo : lo + batch]
            m = pick.numel()
            u = centre_t[pick]
            v = torch.cat([context_t[pick, None], negatives[lo : lo + m]], dim=1)
            step = lr * max(1.0 - done / total, 1e-4)
            wu, cv = w[u], c[v]  # m × d, m × (1 + k) × d
            score = torch.bmm(cv, wu[:, :, None])[:, :, 0]
            g = (label[:m] - torch.sigmoid(score)).mul_(step)
            c.index_add_(0, v.ravel(), (g[:, :, None] * wu[:, None, :]).reshape(-1, w.shape[1]))
            w.index_add_(0, u, torch.bmm(g[:, None, :], cv)[:, 0])
            done += m


def procrustes(moving: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal R minimising ‖moving R − target‖_F: U Vᵀ with U S Vᵀ = svd(movingᵀ target)."""
    u, _, vt = np.linalg.svd(moving.T @ target)
    return u @ vt


@dataclass(frozen=True)
class _State:
    """The previous refresh's vectors: node codes (positions in the build's codes) → rows."""

    codes: np.ndarray
    w: np.ndarray
    c: np.ndarray


def embed(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    codes: np.ndarray,
    previous: _State | None,
    config: EmbeddingConfig,
    rng: np.random.Generator,
) -> _State:
    """Embedding of one refresh's graph (``n`` nodes, edges ``src → dst`` both ways, sorted by
    (src, dst); ``codes``: each node's code position), warm-started from and aligned to
    ``previous`` (module doc). Only nodes with an edge are kept."""
    deg = np.bincount(src, minlength=n)
    active = np.flatnonzero(deg > 0)
    if active.size == 0:
        return _State(codes[:0], np.empty((0, config.dim)), np.empty((0, config.dim)))
    indptr = np.concatenate([[0], np.cumsum(deg)])
    scale = 0.5 / config.dim
    w = (rng.random((n, config.dim)) * 2.0 - 1.0) * scale
    c = np.zeros((n, config.dim))
    common = np.empty(0, dtype=np.int64)
    if previous is not None and previous.codes.size:
        at = np.minimum(np.searchsorted(previous.codes, codes), previous.codes.size - 1)
        known = (previous.codes[at] == codes) & (deg > 0)
        common = np.flatnonzero(known)
        w[common], c[common] = previous.w[at[common]], previous.c[at[common]]
    warm = common.size >= config.dim
    walks = node2vec_walks(
        indptr,
        dst,
        np.repeat(active, config.walks_warm if warm else config.walks_cold),
        config.walk_length,
        config.p,
        config.q,
        rng,
    )
    wt, ct = torch.from_numpy(w.astype(np.float32)), torch.from_numpy(c.astype(np.float32))
    skipgram(
        wt,
        ct,
        walks,
        deg.astype(np.float64) ** 0.75,
        config.epochs_warm if warm else config.epochs_cold,
        config.lr_warm if warm else config.lr,
        config,
        rng,
    )
    w, c = wt.numpy().astype(np.float64), ct.numpy().astype(np.float64)
    if warm:
        rot = procrustes(w[common], previous.w[np.searchsorted(previous.codes, codes[common])])
        w, c = w @ rot, c @ rot
    order = np.argsort(codes[active])
    keep = active[order]
    return _State(codes[keep], w[keep], c[keep])


def _positions(frame: pl.DataFrame, codes: pl.Series, days: pl.Series):
    """(day, code) positions of the rows of ``frame`` in the sorted ``days`` and ``codes``."""
    return days.search_sorted(frame["Date"]).to_numpy(), codes.search_sorted(
        frame["Code"]
    ).to_numpy()


def refresh_graphs(ctx: BlockContext, graph: GraphConfig | None = None):
    """``(codes, days, graphs)``: the base frame's sorted codes and days and, per refresh day in
    order, ``(day position, nodes, src, dst)`` — the graph block's graph of that day (nodes as
    code positions, edges as node positions, both directions, sorted by (src, dst))."""
    graph = graph or GraphConfig()
    base = ctx.base.select("Code", "Date", "AdjC", "no_trade").collect()
    codes, days = base["Code"].unique().sort(), base["Date"].unique().sort()
    c = pl.col("AdjC")
    traded = base.filter(~pl.col("no_trade")).with_columns((c / ops.lag(c) - 1.0).alias("r1"))
    shape = (days.len(), codes.len())
    r1 = np.full(shape, np.nan)
    r1[_positions(traded, codes, days)] = traded["r1"].to_numpy()
    present = np.zeros(shape, dtype=bool)
    present[_positions(base, codes, days)] = True
    refresh = embedding_refresh_days(ctx.calendar.frame()["Date"])
    todo = np.flatnonzero(days.is_in(refresh.implode()).to_numpy())
    graphs = []
    for r in todo[todo >= graph.window - 1]:
        window = r1[r - graph.window + 1 : r + 1]
        nodes = np.flatnonzero(present[r] & ((~np.isnan(window)).sum(axis=0) >= graph.min_obs))
        if nodes.size < 2:
            continue
        rho, order = masked_correlation(window[:, nodes], graph.min_obs)
        src, dst, _ = knn_edges(rho, graph.threshold, graph.top_k)
        graphs.append((int(r), nodes[order], src, dst))
    return codes, days, graphs


def embedding_parts(ctx: BlockContext, config: EmbeddingConfig = EmbeddingConfig()):
    """``(codes, days, refreshes)``: :func:`refresh_graphs`' codes and days and, per refresh day
    in order, ``(day position, state)`` (module doc)."""
    codes, days, graphs = refresh_graphs(ctx)
    out: list[tuple[int, _State]] = []
    previous = None
    for r, nodes, src, dst in graphs:
        rng = np.random.default_rng([config.seed, days[r].toordinal()])
        previous = embed(nodes.size, src, dst, nodes, previous, config, rng)
        out.append((r, previous))
    return codes, days, out


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """``gemb_*`` on every base row: the latest refresh's vector of the stock, nulls elsewhere.

    Torch runs single-threaded (as in the graph block: its pool spin-waits on shared cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        codes, days, refreshes = embedding_parts(ctx)
    finally:
        torch.set_num_threads(threads)
    names = [f.name for f in FEATURES]
    frames = [
        pl.DataFrame(
            {
                "_r": np.full(state.codes.size, r, dtype=np.int64),
                "Code": codes.gather(state.codes),
                **{name: state.w[:, i] for i, name in enumerate(names)},
            }
        )
        for r, state in refreshes
    ]
    keys = ctx.base.select("Code", "Date")
    if not frames:
        return ops.finalize(keys.with_columns(pl.lit(None).alias(n) for n in names), FEATURES)
    starts = np.array([r for r, _ in refreshes])
    latest = np.searchsorted(starts, np.arange(days.len()), side="right") - 1
    refresh_of = pl.DataFrame(
        {"Date": days, "_r": np.where(latest >= 0, starts[np.maximum(latest, 0)], -1)}
    )
    table = pl.concat(frames)
    joined = keys.join(refresh_of.lazy(), on="Date", how="left", maintain_order="left").join(
        table.lazy(), on=["_r", "Code"], how="left", maintain_order="left"
    )
    return ops.in_memory(ops.finalize(joined.drop("_r"), FEATURES))


BLOCK = Block(
    name="gemb",
    sources=("equities_bars_daily",),
    availability="bars_same_day",
    lookback=ops.lookback(FEATURES),
    features=FEATURES,
    compute=compute,
    cross_sectional=True,
    opt_in=True,
    history_dependent=True,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
