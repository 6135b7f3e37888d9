"""A trainer's predictions of a set of days and their per-day signal statistics (the validation
score each epoch, ``history.jsonl``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from gogooku.train.losses import pearson_days, rank_ic_days


@dataclass
class Predictions:
    """Predictions of a set of days: per day the listed stocks' codes, forecasts and targets."""

    dates: list = field(default_factory=list)
    codes: list[np.ndarray] = field(default_factory=list)
    point: list[torch.Tensor] = field(default_factory=list)
    y: list[torch.Tensor] = field(default_factory=list)
    y_mask: list[torch.Tensor] = field(default_factory=list)
    mask: list[torch.Tensor] = field(default_factory=list)

    def stacked(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(D, N, H) point, y, y_mask and (D, N) mask over the full code axis."""
        return (
            torch.stack(self.point),
            torch.stack(self.y),
            torch.stack(self.y_mask),
            torch.stack(self.mask),
        )


def signal_stats(pred: Predictions, horizons: list[int]) -> dict[str, dict[str, float | None]]:
    """Mean per-day RankIC and IC per horizon, and the mean per-day cross-sectional std of the
    predictions over listed stocks (``pred_std``)."""
    point, y, y_mask, mask = pred.stacked()
    out: dict[str, dict[str, float | None]] = {"rank_ic": {}, "ic": {}, "pred_std": {}}
    for j, h in enumerate(horizons):
        p, yj, mj = point[..., j], y[..., j], y_mask[..., j]
        out["rank_ic"][str(h)] = _nanmean(rank_ic_days(p, yj, mj))
        out["ic"][str(h)] = _nanmean(pearson_days(p, yj, mj))
        n = mask.sum(-1).clamp(min=1)
        p = torch.where(mask, p, 0.0)
        mean = p.sum(-1) / n
        std = torch.where(mask, p - mean.unsqueeze(-1), 0.0).pow(2).sum(-1).div(n).sqrt()
        out["pred_std"][str(h)] = float(std[mask.sum(-1) >= 2].mean()) if len(std) else None
    return out


def _nanmean(values: torch.Tensor) -> float | None:
    finite = values[torch.isfinite(values)]
    return float(finite.mean()) if finite.numel() else None
