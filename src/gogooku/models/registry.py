"""Neural model registry: ``build_model(model_cfg, n_features, horizons, static_cardinalities)``.

A builder takes the ``[model]`` config section, F (features per day after normalisation), the
label horizons (one output per horizon) and the categorical id ranges (``static_cardinalities[s]``
= largest id of static column s + 1), and returns a module whose ``forward(batch: DayBatch)``
returns a :class:`~gogooku.models.output.ModelOutput`. Builders are keyed by the config's
``kind``; ``register_model`` adds one (used by tests). APEX's registry builder needs its market
columns passed in; training builds it through ``gogooku.models.apex.apex_builder``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel
from torch import nn

from gogooku.errors import GogookuError
from gogooku.models.apex import build_apex
from gogooku.models.atft_gat_fan import build_atft

Builder = Callable[[BaseModel, int, Sequence[int], Sequence[int]], nn.Module]

_BUILDERS: dict[str, Builder] = {"atft": build_atft, "apex": build_apex}


class ModelRegistryError(GogookuError, ValueError):
    """No neural builder for the config's kind."""


def register_model(kind: str, builder: Builder) -> None:
    """Register (or replace) the builder of neural model ``kind``."""
    _BUILDERS[kind] = builder


def neural_kinds() -> list[str]:
    return sorted(_BUILDERS)


def build_model(
    model_cfg: BaseModel,
    n_features: int,
    horizons: Sequence[int],
    static_cardinalities: Sequence[int],
) -> nn.Module:
    """The neural model of ``model_cfg.kind`` for the given input and output sizes."""
    kind = getattr(model_cfg, "kind", None)
    if kind not in _BUILDERS:
        raise ModelRegistryError(
            f"model.kind {kind!r} is not a neural model; registered: {', '.join(neural_kinds())}"
        )
    return _BUILDERS[kind](model_cfg, n_features, list(horizons), list(static_cardinalities))
