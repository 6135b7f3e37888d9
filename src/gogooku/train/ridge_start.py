"""Closed-form ridge start of a network's linear skip (``model.linear_skip_init = "ridge"``).

Over the training days, per horizon h, the rows are the listed stocks with a known target; x is
the stock's normalised feature vector of the day (missing → 0), exactly what the network's skip
reads, and the target is the day's rank-gauss score z = Φ⁻¹((r − ½)/n) of the n known targets
(r = 1..n, ties share the mean rank; clipped to ±``clip``), as in the ridge baseline
(``gogooku.models.linear``), computed by ``normalize_cross_section``. The categorical ids
(``STATIC_IDS``: their numeric order means nothing; the ridge baseline leaves them out too) get
β = 0: they are left out of the normal equations. The fit
minimises ‖z − Xβ − b‖² + α‖β‖² (the intercept is not penalised) from the accumulated normal
equations, one pass over the days in float64; the network keeps β and b fixed and learns the
rest of the forecast on top of them.
"""

from __future__ import annotations

from datetime import date

import torch

from gogooku.config import LoaderConfig, NormalizationConfig
from gogooku.dataset.cache import STATIC_IDS, DenseCache
from gogooku.dataset.loader import DayBatchLoader
from gogooku.dataset.normalize import normalize_cross_section


def fit_ridge_start(
    cache: DenseCache,
    loader_cfg: LoaderConfig,
    normalization: NormalizationConfig,
    days: list[date],
    alpha: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """β (F, H) and b (H,) of one ridge per target of ``loader_cfg.targets`` over ``days``."""
    cfg = loader_cfg.model_copy(
        update={
            "window": 1,
            "shuffle": False,
            "stocks_per_day": None,
            "require_labels": True,
            "days_per_batch": 16,
        }
    )
    loader = DayBatchLoader(cache, cfg, normalization, days, "cpu")
    numeric = [i for i, n in enumerate(loader.output_features) if n not in STATIC_IDS]
    f, h = len(numeric), len(cfg.targets)
    target_spec = NormalizationConfig(method="rank_gauss", clip=normalization.clip)
    gram = torch.zeros(h, f + 1, f + 1, dtype=torch.float64)
    moment = torch.zeros(h, f + 1, dtype=torch.float64)
    for batch in loader:
        x = batch.x[:, 0][..., numeric].to(torch.float64)
        x = torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        x = torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)
        z_all = normalize_cross_section(batch.y, batch.mask, target_spec).to(torch.float64)
        listed = x[batch.mask]
        listed_gram = listed.T @ listed
        for j in range(h):
            m, z = batch.y_mask[..., j], z_all[..., j]
            unknown = x[batch.mask & ~m]  # listed without this target: few rows near the end
            gram[j] += listed_gram - unknown.T @ unknown
            moment[j] += x[m].T @ z[m]
    empty = [str(t) for t, g in zip(cfg.targets, gram, strict=True) if g[-1, -1] == 0]
    if empty:
        raise ValueError(f"ridge start: no training row has a known {', '.join(empty)}")
    penalty = torch.full((f + 1,), float(alpha), dtype=torch.float64)
    penalty[-1] = 0.0
    solution = torch.linalg.solve(gram + torch.diag(penalty), moment.unsqueeze(-1)).squeeze(-1)
    coef = torch.zeros(len(loader.output_features), h)
    coef[numeric] = solution[:, :f].T.float()
    return coef, solution[:, f].contiguous().float()
