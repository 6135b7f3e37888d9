"""What a run predicts: the ``[target]`` section and the one place label and prediction columns
are named.

``[target]`` is read by every stage: the loss and the tabular fits train on the label columns of
``horizons`` (the ``label`` kind), the evaluator scores predictions against the same labels, the
bundle records ``main_horizon`` and serving ranks by its prediction column::

    [target]
    horizons = [1, 5, 10, 20]   # one prediction column pred_{h}d per horizon
    main_horizon = 5            # the ranking horizon (loss weight, early stopping, serving)
    label = "raw"               # raw | excess | sector

Label columns of the panel (``gogooku.dataset.labels``): ``raw`` → ``target_{h}d`` (the stock's
return from the close of t+1 to the close of t+1+h), ``excess`` → ``target_{h}d_excess`` (minus
TOPIX's), ``sector`` → ``target_{h}d_sector`` (minus the mean of the stock's 33-sector that day).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from gogooku.config import StrictModel

LabelKind = Literal["raw", "excess", "sector"]
LABEL_HORIZONS: tuple[int, ...] = (1, 5, 10, 20)  # the panel's label horizons (dataset.labels)
_SUFFIX: dict[str, str] = {"raw": "", "excess": "_excess", "sector": "_sector"}


def label_column(horizon: int, label: LabelKind = "raw") -> str:
    """The panel's label column for ``horizon`` trading days of kind ``label``."""
    return f"target_{horizon}d{_SUFFIX[label]}"


def pred_column(horizon: int) -> str:
    """The prediction column of ``horizon`` in predictions, bundles and the prediction store."""
    return f"pred_{horizon}d"


class TargetConfig(StrictModel):
    """The ``[target]`` section (see the module doc)."""

    horizons: list[int] = Field([1, 5, 10, 20], min_length=1)
    main_horizon: int = 5
    label: LabelKind = "raw"

    @model_validator(mode="after")
    def _consistent(self) -> TargetConfig:
        if len(set(self.horizons)) != len(self.horizons):
            raise ValueError(f"horizons {self.horizons} must be distinct")
        unknown = [h for h in self.horizons if h not in LABEL_HORIZONS]
        if unknown:
            raise ValueError(
                f"horizons {unknown} have no label in the panel (label horizons {LABEL_HORIZONS})"
            )
        if self.main_horizon not in self.horizons:
            raise ValueError(f"main_horizon {self.main_horizon} is not in horizons {self.horizons}")
        return self

    @property
    def sorted_horizons(self) -> list[int]:
        return sorted(self.horizons)

    def label_column(self, horizon: int) -> str:
        return label_column(horizon, self.label)

    @property
    def label_columns(self) -> list[str]:
        return [self.label_column(h) for h in self.sorted_horizons]

    @property
    def main_label(self) -> str:
        return self.label_column(self.main_horizon)

    @property
    def main_pred(self) -> str:
        return pred_column(self.main_horizon)
