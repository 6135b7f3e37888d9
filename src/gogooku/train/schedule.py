"""What changes with the optimiser step: the lr multiplier (linear warm-up, then cosine decay to
``min_ratio``) and the exponential moving average of the weights that validation and the saved
best weights use."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def lr_factor(step: int, total: int, warmup: int, cosine: bool, min_ratio: float) -> float:
    """Multiplier of the base lr at step ``step`` (see ``TrainConfig``)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if not cosine:
        return 1.0
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class EMA:
    """Exponential moving average θ̄ ← d_n θ̄ + (1 − d_n) θ of the floating-point state after
    update n (n = 1, 2, …), d_n = min(d, (1 + n) / (10 + n)): the warm-up keeps the average of the
    first steps from being dominated by the initial weights."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow = {
            k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].lerp_(v.detach(), 1 - d)

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Temporarily load the averaged weights into ``model``."""
        if self.decay == 0:
            yield
            return
        backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict({**backup, **self.shadow})
        try:
            yield
        finally:
            model.load_state_dict(backup)

    def weights(self, model: nn.Module) -> dict[str, torch.Tensor]:
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return state if self.decay == 0 else {**state, **self.shadow}
