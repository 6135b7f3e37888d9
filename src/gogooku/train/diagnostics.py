"""Training diagnostics: gradient norms and activation statistics by module, dead branches, and
the collapse guard.

- ``grad_norms(model)``: for each top-level child module c, ‖∇θ_c‖₂ over its parameters (plus
  ``"total"``); a module without gradients is left out.
- ``ActivationProbe``: forward hooks on the top-level children; while armed, the next forward
  records each child's output mean, std and fraction of exact zeros.
- ``dead_branches(branches, eps)``: names of ``ModelOutput.branches`` whose mean |output| ≤ eps
  (a branch that contributes nothing — e.g. a GAT over an empty graph, a zero-initialised gate
  that never opened).
- ``CollapseGuard``: after each validation, s = mean over days of the cross-sectional std of the
  main-horizon predictions; ``check(s)`` raises :class:`CollapseError` once s < threshold on K
  consecutive checks (the predictions went constant across stocks).
- ``long_short_sharpe``: the validation Sharpe of ``history.jsonl``, a label-based stand-in for
  the evaluator's long-short backtest (no prices in the trainer): on each day t the book of the
  evaluator, k = min(K, ⌊n/2⌋) highest forecasts at +1/(2k) and the k lowest at −1/(2k) among
  the n stocks with a target (K = ``[evaluate] top_k``, ties by code position), rebalanced
  daily; r_t = Σ_i w_i,t y_i,t / h − c Σ_i |w_i,t − w_i,t−1| (y the h-day main target pro-rated
  to a day, c = ``[evaluate] cost_bps`` / 10⁴ per unit traded, day 0's entry not charged); the
  Sharpe ratio mean(r) / std(r, ddof = 1) · √P, P = trading days per year of the span
  (days / ((last − first + 1) / 365.25), as ``gogooku.evaluate.risk``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from gogooku.errors import GogookuError


class CollapseError(GogookuError, RuntimeError):
    """Predictions stayed constant across stocks; the run is stopped (CLI exit code 3)."""

    exit_code = 3


def _children(model: nn.Module) -> list[tuple[str, nn.Module]]:
    base = getattr(model, "_orig_mod", model)
    children = list(base.named_children())
    return children or [("model", base)]


def grad_norms(model: nn.Module) -> dict[str, float]:
    """L2 norm of the gradients of each top-level child module and of all parameters."""
    out: dict[str, float] = {}
    total = 0.0
    for name, child in _children(model):
        sq = [
            p.grad.detach().float().pow(2).sum() for p in child.parameters() if p.grad is not None
        ]
        if sq:
            value = float(torch.stack(sq).sum())
            out[name] = value**0.5
            total += value
    base = getattr(model, "_orig_mod", model)
    direct = [
        p.grad.detach().float().pow(2).sum()
        for p in base.parameters(recurse=False)
        if p.grad is not None
    ]
    if direct:
        total += float(torch.stack(direct).sum())
    out["total"] = total**0.5
    return out


class ActivationProbe:
    """Records output statistics of the model's top-level children on the armed forward pass."""

    def __init__(self, model: nn.Module) -> None:
        self.stats: dict[str, dict[str, float]] = {}
        self._armed = False
        self._handles = [
            child.register_forward_hook(self._hook(name)) for name, child in _children(model)
        ]

    def _hook(self, name: str):
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            if not self._armed:
                return
            t = output[0] if isinstance(output, tuple) else output
            if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel():
                t = t.detach().float()
                self.stats[name] = {
                    "mean": float(t.mean()),
                    "std": float(t.std()) if t.numel() > 1 else 0.0,
                    "zero_frac": float((t == 0).float().mean()),
                }

        return hook

    @contextmanager
    def armed(self) -> Iterator[dict[str, dict[str, float]]]:
        self.stats = {}
        self._armed = True
        try:
            yield self.stats
        finally:
            self._armed = False

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def dead_branches(branches: dict[str, torch.Tensor], eps: float) -> list[str]:
    """Names of branches whose mean absolute output is at most ``eps``."""
    return sorted(
        name for name, out in branches.items() if float(out.detach().float().abs().mean()) <= eps
    )


class CollapseGuard:
    """Raises once the prediction std stays below ``threshold`` for ``checks`` validations."""

    def __init__(self, threshold: float, checks: int, streak: int = 0) -> None:
        self.threshold = threshold
        self.checks = checks
        self.streak = streak

    def check(self, pred_std: float, horizon: int, epoch: int) -> None:
        self.streak = self.streak + 1 if pred_std < self.threshold else 0
        if self.streak >= self.checks:
            raise CollapseError(
                f"prediction collapse: the cross-sectional std of the {horizon}d predictions "
                f"stayed below train.collapse_std = {self.threshold:g} for {self.streak} "
                f"validation checks in a row (last: {pred_std:.3g} at epoch {epoch}); the model "
                "predicts the same value for every stock. Stopped."
            )


def long_short_weights(p: torch.Tensor, m: torch.Tensor, top_k: int) -> torch.Tensor:
    """The evaluator's long-short book per day (D, N) → (D, N) (module doc)."""
    n = m.sum(-1, keepdim=True)
    k = torch.minimum(n // 2, torch.full_like(n, top_k))
    big = torch.finfo(torch.float32).max
    up = torch.where(m, -p.float(), big).argsort(dim=-1, stable=True).argsort(dim=-1)
    down = torch.where(m, p.float(), big).argsort(dim=-1, stable=True).argsort(dim=-1)
    size = 1.0 / (2 * k.clamp(min=1))
    return torch.where(up < k, size, 0.0) - torch.where(down < k, size, 0.0)


def long_short_sharpe(
    p: torch.Tensor,
    y: torch.Tensor,
    m: torch.Tensor,
    dates: Sequence[dt.date],
    horizon: int,
    top_k: int,
    cost_bps: float,
) -> float | None:
    """Annualised net Sharpe of the daily long-short book over the (D, N) days (module doc);
    None with fewer than two days or a constant return series."""
    if len(dates) < 2:
        return None
    w = long_short_weights(p, m, top_k)
    traded = torch.cat([w.new_zeros(1), (w[1:] - w[:-1]).abs().sum(-1)])
    r = torch.where(m, w * y.float(), 0.0).sum(-1) / horizon - cost_bps / 1e4 * traded
    std = float(r.double().std(correction=1))
    if not std > 0:
        return None
    per_year = len(dates) / (((dates[-1] - dates[0]).days + 1) / 365.25)
    return float(r.double().mean()) / std * math.sqrt(per_year)
