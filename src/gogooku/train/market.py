"""The :class:`~gogooku.train.loop.Trainer` of a market-guided network (APEX, MASTER).

:func:`market_trainer` builds the Trainer with the network's builder given M = the number of
raw market columns of ``market_blocks`` (``gogooku.models.market_inputs.market_columns``; none
when the network reads no market column) and wraps every loader of the trainer in
:class:`~gogooku.models.market_inputs.MarketColumns`, so each batch carries those M raw columns
after the normalised stock features. The stock features must be normalised (``normalize`` =
``"cached"`` or ``"batch"``): the market columns are the only raw inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from torch import nn

from gogooku.dataset.cache import DenseCache
from gogooku.dataset.splits import Fold
from gogooku.errors import GogookuError
from gogooku.models.market_inputs import MarketColumns, market_columns
from gogooku.train.config import RunConfig
from gogooku.train.loop import Trainer


class MarketInputError(GogookuError, ValueError):
    """The dataset or loader does not give a market-guided network its inputs."""


def market_trainer(
    run_cfg: RunConfig,
    cache: DenseCache,
    fold: Fold,
    run_dir: str | Path,
    blocks: Sequence[str],
    build: Callable[[int, list[int], list[int], int], nn.Module],
    error: type[GogookuError] = MarketInputError,
) -> Trainer:
    """The Trainer of ``run_cfg`` whose model is ``build(F, horizons, cardinalities, M)`` for
    the M cache columns of ``blocks`` (empty ``blocks``: M = 0) and whose loaders append them
    (module doc); ``error`` is raised, naming the key, when the inputs cannot be given."""
    name = run_cfg.model.kind
    if run_cfg.data.loader.normalize == "off":
        raise error(
            f"data.loader.normalize = 'off': {name} needs normalised stock features "
            "('cached' or 'batch'); the market columns are read raw from the cache"
        )
    columns = market_columns(cache, blocks) if blocks else np.array([], dtype=np.intp)
    if blocks and not len(columns):
        raise error(
            f"{cache.path}: none of model.market_blocks {list(blocks)} is in the dataset "
            f"(blocks {sorted(set(cache.feature_blocks))}); name others or set market_gate = false"
        )

    def builder(n_features: int, horizons: list[int], cards: list[int]) -> nn.Module:
        return build(n_features, horizons, cards, len(columns))

    trainer = Trainer(run_cfg, cache, fold, Path(run_dir), builder=builder)
    trainer.train_loader = MarketColumns(trainer.train_loader, cache, columns)
    trainer.eval_loaders = {
        k: MarketColumns(v, cache, columns) for k, v in trainer.eval_loaders.items()
    }
    return trainer
