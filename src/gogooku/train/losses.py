"""Per-day cross-sectional losses over the stocks of each day of a batch.

Notation for one day d and one horizon h: p_i the point forecast and y_i the target of the day's
valid stocks i ∈ V (``y_mask``), n = |V|; z(y) = (y − mean_V y) / std_V y the day's standardised
target. A (day, horizon) pair enters a term only when n ≥ 2 and std_V y > 0; each term is the
mean over those pairs. Terms (all minimised):

- ``rank`` — rank-IC surrogate: L = −corr_V(p, r(y)), with r(y) the ranks of the day's targets.
  Spearman's ρ(p, y) = corr(r(p), r(y)), but r(p) has no gradient, so the prediction itself is
  correlated with the target's ranks: ∂L/∂p_i = −(z(r)_i − ρ̃ z(p)_i) / (n σ_p) with
  ρ̃ = corr(p, r(y)). Bounded in [−1, 1] and a fat-tailed return counts one rank step, so a few
  extreme returns do not steer the day (they do in ``cs_ic`` and ``listnet``). O(n log n) per day.
- ``listnet`` — ListNet top-1 cross-entropy: L = −Σ_i softmax(z(y)/τ_y)_i · log softmax(p)_i.
  ∂L/∂p_i = softmax(p)_i − softmax(z(y)/τ_y)_i, so the stock with the highest target is pushed
  up. Off by default: on the synthetic market's fat-tailed returns its target distribution is
  dominated by the day's few extreme returns (docs/training.md, "Loss weights").
- ``cs_ic`` — minus the within-day Pearson correlation: L = −corr_V(p, y).
- ``quantile`` — pinball loss of the quantile forecasts q_k at levels τ_k against z(y):
  L = mean_{i,k} max(τ_k (z_i − q_ik), (τ_k − 1)(z_i − q_ik)). Quantiles forecast the day's
  standardised return, so the term has the same scale on every day.
- ``sharpe`` — a differentiable top-K portfolio: weights w = softmax(z(p)/τ_s) over V
  (concentrated on the ≈top names for small τ_s); L = −Σ_i w_i z(y)_i, the portfolio's excess
  return over the equal-weight day, in units of the day's cross-sectional std. The default
  τ_s = 2 tilts the whole cross-section; τ_s ≤ 0.5 bets each day on a handful of names and its
  gradient is then mostly noise (docs/training.md, "Loss weights").
- ``top_rank`` — a listwise term focused on the top of the ranking (ListNet with the target mass
  of NDCG@K): with r_i the descending rank of y_i among V (1 = highest target), the target
  distribution is t_i = w_i / Σ_j w_j with the DCG discount w_i = 1 / log₂(1 + r_i) for
  r_i ≤ K (``top_k``) and 0 beyond; L = −Σ_i t_i · log softmax(p)_i. ∂L/∂p_i = softmax(p)_i − t_i:
  stocks outside the true top K are always pushed down, those inside pulled up until the
  predicted distribution puts mass t_i on them — the top of the list weighs most.
- ``pairwise`` — a margin term between the two ends of the day's list: with k = min(K, ⌊n/2⌋)
  (K = ``pairwise_k``), T the k stocks with the highest targets, B the k lowest and
  P = {(i, j) ∈ T × B : y_i > y_j}, L = (1/|P|) Σ_{(i,j)∈P} max(0, μ − (z(p)_i − z(p)_j)) with
  the margin μ = ``pairwise_margin`` in units of the day's forecast std. Each top stock should
  be scored μ std above each bottom stock — the pairs a top/bottom-K long-short book trades.
  z(p) makes the term blind to the forecast's scale (a scaled-up forecast cannot buy the
  margin); k² pairs per day, so its cost does not grow with n².
- ``mse`` — plain squared error against the day's standardised target: L = mean_V (p_i − z(y)_i)².
  The seed's base term (on raw returns); on z(y) it has the same scale on every day. It asks for
  the level and the scale of z(y), not only the order, so it competes with the ranking terms.
- ``sortino`` — the soft top-K portfolio of ``sharpe`` across the batch's valid days d:
  R_d = Σ_i w_i z(y)_i (the day's excess return, in cross-sectional std units) and
  L = −mean_d R_d / sqrt(1 + mean_d min(R_d, 0)²): the downside deviation in the denominator,
  floored at one cross-sectional std, so that without a losing day L equals the ``sharpe`` term
  and every losing day shrinks the reward of the batch's mean.

``dmn`` (Deep Momentum Networks, Lim, Zohren & Roberts 2019) is a batch-level term on the main
horizon h only, over all B days of the batch in date order (days without a valid stock hold
nothing). Positions from the point forecast: a_i = tanh(p_i), then per day over the stocks with
a target w_i = (a_i − mean_V a) / Σ_{j∈V} |a_j − mean_V a| (0 elsewhere): dollar-neutral with
unit gross exposure, the evaluator's long-short book (tanh bounds what one extreme forecast can
take, unlike a softmax book). The costed daily return is
r_t = Σ_i w_i,t y_i,t / h − c Σ_i |w_i,t − w_i,t−1| (c = ``dmn_cost_bp`` / 10⁴, the cost of
day 0's trades is unknown and not charged; y/h is the h-day target pro-rated to a day), and
L = −mean_t r_t / sqrt(var_t r_t + ε²) + λ_to · mean_{t≥1} Σ_i |w_i,t − w_i,t−1|
(λ_to = ``dmn_turnover``; the Sharpe ratio is daily, not annualised: a constant factor only
rescales the term's weight). Turnover needs the same stocks on consecutive days: the loader's
``contiguous_days`` (the config refuses ``dmn`` without it); ``codes`` then match on every day.

The total is L = Σ_h ω_h Σ_term λ_term L_term,h / Σ_h ω_h + λ_dmn L_dmn, with λ from
:class:`LossConfig` and ω_h = ``main_weight`` for the main horizon and 1 otherwise. A batch without a single valid
(day, horizon) pair raises :class:`LossError` — never a silent zero loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gogooku.errors import GogookuError
from gogooku.train.config import LossConfig

TERMS: tuple[str, ...] = (
    "rank",
    "cs_ic",
    "sharpe",
    "quantile",
    "top_rank",
    "listnet",
    "pairwise",
    "mse",
    "sortino",
    "dmn",
)
_EPS = 1e-6


class LossError(GogookuError, ValueError):
    """The batch cannot give a loss (no valid target, shapes that do not match)."""


@dataclass
class LossResult:
    """``total`` (differentiable scalar) and each term per horizon as floats (for logging)."""

    total: torch.Tensor
    terms: dict[str, dict[int, float]]
    n_pairs: int


def _masked_moments(v: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (population) variance of ``v`` over ``m`` along the last axis."""
    n = m.sum(-1).clamp(min=1)
    v = torch.where(m, v, 0.0)
    mean = v.sum(-1) / n
    var = torch.where(m, v - mean.unsqueeze(-1), 0.0).pow(2).sum(-1) / n
    return mean, var


def standardize(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """(v − mean_m v) / sqrt(var_m v + ε²) along the last axis (ε = 1e-6 keeps the gradient of
    a constant day finite), 0 outside ``m``."""
    mean, var = _masked_moments(v, m)
    z = (v - mean.unsqueeze(-1)) * torch.rsqrt(var.unsqueeze(-1) + _EPS**2)
    return torch.where(m, z, 0.0)


def valid_days(y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """(…,) bool: at least two valid stocks with a non-constant target."""
    _, var = _masked_moments(torch.where(m, y, 0.0), m)
    return (m.sum(-1) >= 2) & (var > 0)


def ranks(y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Ordinal ranks 0..n−1 of ``y`` among the valid entries of each row (ties by position),
    0 outside ``m``; (D, N) → (D, N)."""
    big = torch.finfo(y.dtype).max
    r = torch.where(m, y, big).argsort(-1).argsort(-1).to(y.dtype)
    return torch.where(m, r, 0.0)


def rank_ic_surrogate(p: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Per-day correlation of ``p`` with the ranks of ``y`` (D, N) → (D,); see the module doc."""
    return pearson(p, ranks(y, m), m)


def listnet(p: torch.Tensor, y: torch.Tensor, m: torch.Tensor, tau: float) -> torch.Tensor:
    """Per-day ListNet loss (D, N) → (D,); see the module doc."""
    neg = torch.finfo(p.dtype).min
    target = torch.softmax(torch.where(m, standardize(y, m) / tau, neg), dim=-1)
    log_pred = torch.log_softmax(torch.where(m, p, neg), dim=-1)
    return -(target * torch.where(m, log_pred, 0.0)).sum(-1)


def pearson(p: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Per-day Pearson correlation (D, N) → (D,); 0 where either side is constant."""
    pz, yz = standardize(p, m), standardize(y, m)
    n = m.sum(-1).clamp(min=1)
    return (pz * yz).sum(-1) / n


def pinball(
    q: torch.Tensor, y: torch.Tensor, m: torch.Tensor, levels: Sequence[float]
) -> torch.Tensor:
    """Per-day mean pinball loss of q (D, N, Q) against z(y) (D, N) → (D,)."""
    tau = torch.tensor(levels, dtype=q.dtype, device=q.device)
    diff = standardize(y, m).unsqueeze(-1) - q
    loss = torch.maximum(tau * diff, (tau - 1) * diff).mean(-1)
    return (loss * m).sum(-1) / m.sum(-1).clamp(min=1)


def soft_topk_sharpe(p: torch.Tensor, y: torch.Tensor, m: torch.Tensor, tau: float) -> torch.Tensor:
    """Per-day negative excess return of the softmax portfolio, in std units (D, N) → (D,)."""
    neg = torch.finfo(p.dtype).min
    w = torch.softmax(torch.where(m, standardize(p, m) / tau, neg), dim=-1)
    return -(w * standardize(y, m)).sum(-1)


def squared_error(p: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Per-day mean of (p − z(y))² over the valid stocks (D, N) → (D,)."""
    err = torch.where(m, p - standardize(y, m), 0.0).pow(2)
    return err.sum(-1) / m.sum(-1).clamp(min=1)


def soft_topk_sortino(
    p: torch.Tensor, y: torch.Tensor, m: torch.Tensor, tau: float
) -> torch.Tensor:
    """The batch's Sortino-style loss of the soft top-K portfolio (D, N) → (); module doc."""
    returns = -soft_topk_sharpe(p, y, m, tau)
    downside = returns.clamp(max=0.0).pow(2).mean()
    return -returns.mean() / torch.sqrt(1.0 + downside)


def dmn_positions(p: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Dollar-neutral unit-gross positions from tanh(p) per day (D, N) → (D, N); module doc."""
    a = torch.tanh(p)
    n = m.sum(-1, keepdim=True).clamp(min=1)
    centred = torch.where(m, a - torch.where(m, a, 0.0).sum(-1, keepdim=True) / n, 0.0)
    gross = centred.abs().sum(-1, keepdim=True)
    return centred / gross.clamp(min=_EPS)


def dmn_returns(
    w: torch.Tensor, y: torch.Tensor, m: torch.Tensor, horizon: int, cost: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Costed daily returns r_t (D,) and turnovers Σ_i |Δw_i,t| (D − 1,) of positions ``w``
    held on consecutive days (rows in date order, the same stocks in every row)."""
    turnover = (w[1:] - w[:-1]).abs().sum(-1)
    gross = torch.where(m, w * y, 0.0).sum(-1) / horizon
    return gross - cost * torch.cat([turnover.new_zeros(1), turnover]), turnover


def dmn_loss(
    p: torch.Tensor, y: torch.Tensor, m: torch.Tensor, horizon: int, cost: float, turnover: float
) -> torch.Tensor:
    """−Sharpe of the costed DMN portfolio over the D ≥ 2 days + λ_to · mean turnover; module
    doc. Rows of (D, N) ``p``/``y``/``m`` are consecutive days of the same stocks."""
    w = dmn_positions(p, m)
    r, traded = dmn_returns(w, y, m, horizon, cost)
    sharpe = r.mean() / torch.sqrt(r.var(correction=0) + _EPS**2)
    return -sharpe + turnover * traded.mean()


def top_k_listnet(p: torch.Tensor, y: torch.Tensor, m: torch.Tensor, k: int) -> torch.Tensor:
    """Per-day top-K DCG-weighted ListNet loss (D, N) → (D,); see the module doc."""
    neg = torch.finfo(p.dtype).min
    rank = torch.where(m, y, neg).argsort(-1, descending=True).argsort(-1) + 1
    w = torch.where(m & (rank <= k), 1.0 / torch.log2(1.0 + rank.float()), 0.0)
    target = w / w.sum(-1, keepdim=True).clamp(min=_EPS)
    log_pred = torch.log_softmax(torch.where(m, p, neg), dim=-1)
    return -(target * torch.where(m, log_pred, 0.0)).sum(-1)


def pairwise_margin(
    p: torch.Tensor, y: torch.Tensor, m: torch.Tensor, k: int, margin: float
) -> torch.Tensor:
    """Per-day hinge between the top-k and bottom-k targets' forecasts (D, N) → (D,); see the
    module doc. Days must be :func:`valid_days` (then P is never empty)."""
    neg = torch.finfo(y.dtype).min
    width = min(k, y.shape[-1] // 2)
    top_y, top_i = torch.where(m, y, neg).topk(width, dim=-1)
    low_y, low_i = torch.where(m, -y, neg).topk(width, dim=-1)
    k_day = (m.sum(-1, keepdim=True) // 2).clamp(max=k)
    kept = torch.arange(width, device=y.device) < k_day
    z = standardize(p, m)
    gap = z.gather(-1, top_i).unsqueeze(-1) - z.gather(-1, low_i).unsqueeze(-2)
    pairs = kept.unsqueeze(-1) & kept.unsqueeze(-2) & (top_y.unsqueeze(-1) > -low_y.unsqueeze(-2))
    hinge = torch.where(pairs, torch.relu(margin - gap), 0.0)
    return hinge.sum((-2, -1)) / pairs.sum((-2, -1)).clamp(min=1)


def compute_loss(
    point: torch.Tensor,
    quantiles: torch.Tensor | None,
    quantile_levels: Sequence[float],
    y: torch.Tensor,
    y_mask: torch.Tensor,
    horizons: Sequence[int],
    cfg: LossConfig,
    main_horizon: int,
    codes: torch.Tensor | None = None,
) -> LossResult:
    """The weighted total over ``horizons`` (the model's outputs, ``[target]``'s horizons), the
    ``main_horizon`` weighted ``cfg.main_weight``, the others 1.

    ``point`` (B, N, H), ``quantiles`` (B, N, H, Q) or None, ``y``/``y_mask`` (B, N, H);
    ``codes`` (B, N), the stocks' positions on the code axis, is needed by ``dmn`` only (its
    rows must be equal: the same stocks on consecutive days).
    """
    if point.shape != y.shape or y_mask.shape != y.shape:
        raise LossError(
            f"point {tuple(point.shape)}, y {tuple(y.shape)} and y_mask {tuple(y_mask.shape)} "
            "must have the same (B, N, H) shape"
        )
    if main_horizon not in horizons:
        raise LossError(f"main horizon {main_horizon} is not among the model's horizons {horizons}")
    point = torch.where(y_mask, point.float(), 0.0)
    if quantiles is not None:
        quantiles = torch.where(y_mask.unsqueeze(-1), quantiles.float(), 0.0)
    y_clean = torch.where(y_mask, y, 0.0).float()
    weights = {
        "rank": cfg.rank,
        "cs_ic": cfg.cs_ic,
        "sharpe": cfg.sharpe,
        "quantile": cfg.quantile,
        "top_rank": cfg.top_rank,
        "listnet": cfg.listnet,
        "pairwise": cfg.pairwise,
        "mse": cfg.mse,
        "sortino": cfg.sortino,
    }
    if weights["quantile"] > 0 and quantiles is None:
        raise LossError("loss.quantile > 0 but the model has no quantile head")
    total = point.new_zeros(())
    weight_sum = 0.0
    terms: dict[str, dict[int, float]] = {t: {} for t in TERMS}
    n_pairs = 0
    for j, h in enumerate(horizons):
        p, yj, mj = point[..., j], y_clean[..., j], y_mask[..., j]
        ok = valid_days(yj, mj)
        if not ok.any():
            continue
        n_pairs += int(ok.sum())
        p, yj, mj = p[ok], yj[ok], mj[ok]
        parts = {
            "rank": -rank_ic_surrogate(p, yj, mj).mean(),
            "cs_ic": -pearson(p, yj, mj).mean(),
            "sharpe": soft_topk_sharpe(p, yj, mj, cfg.sharpe_temperature).mean(),
        }
        if cfg.top_rank > 0:
            parts["top_rank"] = top_k_listnet(p, yj, mj, cfg.top_k).mean()
        if cfg.listnet > 0:
            parts["listnet"] = listnet(p, yj, mj, cfg.listnet_temperature).mean()
        if cfg.pairwise > 0:
            parts["pairwise"] = pairwise_margin(
                p, yj, mj, cfg.pairwise_k, cfg.pairwise_margin
            ).mean()
        if cfg.mse > 0:
            parts["mse"] = squared_error(p, yj, mj).mean()
        if cfg.sortino > 0:
            parts["sortino"] = soft_topk_sortino(p, yj, mj, cfg.sharpe_temperature)
        if quantiles is not None:
            parts["quantile"] = pinball(quantiles[..., j, :][ok], yj, mj, quantile_levels)
            parts["quantile"] = parts["quantile"].mean()
        omega = cfg.main_weight if h == main_horizon else 1.0
        horizon_loss = sum(weights[k] * v for k, v in parts.items() if weights[k] > 0)
        total = total + omega * horizon_loss
        weight_sum += omega
        for k, v in parts.items():
            terms[k][h] = float(v.detach())
    if n_pairs == 0:
        raise LossError(
            f"no valid target in the batch for horizons {list(horizons)}: every day has fewer "
            "than two stocks with a finite, non-constant target"
        )
    total = total / weight_sum
    if cfg.dmn > 0:
        j = list(horizons).index(main_horizon)
        total = total + cfg.dmn * _dmn_term(
            point[..., j], y_clean[..., j], y_mask[..., j], codes, cfg, main_horizon, terms
        )
    return LossResult(total, {k: v for k, v in terms.items() if v}, n_pairs)


def _dmn_term(
    p: torch.Tensor,
    y: torch.Tensor,
    m: torch.Tensor,
    codes: torch.Tensor | None,
    cfg: LossConfig,
    horizon: int,
    terms: dict[str, dict[int, float]],
) -> torch.Tensor:
    if p.shape[0] < 2:
        raise LossError(
            f"loss.dmn needs at least 2 consecutive days per batch, got {p.shape[0]}: set "
            "data.loader.days_per_batch >= 2 and contiguous_days = true"
        )
    if codes is None or not bool((codes == codes[:1]).all()):
        raise LossError(
            "loss.dmn needs the same stocks on every day of a batch (turnover between "
            "consecutive days): set data.loader.contiguous_days = true"
        )
    value = dmn_loss(p, y, m, horizon, cfg.dmn_cost_bp / 1e4, cfg.dmn_turnover)
    terms["dmn"][horizon] = float(value.detach())
    return value


def rank_ic_days(p: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Per-day Spearman correlation (D, N) → (D,): Pearson of average-free ordinal ranks
    (ties broken by position), NaN on days that are not :func:`valid_days`."""
    big = torch.finfo(torch.float32).max
    pr = torch.where(m, p.float(), big).argsort(-1).argsort(-1).float()
    yr = torch.where(m, y.float(), big).argsort(-1).argsort(-1).float()
    ic = pearson(pr, yr, m)
    ok = valid_days(torch.where(m, y.float(), 0.0), m) & valid_days(
        torch.where(m, p.float(), 0.0), m
    )
    return torch.where(ok, ic, torch.nan)


def pearson_days(p: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Per-day Pearson (D, N) → (D,), NaN on days where either side is constant."""
    pf, yf = torch.where(m, p.float(), 0.0), torch.where(m, y.float(), 0.0)
    ok = valid_days(yf, m) & valid_days(pf, m)
    return torch.where(ok, pearson(pf, yf, m), torch.nan)
