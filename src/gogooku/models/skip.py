"""The linear skip of the ATFT and APEX networks: point forecast += x_L β + b.

x_L is the last day's normalised stock features as the network reads them (non-finite → 0),
β (F, H) and b (H,) one column per horizon. With ``linear_skip_init = "ridge"`` the trainer fits
β and b in closed form on the fold's training days (``gogooku.train.ridge_start``) and freezes
them, and the point rows of the network's output layer start at 0: the untrained network's
forecast is exactly the ridge's and training learns a residual on top of it.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from gogooku.config import StrictModel


class LinearSkipFields(StrictModel):
    """The ``[model]`` fields of the linear skip, shared by the ATFT and APEX configs."""

    linear_skip: bool = Field(
        True, description="add a linear map of the last day's features to the point forecasts"
    )
    linear_skip_init: Literal["random", "ridge"] = Field(
        "random",
        description="ridge: the skip is fitted in closed form on the training days and frozen, "
        "and the network's point output starts at 0 (gogooku.train.ridge_start)",
    )
    linear_skip_alpha: float = Field(10.0, ge=0, description="L2 penalty of the ridge start")

    @model_validator(mode="after")
    def _ridge_needs_the_skip(self) -> LinearSkipFields:
        if self.linear_skip_init == "ridge" and not self.linear_skip:
            raise ValueError("linear_skip_init='ridge' needs linear_skip = true")
        return self


class LinearSkip(nn.Linear):
    """x ↦ x β + b (F → H); ``fix`` sets β, b and stops training them."""

    def fix(self, coef: torch.Tensor, intercept: torch.Tensor) -> None:
        """Fix the map to x ↦ x β + b (β (F, H), b (H,)) and stop training it."""
        with torch.no_grad():
            self.weight.copy_(coef.T)
            self.bias.copy_(intercept)
        self.requires_grad_(False)


def attach_linear_skip(
    model: nn.Module, cfg: LinearSkipFields, n_features: int, out: nn.Linear, n_out: int
) -> None:
    """Give ``model`` the skip ``model.skip`` of ``cfg`` (none without ``linear_skip``); for a
    ridge start also zero the point rows (0, n_out, 2·n_out, …) of its output layer ``out``."""
    if not cfg.linear_skip:
        return
    horizons = out.out_features // n_out
    model.skip = LinearSkip(n_features, horizons)
    if cfg.linear_skip_init == "ridge":
        model.skip.fix(torch.zeros(n_features, horizons), torch.zeros(horizons))
        with torch.no_grad():
            point_rows = torch.arange(horizons) * n_out
            out.weight[point_rows] = 0.0
            out.bias[point_rows] = 0.0
