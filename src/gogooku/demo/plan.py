"""What ``gogooku demo`` runs: the market size, the dataset period and the models.

Two sizes: the default (the whole story on a 2-core laptop in about four minutes) and ``--quick``
(the test suite's: fewer stocks, a shorter period, one epoch per neural model, one fit per model).
Every model is a walk-forward run over the last ``walkforward_folds`` folds (120 test days under
the demo's 20-day test blocks), re-fitted every ``refit_every`` folds.
Every model reads its shipped run config (``gogooku/configs/``) with the demo's data sections
(``DATA_CONFIG``, ``configs/demo_data.toml``: its ``[splits]`` fit the demo's year and a half of
trading days, where the run configs' own ``[data.splits]`` are for a ten-year dataset), the neural
epochs capped (``DemoPlan.neural_epochs``) and the synthetic market's seed, which also seeds the
models.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import Field

from gogooku.config import ConfigError, SplitConfig, StrictModel, _toml_scalar, load_config
from gogooku.models.registry import get_kind
from gogooku.train.config import RunConfig, load_run_config, with_data

DATASET = "demo"
RUN_PREFIX = "demo-"
DATA_CONFIG = "demo_data.toml"
"""The demo's data sections, in the configs folder: they replace each run config's ``[data]``
tables of the same names (``gogooku.train.config.with_data``)."""


class DemoModel(StrictModel):
    """One compared run: ``gogooku train --model KIND --config CONFIGS/CONFIG --run demo-NAME``."""

    name: str
    kind: str
    config: str


MODELS: tuple[DemoModel, ...] = (
    DemoModel(name="oracle", kind="factor", config="oracle.toml"),
    DemoModel(name="reversal", kind="factor", config="factor.toml"),
    DemoModel(name="ridge", kind="linear", config="linear.toml"),
    DemoModel(name="lgbm", kind="lgbm", config="lgbm.toml"),
    DemoModel(name="atft", kind="atft", config="atft.toml"),
    DemoModel(name="apex", kind="apex", config="apex.toml"),
    DemoModel(name="apex-pruned", kind="apex", config="apex_pruned.toml"),
)


class DemoPlan(StrictModel):
    """Sizes of one demo. The market is generated for ``start..end``; the dataset is built for
    ``build_start..end`` (the days before ``build_start`` are the features' warm-up)."""

    seed: int = 7
    stocks: int = Field(100, ge=20)
    market_version: int = Field(2, ge=1, le=2, description="synthetic market version")
    start: dt.date = dt.date(2019, 7, 1)
    build_start: dt.date = dt.date(2019, 10, 1)
    end: dt.date = dt.date(2021, 6, 30)
    neural_epochs: int = Field(2, ge=1)
    hpo_trials: int = Field(4, ge=1)
    walkforward_folds: int = Field(
        6, ge=1, description="the last N folds of the demo's splits: their test days are compared"
    )
    refit_every: int = Field(3, ge=1, description="consecutive folds predicted by one fit")


def demo_plan(quick: bool, seed: int, stocks: int | None, market_version: int = 2) -> DemoPlan:
    """The default or ``--quick`` plan; ``stocks`` (when given) overrides the size."""
    if quick:
        plan = DemoPlan(
            seed=seed,
            market_version=market_version,
            stocks=40,
            start=dt.date(2020, 1, 1),
            build_start=dt.date(2020, 3, 2),
            end=dt.date(2021, 6, 30),
            neural_epochs=1,
            hpo_trials=2,
            refit_every=6,
        )
    else:
        plan = DemoPlan(seed=seed, market_version=market_version)
    return plan if stocks is None else plan.model_copy(update={"stocks": stocks})


def data_config(configs_dir: Path) -> Path:
    """``CONFIGS/demo_data.toml``, the demo's data sections."""
    path = configs_dir / DATA_CONFIG
    if not path.is_file():
        raise ConfigError(f"{path}: demo data config missing (pass --configs DIR)")
    return path


def splits_override(configs_dir: Path) -> str:
    """``--set 'data.splits={...}'`` with the demo's splits, for the commands it suggests
    (``gogooku ablate``, ``gogooku hpo``) on its dataset."""
    split = load_config(data_config(configs_dir), SplitConfig, section="splits")
    items = split.model_dump(mode="python", exclude_defaults=True)
    table = ", ".join(f"{k} = {_toml_scalar(v)}" for k, v in items.items())
    return f"--set 'data.splits={{{table}}}'"


def run_config(model: DemoModel, plan: DemoPlan, configs_dir: Path) -> RunConfig:
    """``CONFIGS/<model.config>`` with the ``[data]`` tables of ``CONFIGS/demo_data.toml``, the
    plan's seed in the model and loop seeds and, for the neural kinds,
    ``[train] epochs = min(epochs, plan.neural_epochs)`` and no progress bar."""
    path = configs_dir / model.config
    if not path.is_file():
        raise ConfigError(f"{path}: demo run config missing (pass --configs DIR)")
    cfg = with_data(load_run_config(path), data_config(configs_dir))
    if cfg.model.kind != model.kind:
        raise ConfigError(
            f"{path}: [model] kind is {cfg.model.kind!r}, the demo expects {model.kind!r}"
        )
    updates: dict[str, object] = {}
    if "seed" in type(cfg.model).model_fields:
        updates["model"] = cfg.model.model_copy(update={"seed": plan.seed})
    if get_kind(model.kind).neural:
        epochs = min(cfg.train.epochs, plan.neural_epochs)
        updates["train"] = cfg.train.model_copy(
            update={"epochs": epochs, "seed": plan.seed, "progress": False}
        )
    return cfg.model_copy(update=updates)
