"""Correlation-graph block (``graph``) and its edge lists (``graph_edges.parquet``).

Graph in force on day t: built on the *refresh day* r(t), the first trading day of t's ISO week
(the latest such day ≤ t), from data ≤ r(t) only. Rebuilding weekly instead of daily keeps the
4,000-stock × 10-year build inside its budget; the rule depends only on the trading calendar, so
a day's graph never changes when later data arrives.

On a refresh day r, with the last ``window`` (60) trading days of daily returns ending at r
(``r_t = AdjC_t / AdjC_prev − 1`` over the stock's traded rows; no-trade days are missing):

- nodes: stocks with a row on r and ≥ ``min_obs`` (40) returns in the window;
- ρ_ij: pairwise-complete Pearson correlation over the days both returned (≥ ``min_obs``)::

      n = Σ m_i m_j,  S_i = Σ m_j x_i,  Q_i = Σ m_j x_i²,  P = Σ x_i x_j   (sums over the window)
      ρ_ij = (P − S_i S_j / n) / sqrt((Q_i − S_i²/n)(Q_j − S_j²/n))

  computed for all pairs at once by matrix products of the masked returns and the masks;
- edges: each node keeps its ``top_k`` (10) partners by |ρ| among those with |ρ| ≥ ``threshold``
  (0.3); the graph is the undirected union of these choices (so a degree may exceed ``top_k``).

Per node and day t (graph of r(t)): ``graph_degree`` = number of neighbours; ``graph_peer_corr_*``
= mean / max of ρ over neighbours; ``graph_peer_mom_{5,20}d`` = mean over neighbours of their
{5,20}-row return on t (neighbours without one are left out); ``graph_pagerank`` = PageRank
(damping 0.85, edge weights |ρ|, isolated nodes teleport uniformly) × number of nodes (mean 1);
``graph_component_size`` = nodes in the node's connected component; ``graph_days_since_refresh``
= trading days between r(t) and t. Stocks that are not nodes get nulls (degree 0 is a node with
no edge). The edge list (``Date`` = refresh day, ``src``, ``dst``, ``weight`` = ρ, both
directions) is written by the builder to ``datasets/NAME/graph_edges.parquet``.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from gogooku.features import ops
from gogooku.features.base import Block, BlockContext, Feature

EDGES_FILE = "graph_edges.parquet"
EDGE_SCHEMA = {"Date": pl.Date, "src": pl.String, "dst": pl.String, "weight": pl.Float32}
_ROWS = 64  # rows per in-place block of the N × N element-wise work (fits the L2 cache)
_GRAM_BLOCKS = 8  # row blocks of the complete columns' product (``_gram``)
_CELLS = 32_768  # cells per block of the N × (N − nc) incomplete-column work (six such arrays)
# Refresh days computed at once (each thread keeps one N × N float32 matrix: 64 MB at N = 4,000).
_WORKERS = min(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class GraphConfig:
    """Graph parameters: return window, |ρ| threshold, edges kept per node, joint observations."""

    window: int = 60
    threshold: float = 0.3
    top_k: int = 10
    min_obs: int = 40
    damping: float = 0.85


@dataclass(frozen=True)
class ArtifactBlock(Block):
    """A block that also produces dataset files: ``compute_artifacts(ctx)`` returns the feature
    frame and ``{file name: frame with a Date column}``; the builder writes the files next to the
    panel (rows dated from the refresh governing the build start up to its end)."""

    compute_artifacts: Callable[[BlockContext], tuple[pl.LazyFrame, dict[str, pl.DataFrame]]]


def masked_correlation(
    x: np.ndarray, min_obs: int, out: torch.Tensor | None = None
) -> tuple[torch.Tensor, np.ndarray]:
    """Pairwise-complete correlation (module formula) of the columns of ``x`` (W × N, NaN = missing).

    Returns ``(rho, order)``: ``rho`` (float32 torch, N × N) correlates the columns
    ``x[:, order]`` (complete columns first, so every block is a contiguous slice). Each column is
    first centred on its observed mean (the correlation is unchanged; the sums lose less
    precision). Complete columns are correlated with the product of their standardised returns
    (:func:`_gram`: the blocks up to the diagonal, mirrored); only pairs touching an incomplete
    column use the masked sums. Pairs with fewer than ``min_obs`` joint observations or zero
    variance, and the diagonal, are NaN.

    ``out`` (float32, at least N² elements) is reused storage for ``rho``: a fresh N × N matrix
    costs a page fault per 4 KiB on its first write, more than the product itself at N = 4,000.
    The product is written into it, then finished (÷ W, clamp) in blocks of ``_ROWS`` rows that
    stay in cache; every element gets the same operations as the whole-matrix expressions.
    """
    # Days on which no column has a value (the 2020-10-01 halt) enter no pair: dropping them
    # keeps every other column on the cheap complete path.
    x = x[~np.isnan(x).all(axis=1)]
    w, n = x.shape
    observed = ~np.isnan(x)
    complete = observed.all(axis=0)
    order = np.concatenate([np.flatnonzero(complete), np.flatnonzero(~complete)])
    nc = int(complete.sum())
    x = x[:, order]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        flat = torch.from_numpy(np.flatnonzero(~(np.nanmax(x, axis=0) > np.nanmin(x, axis=0))))
        centred = np.nan_to_num(x - np.nanmean(x, axis=0), nan=0.0)
    xt = torch.from_numpy(centred.astype(np.float32))
    mask = torch.from_numpy(np.ascontiguousarray(observed[:, order]))
    rho = torch.empty((n, n)) if out is None else out[: n * n].view(n, n)
    if nc:
        sd = xt[:, :nc].pow(2).mean(dim=0).sqrt()
        z = xt[:, :nc] / torch.where(sd > 0, sd, 1.0)
        _gram(z, rho[:nc, :nc])
        if w < min_obs:
            rho[:nc, :nc] = float("nan")
    if nc < n:
        part = _incomplete_part(xt, mask.to(torch.float32), nc, min_obs)
        rho[:, nc:] = part
        rho[nc:, :] = part.T
    # Index fills: boolean-mask assignment scans the whole N × N matrix even for no flat column.
    rho.index_fill_(0, flat, float("nan")).index_fill_(1, flat, float("nan"))
    rho.fill_diagonal_(float("nan"))
    for lo in range(0, n, _ROWS):
        rows = rho[lo : lo + _ROWS]
        if lo < nc:
            rows[: nc - lo, :nc].div_(w)  # the complete block's Σ z_i z_j / W
        rows.clamp_(-1.0, 1.0)
    return rho, order


def _gram(z: torch.Tensor, out: torch.Tensor) -> None:
    """``out = zᵀ z`` from the row blocks' products up to the diagonal (``_GRAM_BLOCKS`` blocks of
    at least ``_ROWS`` rows; a remainder under half a block joins the last one) and their mirror
    above it: the product is symmetric, so a bit over half of it is computed. Each element is the
    same sum as in the one whole product (bit for bit in the tests: a block of a few rows could
    take another kernel, hence no short blocks)."""
    n = z.shape[1]
    step = max(_ROWS, -(-n // _GRAM_BLOCKS))
    lo = 0
    while lo < n:
        hi = n if n - lo < step + step // 2 else lo + step
        torch.matmul(z[:, lo:hi].T, z[:, :hi], out=out[lo:hi, :hi])
        out[:lo, lo:hi].copy_(out[lo:hi, :lo].T)
        lo = hi


def _incomplete_part(xt: torch.Tensor, m: torch.Tensor, nc: int, min_obs: int) -> torch.Tensor:
    """ρ of every column with each incomplete column ``nc:`` (N × (N − nc), module formula).

    ``xt``: centred returns with missing values 0; ``m``: the mask as 0/1. The sums are five
    matrix products; the element-wise rest runs in place on blocks of about ``_CELLS`` cells, so the
    N × (N − nc) temporaries of the plain expression are neither allocated nor streamed through
    memory several times (the same operations in the same order: the values are identical).
    """
    mi, xi = m[:, nc:], xt[:, nc:]
    cnt = m.T @ mi
    s_a, s_b = xt.T @ mi, m.T @ xi
    q_a, q_b = (xt * xt).T @ mi, m.T @ (xi * xi)
    cov = xt.T @ xi
    step = max(_ROWS, _CELLS // max(1, cov.shape[1]))  # few incomplete columns: taller blocks
    for lo in range(0, cov.shape[0], step):
        rows = slice(lo, lo + step)
        c, sa, sb, qa, qb, cv = cnt[rows], s_a[rows], s_b[rows], q_a[rows], q_b[rows], cov[rows]
        cv -= (sa * sb).div_(c)  # cov = P - S_a S_b / n
        qa -= sa.pow_(2).div_(c)  # Q_a - S_a² / n
        qb -= sb.pow_(2).div_(c)
        qa *= qb  # var = product of the two
        valid = (c >= min_obs) & (qa > 0)
        cv.div_(qa.sqrt_()).masked_fill_(~valid, float("nan"))
    return cov


def knn_edges(rho: torch.Tensor, threshold: float, top_k: int) -> tuple[np.ndarray, ...]:
    """Undirected union of each node's top-k |ρ| ≥ threshold partners: (src, dst, ρ), both ways.

    Sorted by (src, dst). |ρ| (NaN as −1) is formed in blocks of ``_ROWS`` rows in a small
    scratch matrix and each block's rows go through ``topk`` (a row's choice depends on that
    row alone), so no N × N temporary is allocated.
    """
    n = rho.shape[0]
    k = min(top_k, n - 1)
    if k <= 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=np.float32)
    values = torch.empty((n, k))
    cand = torch.empty((n, k), dtype=torch.int64)
    scratch = torch.empty((min(_ROWS, n), n))
    for lo in range(0, n, _ROWS):
        absr = torch.abs(rho[lo : lo + _ROWS], out=scratch[: min(_ROWS, n - lo)])
        absr.nan_to_num_(nan=-1.0)
        torch.topk(absr, k, dim=1, out=(values[lo : lo + _ROWS], cand[lo : lo + _ROWS]))
    keep = (values >= threshold).numpy()
    src = np.repeat(np.arange(n), k).reshape(n, k)[keep]
    dst = cand.numpy()[keep]
    pairs = np.concatenate([src * n + dst, dst * n + src])
    pairs.sort()  # a sort and a neighbour test: np.unique's hash path is several times slower
    first = np.ones(pairs.size, dtype=bool)
    first[1:] = pairs[1:] != pairs[:-1]
    pairs = pairs[first]
    src, dst = pairs // n, pairs % n
    return src, dst, rho[torch.from_numpy(src), torch.from_numpy(dst)].numpy().astype(np.float64)


def pagerank(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, n: int, damping: float):
    """Weighted PageRank by power iteration (≤ 200 steps, L1 tolerance 1e-12), scaled to mean 1.

    Edges sorted by (src, dst), as :func:`knn_edges` returns them. A node's out-weight
    ``out_i = Σ_j w_ij`` is summed in that order, and the transposed transition matrix
    (``P_ji = w_ij / out_i``) is built from it in one step, its rows listing ``i`` in increasing
    order: the same numbers in the same order as the row sums and products of the sparse
    matrices ``diag(1 / out) · A`` and its transpose (not formed here).
    """
    out = np.bincount(src, weights=weight, minlength=n)
    dangling = out == 0
    scale = np.where(dangling, 0.0, 1.0 / np.where(dangling, 1.0, out))
    trans_t = sparse.csr_matrix((scale[src] * weight, (dst, src)), shape=(n, n))
    dangling = np.flatnonzero(dangling)
    pr = np.full(n, 1.0 / n)
    for _ in range(200):
        # (1 − d) / n + d (Pᵀ pr + Σ_dangling pr / n), the same operations in place
        nxt = trans_t @ pr
        nxt += pr[dangling].sum() / n
        nxt *= damping
        nxt += (1.0 - damping) / n
        done = np.abs(nxt - pr).sum() < 1e-12
        pr = nxt
        if done:
            break
    return pr * n


FEATURES: tuple[Feature, ...] = (
    Feature(
        "graph_degree",
        "Neighbours in the 60-day return-correlation graph (null when not a node)",
        "|N(i)|, N = union of top-10 |rho| >= 0.3 partners",
        61,
        "Int32",
    ),
    Feature(
        "graph_peer_corr_mean",
        "Mean correlation with the graph neighbours",
        "mean_{j in N(i)} rho_ij",
        61,
    ),
    Feature(
        "graph_peer_corr_max",
        "Largest correlation with a graph neighbour",
        "max_{j in N(i)} rho_ij",
        61,
    ),
    Feature(
        "graph_peer_mom_5d",
        "Mean 5-row return of the graph neighbours on t",
        "mean_{j in N(i)} (AdjC_j,t / AdjC_j,t-5 - 1)",
        66,
    ),
    Feature(
        "graph_peer_mom_20d",
        "Mean 20-row return of the graph neighbours on t",
        "mean_{j in N(i)} (AdjC_j,t / AdjC_j,t-20 - 1)",
        81,
    ),
    Feature(
        "graph_pagerank",
        "PageRank of the node (edge weight abs(rho), damping 0.85), times the node count",
        "n * PR_i, PR = 0.15/n + 0.85 (P^T PR + dangling/n)",
        61,
    ),
    Feature(
        "graph_component_size",
        "Nodes in the node's connected component",
        "|component(i)|",
        61,
        "Int32",
    ),
    Feature(
        "graph_days_since_refresh",
        "Trading days since the graph in force was built (first trading day of the ISO week)",
        "count of trading days in (r(t), t]",
        None,
        "Int32",
    ),
)

_MOM = (5, 20)


def refresh_days(calendar_days: pl.Series) -> pl.Series:
    """The first trading day of each ISO week among the sorted ``calendar_days``."""
    week = calendar_days.dt.iso_year().cast(pl.Int64) * 100 + calendar_days.dt.week()
    return calendar_days.filter(week != week.shift(1))


def _wide(frame: pl.DataFrame, col: str, shape: tuple[int, int]) -> np.ndarray:
    out = np.full(shape, np.nan)
    vals = frame[col].to_numpy()
    out[frame["_d"].to_numpy(), frame["_c"].to_numpy()] = vals
    return out


def _indexed(frame: pl.DataFrame, codes: pl.Series, days: pl.Series) -> pl.DataFrame:
    """``frame`` with integer positions ``_c`` (in sorted ``codes``) and ``_d`` (in ``days``)."""
    return frame.with_columns(
        codes.search_sorted(frame["Code"]).cast(pl.Int64).alias("_c"),
        days.search_sorted(frame["Date"]).cast(pl.Int64).alias("_d"),
    )


def _node_stats(rho: torch.Tensor, config: GraphConfig):
    """Per-node features of the graph of ``rho`` (module doc), its adjacency and its edges."""
    src, dst, w = knn_edges(rho, config.threshold, config.top_k)
    n = rho.shape[0]
    deg = np.bincount(src, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr_mean = np.bincount(src, weights=w, minlength=n) / deg
    corr_max = np.full(n, -np.inf)
    np.maximum.at(corr_max, src, w)
    corr_max[deg == 0] = np.nan
    adj = sparse.csr_matrix((np.ones(src.size), (src, dst)), shape=(n, n))
    _, labels = connected_components(adj, directed=False)
    stats = {
        "graph_degree": deg,
        "graph_peer_corr_mean": corr_mean,
        "graph_peer_corr_max": corr_max,
        "graph_pagerank": pagerank(src, dst, np.abs(w), n, config.damping),
        "graph_component_size": np.bincount(labels)[labels],
    }
    return stats, adj, (src, dst, w)


@dataclass(frozen=True)
class _Refresh:
    """One refresh day's graph applied to its days: node rows (day and code positions), their
    feature values (module doc) and the edges (day, src code, dst code as Int32, ρ as Float32)."""

    rows: dict[str, np.ndarray]
    edges: tuple[np.ndarray, ...]


def _refresh(
    r: int,
    span_end: int,
    r1: np.ndarray,
    row_of: np.ndarray,
    mom: dict[int, np.ndarray],
    config: GraphConfig,
    workspace: threading.local,
) -> _Refresh | None:
    """The graph of refresh day ``r`` (day position) and its node rows on days ``r..span_end − 1``.

    ``workspace.rho`` (grown when too small) holds the N × N correlations; each thread has its
    own, reused by its next refresh day."""
    window = r1[r - config.window + 1 : r + 1]
    nodes = np.flatnonzero((row_of[r] >= 0) & ((~np.isnan(window)).sum(axis=0) >= config.min_obs))
    if nodes.size == 0:
        return None
    buffer = getattr(workspace, "rho", None)
    if buffer is None or buffer.numel() < nodes.size**2:
        buffer = workspace.rho = torch.empty(nodes.size**2)
    rho, order = masked_correlation(window[:, nodes], config.min_obs, out=buffer)
    nodes = nodes[order]
    stats, adj, (src, dst, w) = _node_stats(rho, config)
    del rho
    span = np.arange(r, span_end)
    out = {
        "_d": np.repeat(span, nodes.size),
        "_c": np.tile(nodes, span.size),
        "graph_days_since_refresh": np.repeat(span - r, nodes.size),
        **{name: np.tile(v, span.size) for name, v in stats.items()},
    }
    for k in _MOM:
        vals = mom[k][span][:, nodes].T
        known = ~np.isnan(vals)
        with np.errstate(invalid="ignore", divide="ignore"):
            peer = (adj @ np.where(known, vals, 0.0)) / (adj @ known.astype(np.float64))
        out[f"graph_peer_mom_{k}d"] = peer.T.ravel()
    edges = (
        np.full(src.size, r, dtype=np.int32),
        nodes[src].astype(np.int32),
        nodes[dst].astype(np.int32),
        w.astype(np.float32),  # ρ is a float32 product: exact
    )
    return _Refresh(out, edges)


@dataclass(frozen=True)
class _Inputs:
    """What every refresh day reads: the base frame's ``Code, Date`` (in its order), the sorted
    axes, ``row_of`` (day × code: the base row at that position, −1 where there is none), the
    wide return matrices (day × code) and the refresh days to compute with the end of the days
    each one governs."""

    keys: pl.DataFrame
    codes: pl.Series
    days: pl.Series
    row_of: np.ndarray
    r1: np.ndarray
    mom: dict[int, np.ndarray]
    todo: list[tuple[int, int]]


def _inputs(ctx: BlockContext, config: GraphConfig) -> _Inputs:
    base = ctx.base.select("Code", "Date", "AdjC", "no_trade").collect()
    codes, days = base["Code"].unique().sort(), base["Date"].unique().sort()
    shape = (days.len(), codes.len())
    c = pl.col("AdjC")
    traded = _indexed(base.filter(~pl.col("no_trade")), codes, days).with_columns(
        (c / ops.lag(c) - 1.0).alias("r1"),
        *((c / ops.lag(c, k) - 1.0).alias(f"r{k}") for k in _MOM),
    )
    r1 = _wide(traded, "r1", shape)
    mom = {k: _wide(traded, f"r{k}", shape) for k in _MOM}
    del traded
    keys = base.select("Code", "Date")
    rows = _indexed(keys, codes, days)
    row_of = np.full(shape, -1, dtype=np.int64)
    row_of[rows["_d"].to_numpy(), rows["_c"].to_numpy()] = np.arange(keys.height)
    del base, rows
    refresh = refresh_days(ctx.calendar.frame()["Date"])
    refresh_idx = np.flatnonzero(days.is_in(refresh.implode()).to_numpy())
    ends = [*refresh_idx[1:], days.len()]
    todo = [(r, e) for r, e in zip(refresh_idx, ends, strict=True) if r >= config.window - 1]
    return _Inputs(keys, codes, days, row_of, r1, mom, todo)


def _refreshes(inputs: _Inputs, config: GraphConfig) -> Iterator[_Refresh]:
    """The graph of every refresh day (those with a node), in day order.

    Refresh days are independent: they run on up to ``_WORKERS`` threads (the products and
    top-k release the GIL; each refresh's arithmetic is unchanged, so are its values).
    """
    workspace = threading.local()

    def one(re: tuple[int, int]) -> _Refresh | None:
        return _refresh(*re, inputs.r1, inputs.row_of, inputs.mom, config, workspace)

    with ThreadPoolExecutor(_WORKERS) as pool:
        for g in pool.map(one, inputs.todo):
            if g is not None:
                yield g


def compute_graph(
    ctx: BlockContext, config: GraphConfig = GraphConfig()
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(node features per (Code, Date) of the node rows, edge list per refresh day).

    Refresh days whose window starts before the base frame's first day are not built (their days
    lie in the warm-up). Node rows run refresh by refresh, day by day, in node order; they
    include the days of a refresh's week after a node's last base row (a delisting).
    """
    inputs = _inputs(ctx, config)
    done = list(_refreshes(inputs, config))
    names = ["_d", "_c", *(f.name for f in FEATURES)]
    if done:
        node_rows = {k: np.concatenate([g.rows[k] for g in done]) for k in names}
    else:
        node_rows = {k: np.empty(0, dtype=np.float64) for k in names}
        node_rows["_d"] = node_rows["_c"] = np.empty(0, dtype=np.int64)
    table = pl.DataFrame(node_rows)
    table = table.select(
        inputs.codes.gather(table["_c"]).alias("Code"),
        inputs.days.gather(table["_d"]).alias("Date"),
        *names[2:],
    )
    return table, _edge_frame([g.edges for g in done], inputs.codes, inputs.days)


def _edge_frame(
    edges: list[tuple[np.ndarray, ...]], codes: pl.Series, days: pl.Series
) -> pl.DataFrame:
    """The edge list from per-refresh (day index, src code index, dst code index, ρ) arrays
    (codes and dates are looked up once for all refresh days). ``src`` and ``dst`` are
    ``Enum`` columns over ``codes`` (four bytes an edge; tens of millions of edges at 4,000 × 10
    y), written as strings (``EDGE_SCHEMA``) by the builder. ``edges`` is emptied."""
    if not edges:
        return pl.DataFrame(schema=EDGE_SCHEMA)
    columns = list(zip(*edges, strict=True))
    edges.clear()
    code_enum = codes.cast(pl.Enum(codes))
    out = []
    for name, lookup in (("Date", days), ("src", code_enum), ("dst", code_enum)):
        out.append(lookup.gather(np.concatenate(columns.pop(0))).alias(name))
    out.append(pl.Series("weight", np.concatenate(columns.pop(0)), dtype=pl.Float32))
    return pl.DataFrame(out)


def compute_artifacts(ctx: BlockContext) -> tuple[pl.LazyFrame, dict[str, pl.DataFrame]]:
    """Graph features on every base row (nulls for non-nodes) and the edge list file.

    Each refresh day's node rows are scattered into the base rows by their (day, code)
    positions as they come (no join on the string codes, no table of every node row); node rows
    that are not base rows (a delisted stock's last week) are left out. Torch runs
    single-threaded here: its OpenMP pool spin-waits when the cores are shared (the build's 2
    cores, Polars), which made the small per-refresh products many times slower; the refresh
    days run on threads instead (:func:`_refreshes`).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = GraphConfig()
        inputs = _inputs(ctx, config)
        keys, row_of = inputs.keys, inputs.row_of
        node = np.zeros(keys.height, dtype=bool)
        values = {
            f.name: np.zeros(keys.height, dtype=np.int32 if f.dtype == "Int32" else np.float32)
            for f in FEATURES
        }
        edges = []
        for g in _refreshes(inputs, config):
            at = row_of[g.rows["_d"], g.rows["_c"]]
            kept = at >= 0
            at = at[kept]
            node[at] = True
            for name, column in values.items():
                column[at] = g.rows[name][kept]
            edges.append(g.edges)
        codes, days = inputs.codes, inputs.days
        del row_of, inputs
        edge_frame = _edge_frame(edges, codes, days)
    finally:
        torch.set_num_threads(threads)
    columns = [pl.Series(name, column) for name, column in values.items()]
    del values
    frame = keys.hstack([pl.Series("_node", node), *columns]).lazy()
    nulls_off = frame.select(
        "Code", "Date", *(pl.when("_node").then(pl.col(f.name)).alias(f.name) for f in FEATURES)
    )
    return ops.in_memory(ops.finalize(nulls_off, FEATURES)), {EDGES_FILE: edge_frame}


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """The graph features alone (the builder calls :func:`compute_artifacts`)."""
    return compute_artifacts(ctx)[0]


BLOCK = ArtifactBlock(
    name="graph",
    sources=("equities_bars_daily",),
    availability="bars_same_day",
    lookback=ops.lookback(FEATURES),
    features=FEATURES,
    compute=compute,
    cross_sectional=True,
    compute_artifacts=compute_artifacts,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
